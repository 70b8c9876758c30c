// libFuzzer target: any bytes, split into reads at fuzzer-chosen points, must never
// crash the parser, leak, or produce a head whose views fall outside live memory.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "proto/request_parser.hpp"

namespace {

struct touching_sink final : pfd::proto::request_sink {
    std::size_t bytes_seen = 0;
    void on_request_head(const pfd::proto::request_head& h) noexcept override {
        // Reading every view lets ASan catch one that points at freed or recycled memory.
        auto touch = [this](std::string_view v) {
            for (char c : v) {
                bytes_seen += static_cast<unsigned char>(c) & 1U;
            }
        };
        touch(h.method_name);
        touch(h.target);
        touch(h.path);
        for (std::size_t i = 0; i < h.header_count; ++i) {
            touch(h.headers[i].name);
            touch(h.headers[i].value);
        }
    }
    void on_request_complete() noexcept override {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) {
        return 0;
    }
    // First byte: the read size (1..256), so heads straddle reads in every way.
    const std::size_t read_size = static_cast<std::size_t>(data[0]) + 1;
    ++data;
    --size;

    pfd::proto::parser_limits limits;
    limits.max_request_line = 512;
    limits.max_header_bytes = 2048;
    limits.max_headers = 20;
    limits.max_body_bytes = 4096;
    touching_sink sink;
    pfd::proto::request_parser parser{sink, limits};
    std::vector<char> read_buffer;
    for (std::size_t off = 0; off < size; off += read_size) {
        const std::size_t n = size - off < read_size ? size - off : read_size;
        read_buffer.assign(data + off, data + off + n);
        const auto st = parser.feed({read_buffer.data(), n});
        // A recycled receive buffer: later reads must not see these bytes through old views.
        std::memset(read_buffer.data(), '#', n);
        if (st != pfd::proto::parse_status::need_more) {
            break;
        }
    }
    return 0;
}
