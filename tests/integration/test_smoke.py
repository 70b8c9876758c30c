import urllib.request


def test_get_root_says_hello_word(server):
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=5) as r:
        assert r.status == 200
        assert r.read() == b"hello word"
        assert r.headers["Content-Type"] == "text/plain"
        assert r.headers["Server"] == "preforkd"
