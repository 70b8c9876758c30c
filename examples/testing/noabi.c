/* For the tests: a shared object without the preforkd_module descriptor. */
int not_a_module(void);
int not_a_module(void) { return 42; }
