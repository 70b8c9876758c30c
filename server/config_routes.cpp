#include "server/config_routes.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "handlers/module_library.hpp"
#include "proto/http_chars.hpp"
#include "server/config_values.hpp"

namespace pfd::server::config_parts {

namespace {

constexpr std::array<std::string_view, 2> exact_keys{"body", "content_type"};
constexpr std::array<std::string_view, 6> file_keys{"root", "index", "cache_control", "follow_symlinks",
                                                    "precompressed", "allow_dotfiles"};

bool is_one_of(std::string_view key, std::span<const std::string_view> keys) {
    for (auto k : keys) {
        if (k == key) {
            return true;
        }
    }
    return false;
}

// Keys of the other kind of route, reported at the key: they would be silently ignored.
void misplaced_keys(validator& v, const toml::table& t, std::span<const std::string_view> keys,
                    std::string_view why) {
    for (auto&& [k, value] : t) {
        if (is_one_of(k.str(), keys)) {
            v.error(k.source(), "route." + std::string{k.str()} + " " + std::string{why});
        }
    }
}

// A header value on one line: no control characters but HTAB (RFC 9110 5.5).
bool is_field_value(std::string_view s) {
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\t') || u == 0x7f) {
            return false;
        }
    }
    return true;
}

// What is wrong with a media type (RFC 9110 8.3.1: type "/" subtype *( OWS ";" OWS
// parameter )), or "" if nothing.
std::string media_type_problem(std::string_view s) {
    if (!is_field_value(s)) {
        return "must be a single line without control characters";
    }
    auto token = [&s](std::size_t& i) {
        const std::size_t start = i;
        while (i < s.size() && proto::is_tchar(s[i])) {
            ++i;
        }
        return i > start;
    };
    const std::string expected = "is not a media type: expected \"type/subtype\", such as \"text/markdown\", "
                                 "optionally with parameters after ';'";
    std::size_t i = 0;
    if (!token(i) || i >= s.size() || s[i] != '/') {
        return expected;
    }
    ++i;
    if (!token(i)) {
        return expected;
    }
    while (true) {
        while (i < s.size() && proto::is_ws(s[i])) {
            ++i;
        }
        if (i == s.size()) {
            return "";
        }
        if (s[i] != ';') {
            return expected;
        }
        ++i;
        while (i < s.size() && proto::is_ws(s[i])) {
            ++i;
        }
        const std::size_t name_at = i;
        if (!token(i) || i >= s.size() || s[i] != '=') {
            return "has a parameter that is not name=value at byte " + std::to_string(name_at + 1);
        }
        ++i;
        if (i < s.size() && s[i] == '"') {
            for (++i; i < s.size() && s[i] != '"'; ++i) {
                if (s[i] == '\\') {
                    ++i;
                }
            }
            if (i >= s.size()) {
                return "has an unterminated quoted parameter value";
            }
            ++i;
        } else if (!token(i)) {
            return "has a parameter without a value at byte " + std::to_string(name_at + 1);
        }
    }
}

void read_exact_route(validator& v, const toml::table& t, const toml::node& path, std::set<std::string>& seen,
                      config& cfg) {
    handlers::route_spec r;
    if (v.string(t, "path", "route.path", r.path) == nullptr) {
        return;
    }
    if (r.path.empty() || r.path.front() != '/') {
        v.error(path.source(), "route.path must start with '/', got " + describe(path));
    } else if (const route_path_check check = check_route_path(r.path); !check.error.empty()) {
        v.error(path.source(), "route.path " + describe(path) + " can never match a request: " + check.error);
    } else if (!seen.insert(r.path).second) {
        v.error(path.source(), "route.path " + describe(path) + " is already used by an earlier route");
    } else if (!check.warning.empty()) {
        v.warning(path.source(), "route.path " + describe(path) + " " + check.warning);
    }
    misplaced_keys(v, t, file_keys,
                   "belongs to a file route (one with prefix and root); a route with a path answers with its body");
    v.string(t, "body", "route.body", r.body);
    if (const toml::node* ct = v.string(t, "content_type", "route.content_type", r.content_type)) {
        if (r.content_type.empty() || r.content_type.find_first_of("\r\n") != std::string::npos) {
            v.error(ct->source(), "route.content_type must be a non-empty single-line string");
        }
    }
    cfg.worker.routes.push_back(std::move(r));
}

