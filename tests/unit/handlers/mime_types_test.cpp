#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "handlers/mime_types.hpp"

using namespace pfd::handlers;

TEST_CASE("common extensions get their types, text ones with charset=utf-8", "[mime]") {
    const mime_types m;
    CHECK(m.content_type("index.html") == "text/html; charset=utf-8");
    CHECK(m.content_type("a.htm") == "text/html; charset=utf-8");
    CHECK(m.content_type("style.css") == "text/css; charset=utf-8");
    CHECK(m.content_type("app.js") == "text/javascript; charset=utf-8");
    CHECK(m.content_type("mod.mjs") == "text/javascript; charset=utf-8");
    CHECK(m.content_type("data.json") == "application/json; charset=utf-8");
    CHECK(m.content_type("app.js.map") == "application/json; charset=utf-8");
    CHECK(m.content_type("notes.txt") == "text/plain; charset=utf-8");
    CHECK(m.content_type("feed.xml") == "application/xml; charset=utf-8");
    CHECK(m.content_type("logo.svg") == "image/svg+xml; charset=utf-8");
    CHECK(m.content_type("table.csv") == "text/csv; charset=utf-8");
    CHECK(m.content_type("README.md") == "text/markdown; charset=utf-8");
    CHECK(m.content_type("x.png") == "image/png");
    CHECK(m.content_type("x.jpg") == "image/jpeg");
    CHECK(m.content_type("x.jpeg") == "image/jpeg");
    CHECK(m.content_type("x.gif") == "image/gif");
    CHECK(m.content_type("x.webp") == "image/webp");
    CHECK(m.content_type("x.avif") == "image/avif");
    CHECK(m.content_type("favicon.ico") == "image/x-icon");
    CHECK(m.content_type("f.woff") == "font/woff");
    CHECK(m.content_type("f.woff2") == "font/woff2");
    CHECK(m.content_type("f.ttf") == "font/ttf");
    CHECK(m.content_type("f.otf") == "font/otf");
    CHECK(m.content_type("doc.pdf") == "application/pdf");
    CHECK(m.content_type("mod.wasm") == "application/wasm");
    CHECK(m.content_type("v.mp4") == "video/mp4");
    CHECK(m.content_type("v.webm") == "video/webm");
    CHECK(m.content_type("a.mp3") == "audio/mpeg");
    CHECK(m.content_type("a.ogg") == "audio/ogg");
    CHECK(m.content_type("a.wav") == "audio/wav");
    CHECK(m.content_type("z.zip") == "application/zip");
    CHECK(m.content_type("z.tar.gz") == "application/gzip");
    CHECK(m.content_type("z.br") == "application/x-brotli");
    CHECK(m.content_type("z.tar") == "application/x-tar");
    // Binary types carry no charset, even with a +zip suffix.
    CHECK(m.content_type("book.epub") == "application/epub+zip");
    // Other XML and JSON types are text too.
    CHECK(m.content_type("feed.atom") == "application/atom+xml; charset=utf-8");
    CHECK(m.content_type("site.webmanifest") == "application/manifest+json; charset=utf-8");
}

TEST_CASE("the lookup ignores case and takes the last extension of the last segment", "[mime]") {
    const mime_types m;
    CHECK(m.content_type("INDEX.HTML") == "text/html; charset=utf-8");
    CHECK(m.content_type("Photo.JpG") == "image/jpeg");
    CHECK(m.content_type("/static/css/site.min.css") == "text/css; charset=utf-8");
    CHECK(m.content_type("archive.html.zip") == "application/zip");
    // A dot in a directory name is no extension of the file.
    CHECK(m.content_type("/conf.d/README") == mime_types::fallback);
    CHECK(m.content_type("v1.2/LICENSE") == mime_types::fallback);
    CHECK(m.for_extension("CSS") == "text/css; charset=utf-8");
}

TEST_CASE("no extension, a hidden file's name or an unknown extension is application/octet-stream", "[mime]") {
    const mime_types m;
    CHECK(mime_types::fallback == "application/octet-stream");
    CHECK(m.content_type("") == mime_types::fallback);
    CHECK(m.content_type("Makefile") == mime_types::fallback);
    CHECK(m.content_type("file.") == mime_types::fallback);
    CHECK(m.content_type(".html") == mime_types::fallback);
    CHECK(m.content_type("dir/.css") == mime_types::fallback);
    CHECK(m.content_type("x.nosuchtype") == mime_types::fallback);
    CHECK(m.content_type("x.htmlx") == mime_types::fallback);
    CHECK(m.content_type("x.ht") == mime_types::fallback);
    CHECK(m.content_type("dir/") == mime_types::fallback);
    CHECK(m.for_extension("") == mime_types::fallback);
    // A NUL inside is just another byte: it names no known extension.
    CHECK(m.content_type(std::string_view{"x.css\0", 6}) == mime_types::fallback);
}

