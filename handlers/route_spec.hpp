#pragma once
// One [[route]] of the configuration, as the worker's route table builds it.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pfd::handlers {

// A route that serves the files below a directory (issue 13's static files).
struct file_route_settings {
    std::string root;                 // absolute path of the directory (resolved by the config)
    std::string index = "index.html"; // served for a directory's path; "" = none (404)
    std::string cache_control;        // Cache-Control value; "" = no such header
    bool follow_symlinks = false;     // false: no symlink is followed (403)
    bool precompressed = false;       // serve NAME.br / NAME.gz to clients that accept them
    bool allow_dotfiles = false;      // false: a path with a segment starting '.' is 404
};

class module_library;

struct route_spec {
    std::string path;          // exact match on the path part of the target ("" for a prefix route)
    std::string body;
    std::string content_type = "text/plain";
    std::string prefix;        // prefix match (a file route), e.g. "/static/"; "" for an exact route
    std::optional<file_route_settings> files;   // set: a file route (prefix, root, ...)
    std::shared_ptr<const module_library> module;   // set: a module answers (path or prefix)
    std::vector<std::pair<std::string, std::string>> settings;   // [route.settings], as text
    // Set: answered by the worker itself ("metrics", "livez" or "readyz"), exact path.
    std::string builtin;

    // An exact path answered with a fixed body.
    static route_spec fixed(std::string path, std::string body, std::string content_type) {
        route_spec r;
        r.path = std::move(path);
        r.body = std::move(body);
        r.content_type = std::move(content_type);
        return r;
    }
};

// [mime] of the configuration: extension (without the dot, lower case) -> media type.
using mime_overrides = std::vector<std::pair<std::string, std::string>>;

}  // namespace pfd::handlers
