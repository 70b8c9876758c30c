#include "server/runtime_files.hpp"
