#include "server/control_clients.hpp"
