#include "proto/response.hpp"

#include <cstring>

namespace pfd::proto {

std::string_view reason_phrase(int status) noexcept {
    switch (status) {
        case 100: return "Continue";
        case 200: return "OK";
        case 204: return "No Content";
        case 304: return "Not Modified";
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 413: return "Content Too Large";
        case 414: return "URI Too Long";
        case 417: return "Expectation Failed";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 503: return "Service Unavailable";
        case 505: return "HTTP Version Not Supported";
        default: return "Unknown";
    }
}

prepared_response::prepared_response(int status, std::string_view content_type, std::string body,
                                     std::string_view extra_headers)
    : status_{status}, body_{std::move(body)} {
    before_date_.append("HTTP/1.1 ")
        .append(std::to_string(status))
        .append(" ")
        .append(reason_phrase(status))
        .append("\r\nServer: ")
        .append(server_name)
        .append("\r\nDate: ");
    after_date_.append("\r\n");
    if (!content_type.empty()) {
        after_date_.append("Content-Type: ").append(content_type).append("\r\n");
    }
    after_date_.append("Content-Length: ").append(std::to_string(body_.size())).append("\r\n");
    after_date_.append(extra_headers);
}

void prepared_response::write(byte_buffer& out, std::string_view date, connection_header conn,
                              bool with_body) const {
    static constexpr std::string_view keep_alive = "Connection: keep-alive\r\n\r\n";
    static constexpr std::string_view close = "Connection: close\r\n\r\n";
    static constexpr std::string_view end = "\r\n";
    std::string_view tail = end;
    switch (conn) {
        case connection_header::none: break;
        case connection_header::keep_alive: tail = keep_alive; break;
        case connection_header::close: tail = close; break;
    }
    const std::string_view body = with_body ? std::string_view{body_} : std::string_view{};
    const std::size_t total =
        before_date_.size() + date.size() + after_date_.size() + tail.size() + body.size();
    char* p = out.grow(total);
    for (std::string_view part : {std::string_view{before_date_}, date, std::string_view{after_date_}, tail, body}) {
        if (!part.empty()) {   // an empty view may carry a null pointer: not for memcpy
            std::memcpy(p, part.data(), part.size());
            p += part.size();
        }
    }
}

}  // namespace pfd::proto