TEST_CASE("[mime] overrides replace built-in types and add new extensions", "[mime]") {
    const mime_overrides o{
        {"md", "text/x-markdown"},
        {"js", "application/javascript"},
        {"gmi", "text/gemini"},
        {"data", "application/x-custom"},
        {"geojson", "application/geo+json"},
        {"latin", "text/plain; charset=iso-8859-1"},
        {"Upper", "image/x-upper"},
        {"wat", "application/json;CHARSET=utf-16"},
    };
    const mime_types m{o};
    CHECK(m.content_type("README.md") == "text/x-markdown; charset=utf-8");
    CHECK(m.content_type("app.js") == "application/javascript; charset=utf-8");
    CHECK(m.content_type("page.GMI") == "text/gemini; charset=utf-8");
    CHECK(m.content_type("blob.data") == "application/x-custom");
    CHECK(m.content_type("map.geojson") == "application/geo+json; charset=utf-8");
    // A charset that is written is kept, in any case.
    CHECK(m.content_type("old.latin") == "text/plain; charset=iso-8859-1");
    CHECK(m.content_type("x.wat") == "application/json;CHARSET=utf-16");
    CHECK(m.content_type("x.upper") == "image/x-upper");
    // What was not overridden is untouched.
    CHECK(m.content_type("style.css") == "text/css; charset=utf-8");
    CHECK(m.size() == mime_types{}.size() + 6);
}

TEST_CASE("a later override of the same extension wins", "[mime]") {
    const mime_types m{mime_overrides{{"css", "text/x-a"}, {"CSS", "text/x-b"}}};
    CHECK(m.content_type("a.css") == "text/x-b; charset=utf-8");
}

TEST_CASE("many overrides grow the index: every one is still found", "[mime]") {
    mime_overrides o;
    for (int i = 0; i < 500; ++i) {
        o.emplace_back("x" + std::to_string(i), "application/x-n" + std::to_string(i));
    }
    const mime_types m{o};
    for (int i = 0; i < 500; ++i) {
        REQUIRE(m.content_type("f.X" + std::to_string(i)) == "application/x-n" + std::to_string(i));
    }
    CHECK(m.content_type("f.x500") == mime_types::fallback);
    CHECK(m.content_type("f.png") == "image/png");
}

TEST_CASE("the returned view points into the table, stable across lookups", "[mime]") {
    const mime_types m;
    const std::string_view a = m.content_type("a.css");
    const std::string_view b = m.content_type("B.CSS");
    CHECK(a.data() == b.data());
    // Overrides are copied in: the view outlives the strings they were built from.
    std::string ext = "gmi";
    std::string type = "text/gemini";
    const mime_types own{mime_overrides{{ext, type}}};
    ext.assign(40, 'x');
    type.assign(40, 'y');
    CHECK(own.content_type("a.gmi") == "text/gemini; charset=utf-8");
}

TEST_CASE("with_charset adds utf-8 only to textual types without a charset", "[mime]") {
    CHECK(mime_types::with_charset("text/plain") == "text/plain; charset=utf-8");
    CHECK(mime_types::with_charset("TEXT/HTML") == "TEXT/HTML; charset=utf-8");
    CHECK(mime_types::with_charset("text/html; level=1") == "text/html; level=1; charset=utf-8");
    CHECK(mime_types::with_charset("text/html; charset=utf-8") == "text/html; charset=utf-8");
    CHECK(mime_types::with_charset("application/javascript") == "application/javascript; charset=utf-8");
    CHECK(mime_types::with_charset("application/json") == "application/json; charset=utf-8");
    CHECK(mime_types::with_charset("application/xml") == "application/xml; charset=utf-8");
    CHECK(mime_types::with_charset("image/svg+xml") == "image/svg+xml; charset=utf-8");
    CHECK(mime_types::with_charset("image/png") == "image/png");
    CHECK(mime_types::with_charset("application/octet-stream") == "application/octet-stream");
    CHECK(mime_types::with_charset("application/jsonx") == "application/jsonx");
    CHECK(mime_types::with_charset("application/epub+zip") == "application/epub+zip");
}