// `builtin = "metrics" | "livez" | "readyz"` on an exact path: the worker answers it.
void read_builtin_route(validator& v, const toml::table& t, const toml::node& route, const toml::node& builtin,
                        std::set<std::string>& seen, config& cfg) {
    handlers::route_spec r;
    if (v.string(t, "builtin", "route.builtin", r.builtin) == nullptr) {
        return;
    }
    if (r.builtin != "metrics" && r.builtin != "livez" && r.builtin != "readyz") {
        v.error(builtin.source(), "route.builtin must be \"metrics\", \"livez\" or \"readyz\", got " + describe(builtin));
    }
    for (const char* key : {"body", "content_type", "prefix", "root", "index", "cache_control", "follow_symlinks",
                            "precompressed", "allow_dotfiles", "module", "settings"}) {
        if (const toml::node* n = t.get(key)) {
            v.error(n->source(), "route." + std::string{key} + " does not go with builtin: a builtin route has a path "
                                 "and nothing else");
        }
    }
    const toml::node* path = t.get("path");
    if (path == nullptr) {
        v.error(route.source(), "route.path is missing: a builtin route answers one exact path, such as \"/" +
                                    r.builtin + "\"");
        return;
    }
    if (v.string(t, "path", "route.path", r.path) == nullptr) {
        return;
    }
    if (r.path.empty() || r.path.front() != '/') {
        v.error(path->source(), "route.path must start with '/', got " + describe(*path));
    } else if (const route_path_check check = check_route_path(r.path); !check.error.empty()) {
        v.error(path->source(), "route.path " + describe(*path) + " can never match a request: " + check.error);
    } else if (!seen.insert(r.path).second) {
        v.error(path->source(), "route.path " + describe(*path) + " is already used by an earlier route");
    }
    cfg.worker.routes.push_back(std::move(r));
}

// root, as written, made absolute beside the file; it must be a directory now, so that a
// typo fails -t rather than turning every request into 404.
void read_root(validator& v, const toml::table& t, const toml::node& route, handlers::file_route_settings& f) {
    std::string written;
    const toml::node* n = v.string(t, "root", "route.root", written);
    if (n == nullptr) {
        if (t.get("root") == nullptr) {
            v.error(route.source(), "route.root is missing: a file route (prefix) needs the directory it serves, "
                                    "such as root = \"www\" (taken from the configuration file's directory)");
        }
        return;
    }
    if (written.empty() || written.find('\0') != std::string::npos) {
        v.error(n->source(), "route.root must be a directory's path, got " + describe(*n));
        return;
    }
    auto resolved = beside_config(v.file(), written);
    if (!resolved) {
        v.error(n->source(), "route.root " + describe(*n) + " is relative, and " + resolved.error());
        return;
    }
    const std::string shown = "route.root " + describe(*n) + (*resolved == written ? "" : " (" + *resolved + ")");
    struct stat st{};
    if (::stat(resolved->c_str(), &st) != 0) {
        v.error(n->source(), shown + ": " + std::strerror(errno));
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        v.error(n->source(), shown + ": " + std::strerror(ENOTDIR));
        return;
    }
    // Search permission is what serving needs: without it every file would be 403.
    if (::access(resolved->c_str(), X_OK) != 0) {
        v.error(n->source(), shown + ": " + std::strerror(errno));
        return;
    }
    f.root = std::move(*resolved);
}

void read_file_route(validator& v, const toml::table& t, const toml::node& route, const toml::node& prefix,
                     std::set<std::string>& seen, config& cfg) {
    handlers::route_spec r;
    handlers::file_route_settings f;
    misplaced_keys(v, t, exact_keys,
                   "belongs to a route with a path; a file route (prefix) answers with the files below its root");
    if (v.string(t, "prefix", "route.prefix", r.prefix) != nullptr) {
        if (r.prefix.empty() || r.prefix.front() != '/') {
            v.error(prefix.source(), "route.prefix must start with '/', got " + describe(prefix));
        } else if (r.prefix.back() != '/') {
            v.error(prefix.source(), "route.prefix must end with '/' (it names a directory, such as \"/static/\"), "
                                     "got " + describe(prefix));
        } else if (const route_path_check check = check_route_path(r.prefix); !check.error.empty()) {
            v.error(prefix.source(), "route.prefix " + describe(prefix) + " can never match a request: " + check.error);
        } else if (!seen.insert(r.prefix).second) {
            v.error(prefix.source(), "route.prefix " + describe(prefix) + " is already used by an earlier route");
        } else if (!check.warning.empty()) {
            v.warning(prefix.source(), "route.prefix " + describe(prefix) + " " + check.warning);
        }
    }
    read_root(v, t, route, f);
    if (const toml::node* n = v.string(t, "index", "route.index", f.index)) {
        if (f.index.find_first_of(std::string_view{"/\0", 2}) != std::string::npos || f.index == "." ||
            f.index == "..") {
            v.error(n->source(), "route.index must be a file name in the directory (no '/', not \".\" or \"..\"; "
                                 "\"\" for none), got " + describe(*n));
        }
    }
    if (const toml::node* n = v.string(t, "cache_control", "route.cache_control", f.cache_control)) {
        if (!is_field_value(f.cache_control)) {
            v.error(n->source(), "route.cache_control must be a single-line header value without control characters");
        }
    }
    v.boolean(t, "follow_symlinks", "route.follow_symlinks", f.follow_symlinks);
    v.boolean(t, "precompressed", "route.precompressed", f.precompressed);
    const toml::node* dotfiles = v.boolean(t, "allow_dotfiles", "route.allow_dotfiles", f.allow_dotfiles);
    if (!f.allow_dotfiles && !f.index.empty() && f.index.front() == '.' && f.index != "." && f.index != "..") {
        const toml::node* n = t.get("index");
        v.warning(n->source(), "route.index " + describe(*n) + " starts with '.', and dotfiles are 404 here " +
                                   (dotfiles == nullptr ? "(allow_dotfiles defaults to false)" : "(allow_dotfiles = false)") +
                                   ": a directory's index will never be served");
    }
    r.files = std::move(f);
    cfg.worker.routes.push_back(std::move(r));
}

