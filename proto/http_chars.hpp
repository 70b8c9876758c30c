#pragma once
// Character classes of RFC 9110 5.6, shared by the head parser and the chunked decoder.
#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace pfd::proto {

constexpr bool is_alnum(int c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// A byte-class table: letters, digits and the given punctuation.
constexpr std::array<bool, 256> alnum_and(std::string_view punctuation) noexcept {
    std::array<bool, 256> t{};
    for (int c = 0; c < 256; ++c) {
        t[static_cast<std::size_t>(c)] = is_alnum(c);
    }
    for (char c : punctuation) {
        t[static_cast<unsigned char>(c)] = true;
    }
    return t;
}

// Tables, not string searches: these run for every byte of every field name and Host.
inline constexpr auto tchar_table = alnum_and("!#$%&'*+-.^_`|~");
// RFC 3986 unreserved and sub-delims: a reg-name's bytes besides pct-encoding (an IP
// literal also takes ':').
inline constexpr auto reg_name_table = alnum_and("-._~!$&'()*+,;=");

constexpr bool is_tchar(char c) noexcept { return tchar_table[static_cast<unsigned char>(c)]; }

constexpr bool is_reg_name_char(char c) noexcept { return reg_name_table[static_cast<unsigned char>(c)]; }

constexpr bool is_hex(char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

constexpr unsigned hex_value(char c) noexcept {
    return c <= '9' ? static_cast<unsigned>(c - '0') : static_cast<unsigned>((c | 0x20) - 'a' + 10);
}

// The two uppercase hex digits of a byte (as percent-encoding writes them, RFC 3986 2.1).
constexpr std::array<char, 2> hex_digits(unsigned char b) noexcept {
    constexpr std::string_view digits = "0123456789ABCDEF";
    return {digits[b >> 4], digits[b & 0xF]};
}

// ASCII case-insensitive equality with `lower` (lowercase letters, digits and '-'), for
// text without control bytes besides HTAB (a field name, a field value read by the
// simple-head path): there, setting bit 0x20 maps exactly the two cases of a letter onto
// one another and leaves every other byte that could match alone. A word at a time, the
// last word overlapping the one before where the length is not a multiple of its size.
[[gnu::always_inline]] inline bool equals_lowercase(std::string_view text, std::string_view lower) noexcept {
    const std::size_t n = text.size();
    if (n != lower.size()) {
        return false;
    }
    const auto folds_to = [&]<class Word>(Word, std::size_t at) {
        Word a = 0;
        Word b = 0;
        std::memcpy(&a, text.data() + at, sizeof a);
        std::memcpy(&b, lower.data() + at, sizeof b);
        return static_cast<Word>(a | static_cast<Word>(0x2020202020202020ULL)) == b;
    };
    if (n >= 8) {
        for (std::size_t i = 0; i + 8 < n; i += 8) {
            if (!folds_to(std::uint64_t{}, i)) {
                return false;
            }
        }
        return folds_to(std::uint64_t{}, n - 8);
    }
    if (n >= 4) {
        return folds_to(std::uint32_t{}, 0) && folds_to(std::uint32_t{}, n - 4);
    }
    for (std::size_t i = 0; i < n; ++i) {
        if (static_cast<char>(text[i] | 0x20) != lower[i]) {
            return false;
        }
    }
    return true;
}

// BWS / OWS: SP or HTAB.
constexpr bool is_ws(char c) noexcept { return c == ' ' || c == '\t'; }

// Without OWS on either side (a field value, a list element).
[[gnu::always_inline]] constexpr std::string_view trim_ows(std::string_view v) noexcept {
    while (!v.empty() && is_ws(v.front())) {
        v.remove_prefix(1);
    }
    while (!v.empty() && is_ws(v.back())) {
        v.remove_suffix(1);
    }
    return v;
}

// field-vchar and the SP/HTAB allowed between them: anything but CTLs (HTAB excepted) and DEL.
constexpr bool is_field_byte(char c) noexcept {
    const auto u = static_cast<unsigned char>(c);
    return (u >= 0x20 && u != 0x7f) || u == '\t';
}

// qdtext (RFC 9110 5.6.4): HTAB, SP, VCHAR but '"' and '\', obs-text.
constexpr bool is_qdtext(char c) noexcept {
    return is_field_byte(c) && c != '"' && c != '\\';
}

}  // namespace pfd::proto
