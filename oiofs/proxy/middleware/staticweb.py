"""staticweb: a container served as a static web site.

A container's owner turns it on with metadata: ``X-Container-Meta-Web-Index`` (the
object served for a directory, e.g. ``index.html``), ``-Web-Listings: true`` (an HTML
listing for directories without an index), ``-Web-Listings-CSS`` (a style sheet for
them), ``-Web-Error`` (``<status><suffix>`` objects, e.g. ``404error.html``, served as
the body of an error) and ``-Web-Directory-Type`` (the content type of directory marker
objects, ``application/directory`` by default). With ``X-Container-Read: .r:*`` (and
``.rlistings`` for listings) anyone can browse it.

It applies to anonymous ``GET``/``HEAD`` requests and to authenticated ones that send
``X-Web-Mode: true``; every read it makes is a subrequest as the client, so the
container's ACLs decide as for any other read. Authenticated requests without
``X-Web-Mode`` cost one environ lookup; anonymous reads of a container without web
settings one lookup in the proxy's container info cache.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote, urlencode

from oiofs.common.config import config_true_value
from oiofs.proxy.controllers.info import register_info
from oiofs.proxy.middleware.domain_remap import ORIGINAL_PATH_KEY
from oiofs.proxy.middleware.infos import ProxyInfos
from oiofs.proxy.middleware.staticweb_html import LISTING_TAIL, listing_head, listing_rows
from oiofs.proxy.middleware.subrequest import SubResponse, call, make_environ, to_wsgi
from oiofs.proxy.request import ensure_trans_id
from oiofs.proxy.response import status_line

#: request headers carried into the reads staticweb makes for the client
_PASSED = ("HTTP_RANGE", "HTTP_IF_MATCH", "HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE",
           "HTTP_IF_UNMODIFIED_SINCE", "HTTP_ACCEPT_ENCODING")
LISTING_PAGE = 1000


class WebConfig:
    """A container's web settings (from its metadata)."""

    __slots__ = ("index", "error", "listings", "css", "dir_type")

    def __init__(self, meta: dict):
        self.index = (meta.get("web-index") or "").strip()
        self.error = (meta.get("web-error") or "").strip()
        self.listings = config_true_value(meta.get("web-listings") or "")
        self.css = (meta.get("web-listings-css") or "").strip()
        self.dir_type = (meta.get("web-directory-type") or "").strip() or \
            "application/directory"

    @property
    def active(self) -> bool:
        """Whether the container is a web site at all."""
        return bool(self.index or self.listings or self.error)


class StaticWeb:
    """The staticweb filter."""

    def __init__(self, app, conf: dict):
        self.app = app
        self.infos = ProxyInfos(app)
        register_info("staticweb", {})

    def __call__(self, environ, start_response):
        if environ.get("REMOTE_USER") and \
                not config_true_value(environ.get("HTTP_X_WEB_MODE", "")):
            return self.app(environ, start_response)
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD") or \
                environ.get("QUERY_STRING"):
            return self.app(environ, start_response)
        path = environ.get("PATH_INFO", "")
        parts = path.split("/", 4)
        if len(parts) < 4 or parts[0] or parts[1] not in ("v1", "v1.0") or \
                not parts[2] or not parts[3]:
            return self.app(environ, start_response)
        try:
            account, container = (p.encode("latin-1").decode("utf-8") for p in parts[2:4])
        except UnicodeError:
            return self.app(environ, start_response)
        info = self.infos.container(environ, account, container)
        config = WebConfig(info.meta) if info.exists else None
        if config is None or not config.active:
            return self.app(environ, start_response)
        site = _Site(self.app, environ, config, parts)
        return site.answer(start_response)


