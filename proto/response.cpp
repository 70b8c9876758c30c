#include "proto/response.hpp"

#include <cstring>

namespace pfd::proto {

std::string_view reason_phrase(int status) noexcept {
    // RFC 9110 15's phrases (and RFC 6585's 428, 429, 511); a status without one gets an
    // empty phrase, which RFC 9112 4 allows, rather than a misleading one.
    switch (status) {
        case 100: return "Continue";
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 203: return "Non-Authoritative Information";
        case 204: return "No Content";
        case 205: return "Reset Content";
        case 206: return "Partial Content";
        case 300: return "Multiple Choices";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 303: return "See Other";
        case 304: return "Not Modified";
        case 307: return "Temporary Redirect";
        case 308: return "Permanent Redirect";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 402: return "Payment Required";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 406: return "Not Acceptable";
        case 407: return "Proxy Authentication Required";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 410: return "Gone";
        case 411: return "Length Required";
        case 412: return "Precondition Failed";
        case 413: return "Content Too Large";
        case 414: return "URI Too Long";
        case 415: return "Unsupported Media Type";
        case 416: return "Range Not Satisfiable";
        case 417: return "Expectation Failed";
        case 421: return "Misdirected Request";
        case 422: return "Unprocessable Content";
        case 426: return "Upgrade Required";
        case 428: return "Precondition Required";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 451: return "Unavailable For Legal Reasons";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        case 505: return "HTTP Version Not Supported";
        case 511: return "Network Authentication Required";
        default: return "";
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
    // A 304 describes a 200 it does not send: a Content-Length of 0 would say the 200's
    // content is empty (RFC 9110 8.6), so an answer that cannot have content gets neither.
    if (content_rule_for(status) != content_rule::none) {
        if (!content_type.empty()) {
            after_date_.append("Content-Type: ").append(content_type).append("\r\n");
        }
        after_date_.append("Content-Length: ").append(std::to_string(body_.size())).append("\r\n");
    }
    after_date_.append(extra_headers);
    whole_fits_ = before_date_.size() + http_date_size + after_date_.size() + head_end(connection_header::none).size() +
                      body_.size() <= whole_limit;
}

std::string_view head_end(connection_header conn) noexcept {
    switch (conn) {
        case connection_header::none: break;
        case connection_header::keep_alive: return "Connection: keep-alive\r\n\r\n";
        case connection_header::close: return "Connection: close\r\n\r\n";
    }
    return "\r\n";
}

void prepared_response::write_pieces(byte_buffer& out, std::string_view date, connection_header conn,
                                     bool with_body) const {
    if (conn == connection_header::none && with_body && whole_fits_ && date.size() == http_date_size) {
        write_whole(date);   // the Date moved on: the whole answer is made again with it
        std::memcpy(out.grow(whole_.size()), whole_.data(), whole_.size());
        return;
    }
    const std::string_view tail = head_end(conn);
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

void prepared_response::write_whole(std::string_view date) const {
    whole_.assign(before_date_).append(date).append(after_date_).append(head_end(connection_header::none)).append(body_);
    std::memcpy(whole_date_.data(), date.data(), http_date_size);
}

void response_head::start(int status) {
    status_ = status;
    has_length_ = false;
    length_ = 0;
    fields_.clear();
}

void response_head::add(std::string_view name, std::string_view value) {
    fields_.append(name).append(": ").append(value).append("\r\n");
}

void response_head::add_content_length(std::uint64_t length) {
    has_length_ = true;
    length_ = length;
    add("Content-Length", std::to_string(length));
}

void response_head::write(byte_buffer& out, std::string_view date, connection_header conn) const {
    char status[4] = {static_cast<char>('0' + status_ / 100 % 10), static_cast<char>('0' + status_ / 10 % 10),
                      static_cast<char>('0' + status_ % 10), ' '};
    for (std::string_view part : {std::string_view{"HTTP/1.1 "}, std::string_view{status, 4}, reason_phrase(status_),
                                  std::string_view{"\r\nServer: "}, server_name, std::string_view{"\r\nDate: "}, date,
                                  std::string_view{"\r\n"}, std::string_view{fields_}, head_end(conn)}) {
        out.append(part);
    }
}

}  // namespace pfd::proto
