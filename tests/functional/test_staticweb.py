"""staticweb through the real proxy of the shared cluster: a small site fetched
anonymously with ``requests`` (no token), redirects, index pages, listings, error
pages, and authenticated users with and without ``X-Web-Mode``."""

from __future__ import annotations

import pytest
import requests

from tests.support.proxy_client import unique


@pytest.fixture(scope="module")
def site(cluster, client):
    """A public web container: ``(anonymous base URL, container name)``."""
    name = unique("site")
    assert client.request("PUT", f"/{name}", headers={
        "X-Container-Read": ".r:*,.rlistings", "X-Container-Meta-Web-Index": "index.html",
        "X-Container-Meta-Web-Error": "error.html",
        "X-Container-Meta-Web-Listings": "true",
        "X-Container-Meta-Web-Listings-CSS": "style.css"}).status == 201
    for path, body, ctype in (
            ("index.html", b"<h1>home</h1>", "text/html"),
            ("about/index.html", b"<h1>about</h1>", "text/html"),
            ("docs/a.txt", b"A", "text/plain"),
            ("docs/b&c<x>.txt", b"B", "text/plain"),
            ("docs/sub/deep.txt", b"D", "text/plain"),
            ("404error.html", b"<h1>nothing here</h1>", "text/html"),
            ("marker", b"", "application/directory")):
        assert client.request("PUT", f"/{name}/{path}", body=body,
                              headers={"Content-Type": ctype}).status == 201
    return f"{client.storage_url}/{name}", name


def get(url: str, **headers) -> requests.Response:
    return requests.get(url, headers=headers, allow_redirects=False, timeout=30)


def test_staticweb_is_in_info(client):
    assert "staticweb" in client.request("GET", "/info", absolute=True).body.decode()


def test_anonymous_visit(site):
    url, _name = site
    resp = get(url)
    assert resp.status_code == 301 and resp.headers["Location"].endswith(f"{_name}/")
    resp = get(url + "/")
    assert (resp.status_code, resp.text) == (200, "<h1>home</h1>")
    resp = get(url + "/about")
    assert resp.status_code == 301 and resp.headers["Location"].endswith("/about/")
    assert get(url + "/about/").text == "<h1>about</h1>"
    assert get(url + "/docs/a.txt").text == "A"
    # the whole visit, following redirects like a browser
    assert requests.get(url + "/about", timeout=30).text == "<h1>about</h1>"


def test_listing_is_escaped_and_styled(site):
    url, name = site
    resp = get(url + "/docs/")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/html")
    page = resp.text
    assert f"Listing of /v1/AUTH_test/{name}/docs/" in page
    assert "b&amp;c&lt;x&gt;.txt" in page and "<x>" not in page
    assert 'href="b%26c%3Cx%3E.txt"' in page
    assert 'href="sub/"' in page and 'href="../"' in page
    assert 'href="../style.css"' in page
    assert get(url + "/docs").status_code == 301


def test_missing_pages_get_the_error_page(site):
    url, _name = site
    resp = get(url + "/no/such/page.html")
    assert (resp.status_code, resp.text) == (404, "<h1>nothing here</h1>")
    assert get(url + "/nothing/").status_code == 404
    assert get(url + "/marker").status_code == 404  # a directory marker is no page


def test_authenticated_users_need_web_mode(client, site):
    url, name = site
    plain = client.request("GET", f"/{name}")
    assert plain.status == 200 and b"index.html" in plain.body  # the usual listing
    resp = get(url + "/", **{"X-Auth-Token": client.token, "X-Web-Mode": "true"})
    assert resp.text == "<h1>home</h1>"


def test_private_web_container_stays_private(client):
    name = unique("private-site")
    assert client.request("PUT", f"/{name}", headers={
        "X-Container-Meta-Web-Index": "index.html"}).status == 201
    assert client.request("PUT", f"/{name}/index.html", body=b"secret").status == 201
    url = f"{client.storage_url}/{name}"
    assert get(url + "/").status_code == 401
    assert get(url + "/index.html").status_code == 401
