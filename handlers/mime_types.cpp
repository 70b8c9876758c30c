#include "handlers/mime_types.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "proto/http_chars.hpp"

namespace pfd::handlers {

namespace {

struct builtin {
    std::string_view ext;
    std::string_view type;
};

// The types browsers and tools expect for what a web root usually holds (IANA
// registrations where there is one; the x- names that are what everyone sends otherwise).
constexpr std::array builtins{
    // text and documents
    builtin{"html", "text/html"},
    builtin{"htm", "text/html"},
    builtin{"shtml", "text/html"},
    builtin{"xhtml", "application/xhtml+xml"},
    builtin{"css", "text/css"},
    builtin{"js", "text/javascript"},
    builtin{"mjs", "text/javascript"},
    builtin{"cjs", "text/javascript"},
    builtin{"json", "application/json"},
    builtin{"map", "application/json"},
    builtin{"jsonld", "application/ld+json"},
    builtin{"webmanifest", "application/manifest+json"},
    builtin{"txt", "text/plain"},
    builtin{"text", "text/plain"},
    builtin{"log", "text/plain"},
    builtin{"xml", "application/xml"},
    builtin{"xsl", "application/xml"},
    builtin{"rss", "application/rss+xml"},
    builtin{"atom", "application/atom+xml"},
    builtin{"csv", "text/csv"},
    builtin{"tsv", "text/tab-separated-values"},
    builtin{"md", "text/markdown"},
    builtin{"markdown", "text/markdown"},
    builtin{"ics", "text/calendar"},
    builtin{"vtt", "text/vtt"},
    builtin{"yaml", "application/yaml"},
    builtin{"yml", "application/yaml"},
    builtin{"toml", "application/toml"},
    builtin{"pdf", "application/pdf"},
    builtin{"rtf", "application/rtf"},
    builtin{"ps", "application/postscript"},
    builtin{"eps", "application/postscript"},
    builtin{"epub", "application/epub+zip"},
    builtin{"doc", "application/msword"},
    builtin{"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    builtin{"xls", "application/vnd.ms-excel"},
    builtin{"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    builtin{"ppt", "application/vnd.ms-powerpoint"},
    builtin{"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
    builtin{"odt", "application/vnd.oasis.opendocument.text"},
    builtin{"ods", "application/vnd.oasis.opendocument.spreadsheet"},
    builtin{"odp", "application/vnd.oasis.opendocument.presentation"},
    // images
    builtin{"png", "image/png"},
    builtin{"apng", "image/apng"},
    builtin{"jpg", "image/jpeg"},
    builtin{"jpeg", "image/jpeg"},
    builtin{"jfif", "image/jpeg"},
    builtin{"gif", "image/gif"},
    builtin{"webp", "image/webp"},
    builtin{"avif", "image/avif"},
    builtin{"jxl", "image/jxl"},
    builtin{"heic", "image/heic"},
    builtin{"heif", "image/heif"},
    builtin{"svg", "image/svg+xml"},
    builtin{"ico", "image/x-icon"},
    builtin{"cur", "image/x-icon"},
    builtin{"bmp", "image/bmp"},
    builtin{"tif", "image/tiff"},
    builtin{"tiff", "image/tiff"},
    // fonts
    builtin{"woff", "font/woff"},
    builtin{"woff2", "font/woff2"},
    builtin{"ttf", "font/ttf"},
    builtin{"otf", "font/otf"},
    builtin{"eot", "application/vnd.ms-fontobject"},
    // audio and video
    builtin{"mp4", "video/mp4"},
    builtin{"m4v", "video/mp4"},
    builtin{"webm", "video/webm"},
    builtin{"ogv", "video/ogg"},
    builtin{"mov", "video/quicktime"},
    builtin{"mpeg", "video/mpeg"},
    builtin{"mpg", "video/mpeg"},
    builtin{"avi", "video/x-msvideo"},
    builtin{"mkv", "video/x-matroska"},
    builtin{"ts", "video/mp2t"},
    builtin{"m3u8", "application/vnd.apple.mpegurl"},
    builtin{"mpd", "application/dash+xml"},
    builtin{"mp3", "audio/mpeg"},
    builtin{"m4a", "audio/mp4"},
    builtin{"aac", "audio/aac"},
    builtin{"ogg", "audio/ogg"},
    builtin{"oga", "audio/ogg"},
    builtin{"opus", "audio/ogg"},
    builtin{"wav", "audio/wav"},
    builtin{"flac", "audio/flac"},
    builtin{"weba", "audio/webm"},
    builtin{"mid", "audio/midi"},
    builtin{"midi", "audio/midi"},
    // archives and binaries
    builtin{"zip", "application/zip"},
    builtin{"gz", "application/gzip"},
    builtin{"tgz", "application/gzip"},
    builtin{"br", "application/x-brotli"},
    builtin{"zst", "application/zstd"},
    builtin{"tar", "application/x-tar"},
    builtin{"bz2", "application/x-bzip2"},
    builtin{"xz", "application/x-xz"},
    builtin{"7z", "application/x-7z-compressed"},
    builtin{"rar", "application/vnd.rar"},
    builtin{"jar", "application/java-archive"},
    builtin{"wasm", "application/wasm"},
    builtin{"bin", "application/octet-stream"},
};

constexpr char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string_view s) {
    std::string out{s};
    std::transform(out.begin(), out.end(), out.begin(), lower);
    return out;
}

bool iequal(std::string_view a, std::string_view lower_b) noexcept {
    if (a.size() != lower_b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower_b[i]) {
            return false;
        }
    }
    return true;
}

// FNV-1a over the lower-cased bytes: the lookup need not copy the extension to fold it.
std::uint32_t hash(std::string_view s) noexcept {
    std::uint32_t h = 2166136261U;
    for (const char c : s) {
        h ^= static_cast<unsigned char>(lower(c));
        h *= 16777619U;
    }
    return h;
}

bool ends_with(std::string_view s, std::string_view tail) noexcept {
    return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

}  // namespace

std::string mime_types::with_charset(std::string_view type) {
    const auto semi = type.find(';');
    const std::string essence = lowered(proto::trim_ows(type.substr(0, semi)));
    const bool textual = essence.rfind("text/", 0) == 0 || essence == "application/javascript" ||
                         essence == "application/json" || essence == "application/xml" ||
                         ends_with(essence, "+xml") || ends_with(essence, "+json");
    std::string out{type};
    if (!textual || (semi != std::string_view::npos && lowered(type.substr(semi)).find("charset=") != std::string::npos)) {
        return out;
    }
    out += "; charset=utf-8";
    return out;
}

mime_types::mime_types(const mime_overrides& overrides) {
    entries_.reserve(builtins.size() + overrides.size());
    for (const auto& b : builtins) {
        entries_.push_back({std::string{b.ext}, with_charset(b.type)});
    }
    for (const auto& [ext, type] : overrides) {
        set(ext, type);
    }
    rebuild_index();
}

void mime_types::set(std::string_view ext, std::string_view type) {
    if (ext.empty()) {
        return;
    }
    std::string key = lowered(ext);
    for (auto& e : entries_) {
        if (e.ext == key) {
            e.content_type = with_charset(type);
            return;
        }
    }
    entries_.push_back({std::move(key), with_charset(type)});
}

void mime_types::rebuild_index() {
    std::size_t n = 64;
    while (n < entries_.size() * 2) {
        n *= 2;
    }
    slots_.assign(n, 0);
    const std::size_t mask = n - 1;
    for (std::size_t i = 0; i < entries_.size(); ++i) {
        std::size_t at = hash(entries_[i].ext) & mask;
        while (slots_[at] != 0) {
            at = (at + 1) & mask;
        }
        slots_[at] = static_cast<std::uint32_t>(i + 1);
    }
}

const mime_types::entry* mime_types::find(std::string_view ext) const noexcept {
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t at = hash(ext) & mask; slots_[at] != 0; at = (at + 1) & mask) {
        const entry& e = entries_[slots_[at] - 1];
        if (iequal(ext, e.ext)) {
            return &e;
        }
    }
    return nullptr;
}

std::string_view mime_types::for_extension(std::string_view ext) const noexcept {
    if (ext.empty()) {
        return fallback;
    }
    const entry* e = find(ext);
    return e != nullptr ? std::string_view{e->content_type} : fallback;
}

std::string_view mime_types::content_type(std::string_view file_name) const noexcept {
    const auto slash = file_name.rfind('/');
    const std::string_view base = slash == std::string_view::npos ? file_name : file_name.substr(slash + 1);
    const auto dot = base.rfind('.');
    // A leading dot marks a hidden file, not an extension: ".env" has none.
    if (dot == std::string_view::npos || dot == 0) {
        return fallback;
    }
    return for_extension(base.substr(dot + 1));
}

}  // namespace pfd::handlers
