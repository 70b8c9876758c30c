// libFuzzer target: any bytes, split into reads at fuzzer-chosen points, must never
// crash the parser, leak, or produce a head whose views fall outside live memory; and
// what is accepted must not depend on the split: the same requests, the same body bytes
// for each (de-chunked: chunk data only), and the same end (need more, closed, error), as
// in one read of everything. Body bytes come only between a head and its completion. Which error status is not
// compared: llhttp hands a token over at the end of each read, so when a head has two
// faults (too many fields, then a bad byte in the next name) the one noticed first may
// depend on where the reads end; either way the request is refused. And the simple-head
// fast path must agree with llhttp's path on every head, field and error.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proto/request_parser.hpp"

namespace {

struct touching_sink final : pfd::proto::request_sink {
    std::size_t bytes_seen = 0;
    std::size_t heads = 0;
    std::size_t completions = 0;
    std::vector<std::string> bodies;   // one per head
    std::vector<std::string> digests;  // one per head: every field of it
    bool in_request = false;
    void on_request_head(const pfd::proto::request_head& h) noexcept override {
        // Reading every view lets ASan catch one that points at freed or recycled memory.
        auto touch = [this](std::string_view v) {
            for (char c : v) {
                bytes_seen += static_cast<unsigned char>(c) & 1U;
            }
        };
        ++heads;
        std::string d;
        d.append(h.method_name).append(" ").append(h.target).append(" ").append(h.path);
        d += static_cast<char>('0' + static_cast<int>(h.method));
        d += static_cast<char>('0' + static_cast<int>(h.form));
        d += static_cast<char>('0' + h.version_minor);
        d += h.keep_alive ? 'k' : '-';
        d += h.has_body ? 'b' : '-';
        d += h.expect_continue ? 'e' : '-';
        for (std::size_t i = 0; i < h.header_count; ++i) {
            d.append("\n").append(h.headers[i].name).append(":").append(h.headers[i].value);
        }
        digests.push_back(std::move(d));
        touch(h.method_name);
        touch(h.target);
        touch(h.path);
        for (std::size_t i = 0; i < h.header_count; ++i) {
            touch(h.headers[i].name);
            touch(h.headers[i].value);
        }
        bodies.emplace_back();
        in_request = true;
    }
    void on_request_body(std::span<const char> bytes) noexcept override {
        if (!in_request || bytes.empty()) {
            std::fprintf(stderr, "body bytes outside a request, or an empty piece (%zu bytes)\n", bytes.size());
            std::abort();
        }
        // Copying reads every byte, so ASan catches a piece outside live memory.
        bodies.back().append(bytes.data(), bytes.size());
    }
    void on_request_complete() noexcept override {
        ++completions;
        in_request = false;
    }
};

struct outcome {
    pfd::proto::parse_status status = pfd::proto::parse_status::need_more;
    std::size_t heads = 0;
    std::size_t completions = 0;
    std::vector<std::string> bodies;
    std::vector<std::string> digests;
    int error_status = 0;   // not compared across splits (see above)
    bool operator==(const outcome& o) const {
        return status == o.status && heads == o.heads && completions == o.completions && bodies == o.bodies &&
               digests == o.digests;
    }
};

pfd::proto::parser_limits fuzz_limits() {
    pfd::proto::parser_limits limits;
    limits.max_request_line = 512;
    limits.max_header_bytes = 2048;
    limits.max_headers = 20;
    limits.max_body_bytes = 4096;
    return limits;
}

outcome run(const std::uint8_t* data, std::size_t size, std::size_t read_size, bool simple_heads = true) {
    touching_sink sink;
    pfd::proto::request_parser parser{sink, fuzz_limits()};
    parser.use_simple_heads(simple_heads);
    std::vector<char> read_buffer;
    outcome o;
    for (std::size_t off = 0; off < size; off += read_size) {
        const std::size_t n = size - off < read_size ? size - off : read_size;
        read_buffer.assign(data + off, data + off + n);
        o.status = parser.feed({read_buffer.data(), n});
        // Reads the head's views as an error answer would (not compared: whether a refused
        // head had got as far as "HEAD /" may depend on the split).
        sink.bytes_seen += parser.request_is_head() ? 1 : 0;
        // A recycled receive buffer: later reads must not see these bytes through old views.
        std::memset(read_buffer.data(), '#', n);
        if (o.status != pfd::proto::parse_status::need_more) {
            break;
        }
    }
    o.heads = sink.heads;
    o.completions = sink.completions;
    o.bodies = std::move(sink.bodies);
    o.digests = std::move(sink.digests);
    o.error_status = parser.error_status();
    return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) {
        return 0;
    }
    // First byte: the read size (1..256), so heads straddle reads in every way.
    const std::size_t read_size = static_cast<std::size_t>(data[0]) + 1;
    ++data;
    --size;

    const outcome split = run(data, size, read_size);
    const outcome whole = run(data, size, size == 0 ? 1 : size);
    if (!(split == whole)) {
        std::size_t differing_body = split.bodies.size();
        for (std::size_t i = 0; i < split.bodies.size() && i < whole.bodies.size(); ++i) {
            if (split.bodies[i] != whole.bodies[i]) {
                differing_body = i;
                break;
            }
        }
        std::fprintf(stderr, "outcome depends on the split (reads of %zu / one read): status %d/%d, heads %zu/%zu, "
                             "completions %zu/%zu, first differing body: request %zu\n", read_size,
                     static_cast<int>(split.status), static_cast<int>(whole.status), split.heads, whole.heads,
                     split.completions, whole.completions, differing_body);
        std::abort();
    }
    // The simple-head fast path only takes heads it reads as llhttp's path does: the same
    // bytes in one read with every head left to llhttp give the same heads, fields, ends
    // and error status.
    const outcome by_llhttp = run(data, size, size == 0 ? 1 : size, false);
    if (!(by_llhttp == whole) || by_llhttp.error_status != whole.error_status) {
        std::fprintf(stderr, "the fast path and llhttp disagree: status %d/%d, error %d/%d, heads %zu/%zu, "
                             "completions %zu/%zu\n", static_cast<int>(whole.status),
                     static_cast<int>(by_llhttp.status), whole.error_status, by_llhttp.error_status, whole.heads,
                     by_llhttp.heads, whole.completions, by_llhttp.completions);
        std::abort();
    }
    return 0;
}
