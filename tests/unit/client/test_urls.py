"""URL handling, quoting and metadata headers (sans-IO)."""

from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oiofs.client.errors import ConfigurationError
from oiofs.client.urls import (
    StorageURL,
    metadata_headers,
    metadata_of,
    query_string,
    quote_path,
)


def test_storage_url_parse():
    url = StorageURL.parse("http://127.0.0.1:8080/v1/AUTH_test/")
    assert (url.host, url.port, url.path) == ("127.0.0.1", 8080, "/v1/AUTH_test")
    assert url.url("/v1/x") == "http://127.0.0.1:8080/v1/x"
    assert StorageURL.parse("http://localhost/v1/a").port == 80


@pytest.mark.parametrize("bad", ["https://127.0.0.1/v1/a", "ftp://h/x", "http:///v1/a",
                                 "http://h:99999/v1"])
def test_unsupported_urls_refused(bad):
    with pytest.raises(ConfigurationError):
        StorageURL.parse(bad)


def test_quote_path():
    assert quote_path("/v1/A", "c d", "a/b é?#") == "/v1/A/c%20d/a/b%20%C3%A9%3F%23"
    assert quote_path("/v1/A", "a/b") == "/v1/A/a%2Fb"  # a container never spans segments
    assert quote_path("/v1/A") == "/v1/A"
    with pytest.raises(ValueError):
        quote_path("/v1/A", None, "o")
    with pytest.raises(ValueError):
        quote_path("/v1/A", "")


@given(st.text(min_size=1).filter(lambda s: "\x00" not in s),
       st.text(min_size=1).filter(lambda s: "\x00" not in s))
def test_quoted_names_round_trip(container, obj):
    path = quote_path("/v1/A", container, obj)
    assert all(ord(c) < 128 and c not in " ?#" for c in path)
    _, _, _, qc, qo = path.split("/", 4)
    assert unquote(qc, errors="surrogatepass") == container
    assert unquote(qo, errors="surrogatepass") == obj


def test_query_string():
    assert query_string(None) == ""
    assert query_string({"limit": 2, "marker": "a b/é", "prefix": None, "reverse": False}) \
        == "?limit=2&marker=a%20b%2F%C3%A9"
    assert query_string({"reverse": True, "multipart-manifest": "put"}) \
        == "?reverse=true&multipart-manifest=put"
    assert query_string({"marker": ""}) == "?marker="


def test_metadata_headers():
    assert metadata_headers("object", {"Color": "blue", "n": 3}) == {
        "X-Object-Meta-Color": "blue", "X-Object-Meta-n": "3"}
    assert metadata_headers("container", None, remove=("old",)) == {
        "X-Remove-Container-Meta-old": "x"}
    with pytest.raises(ValueError):
        metadata_headers("object", {}, remove=("x",))
    with pytest.raises(ValueError):
        metadata_headers("object", {"a:b": "x"})
    with pytest.raises(ValueError):
        metadata_headers("account", {"a": "x\r\nX-Evil: 1"})
    with pytest.raises(ValueError):
        metadata_headers("bucket", {"a": "b"})


def test_metadata_of():
    headers = {"x-object-meta-color": "blue", "x-container-meta-x": "y", "etag": "e"}
    assert metadata_of("object", headers) == {"color": "blue"}