// A route answered by a module: its path or prefix, the shared object (loaded now, so a
// module that cannot run fails -t and a reload), and [route.settings] as text.
void read_module_route(validator& v, const toml::table& t, const toml::node& route, std::set<std::string>& paths,
                       std::set<std::string>& prefixes, config& cfg) {
    handlers::route_spec r;
    misplaced_keys(v, t, exact_keys, "belongs to a route with a path and a body; a module route answers with its module");
    misplaced_keys(v, t, file_keys, "belongs to a file route; a module route answers with its module");
    const toml::node* path = t.get("path");
    const toml::node* prefix = t.get("prefix");
    if (path != nullptr && prefix != nullptr) {
        v.error(prefix->source(), "a [[route]] has a path (exact) or a prefix, not both");
    } else if (path != nullptr) {
        if (v.string(t, "path", "route.path", r.path) != nullptr) {
            if (r.path.empty() || r.path.front() != '/') {
                v.error(path->source(), "route.path must start with '/', got " + describe(*path));
            } else if (const route_path_check check = check_route_path(r.path); !check.error.empty()) {
                v.error(path->source(), "route.path " + describe(*path) + " can never match a request: " + check.error);
            } else if (!paths.insert(r.path).second) {
                v.error(path->source(), "route.path " + describe(*path) + " is already used by an earlier route");
            }
        }
    } else if (prefix != nullptr) {
        if (v.string(t, "prefix", "route.prefix", r.prefix) != nullptr) {
            if (r.prefix.empty() || r.prefix.front() != '/' || r.prefix.back() != '/') {
                v.error(prefix->source(), "route.prefix must start and end with '/', got " + describe(*prefix));
            } else if (const route_path_check check = check_route_path(r.prefix); !check.error.empty()) {
                v.error(prefix->source(), "route.prefix " + describe(*prefix) + " can never match a request: " + check.error);
            } else if (!prefixes.insert(r.prefix).second) {
                v.error(prefix->source(), "route.prefix " + describe(*prefix) + " is already used by an earlier route");
            }
        }
    } else {
        v.error(route.source(), "a module [[route]] needs a path (exact) or a prefix such as \"/app/\"");
    }
    std::string written;
    const toml::node* m = v.string(t, "module", "route.module", written);
    if (m == nullptr) {
        return;
    }
    auto resolved = beside_config(v.file(), written);
    if (written.empty() || !resolved) {
        v.error(m->source(), "route.module must be the path of a shared object, got " + describe(*m));
        return;
    }
    auto lib = handlers::module_library::load(*resolved);
    if (!lib) {
        v.error(m->source(), "module " + describe(*m) + (*resolved == written ? "" : " (" + *resolved + ")") + ": " +
                                 lib.error());
        return;
    }
    r.module = std::move(*lib);
    if (const toml::node* st = t.get("settings")) {
        const toml::table* table = st->as_table();
        if (table == nullptr) {
            v.error(st->source(), "route.settings must be a table ([route.settings]), got " + describe(*st));
        } else {
            for (auto&& [k, value] : *table) {
                if (const auto* text = value.as_string()) {
                    r.settings.emplace_back(std::string{k.str()}, text->get());
                } else if (const auto* i = value.as_integer()) {
                    r.settings.emplace_back(std::string{k.str()}, std::to_string(i->get()));
                } else if (const auto* b = value.as_boolean()) {
                    r.settings.emplace_back(std::string{k.str()}, b->get() ? "true" : "false");
                } else if (const auto* f = value.as_floating_point()) {
                    r.settings.emplace_back(std::string{k.str()}, std::to_string(f->get()));
                } else {
                    v.error(value.source(), "route.settings." + std::string{k.str()} +
                                                " must be a string, number or boolean, got " + describe(value));
                }
            }
        }
    }
    cfg.worker.routes.push_back(std::move(r));
}

