"""staticweb's listing pages and settings (sans-IO)."""

from lxml import html as lxml_html

from oiofs.proxy.middleware.staticweb import WebConfig
from oiofs.proxy.middleware.staticweb_html import (
    LISTING_TAIL,
    css_link,
    listing_head,
    listing_rows,
)


def page(prefix, entries, css=""):
    return listing_head(f"/v1/a/c/{prefix}", prefix, css) + \
        "".join(listing_rows(entries, prefix)) + LISTING_TAIL


def test_listing_escapes_names_and_links():
    entries = [{"subdir": "d/<s>/"},
               {"name": "d/a&b\"<script>.html", "bytes": 2048,
                "content_type": "text/html; charset=utf-8",
                "last_modified": "2026-12-05T11:00:00.000000"}]
    doc = lxml_html.fromstring(page("d/", entries))
    links = [(a.get("href"), a.text) for a in doc.iter("a")]
    assert links == [("../", "../"), ("%3Cs%3E/", "<s>/"),
                     ("a%26b%22%3Cscript%3E.html", 'a&b"<script>.html')]
    assert not list(doc.iter("script"))
    row = doc.find_class("type-html")[0]
    assert row.find_class("colsize")[0].text == "2.0K"
    assert row.find_class("coldate")[0].text == "2026-12-05 11:00:00"
    assert doc.findtext(".//title") == "Listing of /v1/a/c/d/"


def test_root_listing_has_no_parent_and_default_style():
    text = page("", [])
    assert 'href="../"' not in text and "<style" in text


def test_css_is_relative_to_the_container_root():
    assert 'href="../../s.css"' in css_link("s.css", "a/b/")
    assert 'href="/static/s.css"' in css_link("/static/s.css", "a/")
    assert 'href="https://cdn/s.css"' in css_link("https://cdn/s.css", "a/")


def test_web_config():
    config = WebConfig({"web-index": "index.html", "web-listings": "yes"})
    assert (config.index, config.listings, config.dir_type) == \
        ("index.html", True, "application/directory")
    assert config.active
    assert not WebConfig({"web-listings": "no", "color": "blue"}).active
