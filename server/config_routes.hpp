#pragma once
// [[route]] (exact routes and file routes) and [mime] of the configuration.
#include <toml++/toml.h>

#include "server/config.hpp"
#include "server/config_validator.hpp"

namespace pfd::server::config_parts {

// [log], [metrics], and [server]'s operational keys (user, group, rlimit_nofile,
// cpu_affinity, shutdown_delay): server/config_ops.cpp.
void read_log(validator& v, const toml::table& t, config& cfg);
void read_metrics(validator& v, const toml::table& t, config& cfg);
void read_server_operations(validator& v, const toml::table& t, config& cfg);

// The `route` array: each entry an exact route (path, body, content_type) or a file
// route (prefix, root, index, ...), appended to cfg.worker.routes.
void read_routes(validator& v, const toml::node& routes, config& cfg);

// The [mime] table: extension -> media type, into cfg.worker.mime.
void read_mime(validator& v, const toml::table& mime, config& cfg);

}  // namespace pfd::server::config_parts