// The extension as stored (lower case), or "" after reporting why it cannot be one.
std::string mime_extension(validator& v, const toml::key& k) {
    std::string ext{k.str()};
    if (!ext.empty() && ext.front() == '.') {
        ext.erase(0, 1);
        v.warning(k.source(), "[mime] key \"" + std::string{k.str()} + "\" is an extension without its dot: read as \"" +
                                  ext + "\"");
    }
    if (ext.empty()) {
        v.error(k.source(), "[mime] key \"" + std::string{k.str()} +
                                "\" is not an extension: write it without the dot, such as md = \"text/markdown\"");
        return {};
    }
    if (const auto dot = ext.rfind('.'); dot != std::string::npos) {
        v.error(k.source(), "[mime] key \"" + std::string{k.str()} +
                                "\" can never match: a file's type comes from its last extension alone (\"" +
                                ext.substr(dot + 1) + "\")");
        return {};
    }
    for (char& c : ext) {
        if (!proto::is_alnum(c) && c != '+' && c != '-') {
            v.error(k.source(), "[mime] key \"" + std::string{k.str()} +
                                    "\" is not an extension: only letters, digits, '+' and '-'");
            return {};
        }
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return ext;
}

}  // namespace

void read_routes(validator& v, const toml::node& n, config& cfg) {
    const toml::array* routes = n.as_array();
    if (routes == nullptr || (!routes->empty() && !routes->is_array_of_tables())) {
        v.error(n.source(), "'route' must be an array of tables ([[route]]), got " + describe(n));
        return;
    }
    std::set<std::string> paths;
    std::set<std::string> prefixes;
    for (const toml::node& item : *routes) {
        const toml::table& t = *item.as_table();
        v.known_keys(t, "route",
                     {"path", "body", "content_type", "prefix", "root", "index", "cache_control", "follow_symlinks",
                      "precompressed", "allow_dotfiles", "module", "settings", "builtin"});
        const toml::node* path = t.get("path");
        const toml::node* prefix = t.get("prefix");
        if (const toml::node* b = t.get("builtin")) {
            read_builtin_route(v, t, item, *b, paths, cfg);
        } else if (t.get("module") != nullptr) {
            read_module_route(v, t, item, paths, prefixes, cfg);
        } else if (t.get("settings") != nullptr) {
            v.error(t.get("settings")->source(), "route.settings belongs to a module route (one with module = ...)");
        } else if (path != nullptr && prefix != nullptr) {
            v.error(prefix->source(), "a [[route]] has a path (an exact route) or a prefix (a file route), not both");
        } else if (prefix != nullptr) {
            read_file_route(v, t, item, *prefix, prefixes, cfg);
        } else if (path != nullptr) {
            read_exact_route(v, t, *path, paths, cfg);
        } else {
            v.error(item.source(), "route.path is missing: every [[route]] needs a path such as \"/\" (answered with "
                                   "its body) or a prefix such as \"/static/\" with a root (files)");
        }
    }
}

void read_mime(validator& v, const toml::table& mime, config& cfg) {
    // In the order written (a table iterates sorted by key): a duplicate is reported at
    // the later one, as TOML reports its own.
    std::vector<std::pair<const toml::key*, const toml::node*>> entries;
    for (auto&& [k, value] : mime) {
        entries.emplace_back(&k, &value);
    }
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
        const auto& pa = a.first->source().begin;
        const auto& pb = b.first->source().begin;
        return pa.line != pb.line ? pa.line < pb.line : pa.column < pb.column;
    });
    std::map<std::string, std::string> seen;   // extension -> the key that set it
    for (const auto& [key, node] : entries) {
        const toml::key& k = *key;
        const toml::node& value = *node;
        std::string ext = mime_extension(v, k);
        const std::string name = "mime." + std::string{k.str()};
        if (!value.is_string()) {
            v.error(value.source(), name + " must be a media type string such as \"text/markdown\", got " +
                                        describe(value));
            continue;
        }
        const std::string type{proto::trim_ows(value.as_string()->get())};
        if (const std::string problem = media_type_problem(type); !problem.empty()) {
            v.error(value.source(), name + " " + describe(value) + " " + problem);
            continue;
        }
        if (ext.empty()) {
            continue;
        }
        if (auto [at, fresh] = seen.emplace(ext, std::string{k.str()}); !fresh) {
            v.error(k.source(), "[mime] key \"" + std::string{k.str()} + "\" sets extension \"" + ext +
                                    "\" again (as \"" + at->second + "\" did)");
            continue;
        }
        cfg.worker.mime.emplace_back(std::move(ext), type);
    }
}

}  // namespace pfd::server::config_parts
