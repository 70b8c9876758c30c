#pragma once
// [[route]] (exact routes and file routes) and [mime] of the configuration.
#include <toml++/toml.h>

#include "server/config.hpp"
#include "server/config_validator.hpp"

namespace pfd::server::config_parts {

// The `route` array: each entry an exact route (path, body, content_type) or a file
// route (prefix, root, index, ...), appended to cfg.worker.routes.
void read_routes(validator& v, const toml::node& routes, config& cfg);

// The [mime] table: extension -> media type, into cfg.worker.mime.
void read_mime(validator& v, const toml::table& mime, config& cfg);

}  // namespace pfd::server::config_parts
