#pragma once
// What the parts of the configuration parser share (config.cpp, config_routes.cpp): the
// validator that collects "file:line:col: ..." errors and warnings, and path resolution
// beside the file. Not for use outside them.
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>
#include <toml++/toml.h>

#include "server/config.hpp"
#include "server/config_values.hpp"

namespace pfd::server::config_parts {

// A value as messages show it.
inline std::string describe(const toml::node& n) {
    std::ostringstream os;
    switch (n.type()) {
        case toml::node_type::table: return "a table";
        case toml::node_type::array: return "an array";
        case toml::node_type::string: os << '"' << n.as_string()->get() << '"'; break;
        case toml::node_type::integer: os << n.as_integer()->get(); break;
        case toml::node_type::floating_point: os << n.as_floating_point()->get(); break;
        case toml::node_type::boolean: os << (n.as_boolean()->get() ? "true" : "false"); break;
        case toml::node_type::date:
        case toml::node_type::time:
        case toml::node_type::date_time: os << "a date/time"; break;
        case toml::node_type::none: os << "nothing"; break;
    }
    return os.str();
}

class validator {
public:
    explicit validator(std::string file) : file_{std::move(file)} {}

    void error(const toml::source_region& at, const std::string& msg) { errors_.push_back(where(at) + msg); }
    void warning(const toml::source_region& at, const std::string& msg) {
        warnings_.push_back(where(at) + "warning: " + msg);
    }
    // About the file as a whole (something it lacks has no line).
    void warning(const std::string& msg) { warnings_.push_back(file_ + ": warning: " + msg); }

    [[nodiscard]] const std::string& file() const noexcept { return file_; }

    // Reports keys of a table that are not among the known ones.
    void known_keys(const toml::table& t, std::string_view where, std::initializer_list<std::string_view> keys) {
        for (auto&& [k, v] : t) {
            bool known = false;
            for (auto name : keys) {
                known = known || k.str() == name;
            }
            if (!known) {
                std::string msg = "unknown key '" + std::string{k.str()} + "'";
                if (!where.empty()) {
                    msg += " in [" + std::string{where} + "]";
                }
                msg += "; expected one of:";
                for (auto name : keys) {
                    msg += " ";
                    msg += name;
                }
                error(k.source(), msg);
            }
        }
    }

    // An integer in [lo, hi], else an error naming the key and the bounds.
    template <class T>
    void integer(const toml::table& t, std::string_view key, std::string_view name, T& out, std::int64_t lo,
                 std::int64_t hi) {
        const toml::node* n = t.get(key);
        if (n == nullptr) {
            return;
        }
        const auto* v = n->as_integer();
        if (v == nullptr || v->get() < lo || v->get() > hi) {
            error(n->source(), std::string{name} + " must be an integer from " + std::to_string(lo) +
                                   " to " + std::to_string(hi) + ", got " + describe(*n));
            return;
        }
        out = static_cast<T>(v->get());
    }

    // A duration string ("10s", "500ms"); at least 1 ms.
    void duration(const toml::table& t, std::string_view key, std::string_view name,
                  std::chrono::milliseconds& out, std::chrono::milliseconds at_least = std::chrono::milliseconds{1}) {
        std::string text;
        const toml::node* n = string(t, key, name, text);
        if (n == nullptr) {
            return;
        }
        auto d = parse_duration(text);
        if (!d || *d < at_least) {
            const std::string why = !d                      ? d.error()
                                    : at_least.count() <= 1 ? std::string{"must be more than 0"}
                                                            : "must be at least " + std::to_string(at_least.count()) + "ms";
            error(n->source(), std::string{name} + ": " + why);
            return;
        }
        out = *d;
    }

    // A size: a whole number of bytes, or a string with a unit ("1MiB").
    void size(const toml::table& t, std::string_view key, std::string_view name, std::uint64_t& out) {
        const toml::node* n = t.get(key);
        if (n == nullptr) {
            return;
        }
        if (const auto* i = n->as_integer(); i != nullptr && i->get() >= 0) {
            out = static_cast<std::uint64_t>(i->get());
            return;
        }
        if (!n->is_string()) {
            error(n->source(), std::string{name} + " must be a size such as \"1MiB\" or a number of bytes, got " +
                                   describe(*n));
            return;
        }
        auto bytes = parse_size(n->as_string()->get());
        if (!bytes) {
            error(n->source(), std::string{name} + ": " + bytes.error());
            return;
        }
        out = *bytes;
    }

    // true or false, else an error naming the key.
    const toml::node* boolean(const toml::table& t, std::string_view key, std::string_view name, bool& out) {
        const toml::node* n = t.get(key);
        if (n == nullptr) {
            return nullptr;
        }
        if (!n->is_boolean()) {
            error(n->source(), std::string{name} + " must be true or false, got " + describe(*n));
            return nullptr;
        }
        out = n->as_boolean()->get();
        return n;
    }

    const toml::node* string(const toml::table& t, std::string_view key, std::string_view name,
                             std::string& out) {
        const toml::node* n = t.get(key);
        if (n == nullptr) {
            return nullptr;
        }
        if (!n->is_string()) {
            error(n->source(), std::string{name} + " must be a string, got " + describe(*n));
            return nullptr;
        }
        out = n->as_string()->get();
        return n;
    }

    const toml::table* table(const toml::table& root, std::string_view key) {
        const toml::node* n = root.get(key);
        if (n == nullptr) {
            return nullptr;
        }
        if (!n->is_table()) {
            std::string msg{key};
            msg.append(" must be a table ([").append(key).append("]), got ").append(describe(*n));
            error(n->source(), msg);
            return nullptr;
        }
        return n->as_table();
    }

    config_errors take() { return std::move(errors_); }
    std::vector<std::string> take_warnings() { return std::move(warnings_); }
    [[nodiscard]] bool ok() const noexcept { return errors_.empty(); }

private:
    std::string where(const toml::source_region& at) const {
        return file_ + ":" + std::to_string(at.begin.line) + ":" + std::to_string(at.begin.column) + ": ";
    }

    std::string file_;
    config_errors errors_;
    std::vector<std::string> warnings_;
};

// A relative path in the file names a file beside it, not one in whatever directory a
// command happens to run in. Made absolute ("." segments dropped, ".." kept: only the
// kernel knows what it means past a symlink); an absolute path is returned as written.
tl::expected<std::string, std::string> beside_config(const std::string& config_path, const std::string& path);

}  // namespace pfd::server::config_parts