class _Site:
    """One request to a web-enabled container."""

    def __init__(self, app, environ: dict, config: WebConfig, parts: list[str]):
        self.app = app
        self.environ = environ
        self.config = config
        self.base = "/".join(parts[:4])  # /v1/<account>/<container> (WSGI string)
        self.obj = parts[4] if len(parts) > 4 else ""  # WSGI string, may end with "/"
        self.bare_container = len(parts) == 4

    # --- reads as the client ------------------------------------------------------------

    def read(self, method: str, path: str, query: str = "") -> SubResponse:
        env = make_environ(self.environ, method, path, query)
        env.update({k: self.environ[k] for k in _PASSED if k in self.environ})
        return call(self.app, env)

    def listing(self, prefix: str, limit: int, marker: str = "") -> list[dict] | None:
        """A page of the container's JSON listing below ``prefix`` (``None``: refused)."""
        query = urlencode({"format": "json", "delimiter": "/", "prefix": prefix,
                           "limit": str(limit), "marker": marker})
        resp = call(self.app, make_environ(self.environ, "GET", self.base, query))
        if resp.status // 100 != 2:
            resp.close()
            return None
        try:
            return json.loads(resp.read(1 << 26) or b"[]")
        except ValueError:
            return None

    # --- answers ------------------------------------------------------------------------

    def answer(self, start_response):
        if self.bare_container or not self.obj:
            if not (self.config.index or self.config.listings):  # only an error page
                return self.relay(self.read(self.environ["REQUEST_METHOD"],
                                            self.environ["PATH_INFO"]), start_response)
            if self.bare_container:
                return self.redirect(start_response)
        if self.obj and not self.obj.endswith("/"):
            resp = self.read(self.environ["REQUEST_METHOD"], self.environ["PATH_INFO"])
            if resp.status // 100 in (2, 3) and not self.is_marker(resp):
                return self.relay(resp, start_response)
            if resp.status != 404 and not self.is_marker(resp):
                return self.relay(resp, start_response)
            resp.close()
            if self.is_directory(self.obj + "/"):
                return self.redirect(start_response)
            return self.error(404, start_response)
        return self.directory(self.obj, start_response)

    def is_marker(self, resp: SubResponse) -> bool:
        """A directory marker object (its type is the directory type, at most 1 byte)."""
        length = resp.headers.get("content-length", "0")
        return resp.status // 100 == 2 and \
            resp.headers.get("content-type", "").split(";")[0] == self.config.dir_type \
            and length.isdigit() and int(length) <= 1

    def is_directory(self, prefix: str) -> bool:
        """Whether ``prefix`` (ending in ``/``) names a directory of the site."""
        if self.config.index:
            head = self.read("HEAD", f"{self.base}/{prefix}" + to_wsgi(self.config.index))
            head.close()
            if head.status // 100 == 2:
                return True
        if self.config.listings:
            page = self.listing(_text(prefix), 1)
            return bool(page)
        return False

    def directory(self, prefix: str, start_response):
        """A directory: its index, else its listing, else the 404 error."""
        if self.config.index:
            resp = self.read(self.environ["REQUEST_METHOD"],
                             f"{self.base}/{prefix}" + to_wsgi(self.config.index))
            if resp.status // 100 == 2 or resp.status in (304, 412, 416):
                return self.relay(resp, start_response)
            resp.close()
            if resp.status not in (404,):
                return self.error(resp.status, start_response)
        if self.config.listings:
            return self.listing_page(_text(prefix), start_response)
        return self.error(404, start_response)

    def listing_page(self, prefix: str, start_response):
        first = self.listing(prefix, LISTING_PAGE)
        if first is None:
            return self.error(401 if not self.environ.get("REMOTE_USER") else 403,
                              start_response)
        if prefix and not first:
            return self.error(404, start_response)
        title = _text(self.base) + "/" + prefix
        start_response("200 OK", [("Content-Type", "text/html; charset=UTF-8"),
                                  ("X-Trans-Id", ensure_trans_id(self.environ))])
        if self.environ["REQUEST_METHOD"] == "HEAD":
            return []
        return self._listing_body(title, prefix, first)

    def _listing_body(self, title: str, prefix: str, page: list[dict]) -> Iterator[bytes]:
        yield listing_head(title, prefix, self.config.css).encode("utf-8")
        while page:
            yield "".join(listing_rows(page, prefix)).encode("utf-8")
            if len(page) < LISTING_PAGE:
                break
            last = page[-1]
            page = self.listing(prefix, LISTING_PAGE,
                                last.get("subdir") or last.get("name", "")) or []
        yield LISTING_TAIL.encode("utf-8")

    def redirect(self, start_response):
        """301 to the same path with a ``/`` (a directory's address)."""
        # a remapped host (domain_remap) keeps the address the client used
        path = self.environ.get(ORIGINAL_PATH_KEY) or self.environ["PATH_INFO"]
        location = quote(_text(path) + "/")
        body = f'<html><body><p><a href="{location}">Moved</a></p></body></html>'.encode()
        start_response("301 Moved Permanently", [
            ("Location", location), ("Content-Type", "text/html; charset=UTF-8"),
            ("Content-Length", str(len(body))),
            ("X-Trans-Id", ensure_trans_id(self.environ))])
        return [] if self.environ["REQUEST_METHOD"] == "HEAD" else [body]

    def error(self, status: int, start_response):
        """An error answer, with the ``<status><web-error>`` page as its body if any."""
        if self.config.error:
            page = self.read("GET", f"{self.base}/" + to_wsgi(f"{status}{self.config.error}"))
            if page.status // 100 == 2:
                headers = [(k, v) for k, v in page.header_list
                           if k.lower() in ("content-type", "content-length")]
                start_response(status_line(status), headers + [
                    ("X-Trans-Id", ensure_trans_id(self.environ))])
                if self.environ["REQUEST_METHOD"] == "HEAD":
                    page.close()
                    return []
                return page.body
            page.close()
        body = f"<html><h1>{status_line(status)}</h1></html>".encode()
        start_response(status_line(status), [
            ("Content-Type", "text/html; charset=UTF-8"), ("Content-Length", str(len(body))),
            ("X-Trans-Id", ensure_trans_id(self.environ))])
        return [] if self.environ["REQUEST_METHOD"] == "HEAD" else [body]

    def relay(self, resp: SubResponse, start_response):
        """Send a subrequest's answer as the client's."""
        start_response(status_line(resp.status), resp.header_list)
        return resp.body


def _text(wsgi: str) -> str:
    return wsgi.encode("latin-1").decode("utf-8", "replace")


def filter_factory(global_conf: dict, **local_conf):
    """PasteDeploy entry point ``egg:oiofs#staticweb``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return lambda app: StaticWeb(app, conf)
