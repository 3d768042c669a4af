"""symlink: objects that point at other objects, as OpenStack Swift's symlinks.

``PUT`` of a zero-byte object with ``X-Symlink-Target: <container>/<object>`` (and
``X-Symlink-Target-Account``) stores a link; its target is kept as object system
metadata (:mod:`~oiofs.proxy.middleware.symlink_target`) and recorded in the container
row's ETag so listings show ``symlink_path``. With ``X-Symlink-Target-Etag`` the link is
static: the target is read (as the client) at once and must have that ETag; its size is
kept too, and a later change of the target makes reads of the link answer 409.

* ``GET``/``HEAD`` of a link answer its target (followed through at most ``symloop_max``
  links, then 409), read as the requesting user so the target container's ACLs apply,
  with ``Content-Location`` naming it; a missing target is 404;
* ``?symlink=get`` answers the link itself, with ``X-Symlink-Target*`` headers;
* ``POST`` applies the metadata to the link and answers 307 with the target's
  ``Location``; ``POST`` with ``X-Symlink-Target`` is 400;
* ``COPY`` (or ``PUT`` with ``X-Copy-From``) copies the target, or the link with
  ``?symlink=get``; ``DELETE`` removes the link.

A plain object read costs nothing but a look at its answer's headers (the proxy shows
system metadata to the filter); only a ``POST`` or a copy costs one more ``HEAD``.

Configuration (``[filter:symlink]``, ``use = egg:oiofs#symlink``)::

    symloop_max = 2
"""

from __future__ import annotations

from oiofs.common.base_app import given_content_type
from oiofs.common.config import conf_int
from oiofs.common.exceptions import HTTPBadRequest, HTTPConflict, HTTPError
from oiofs.proxy.controllers.base import BACKEND_HEADERS_KEY, SHOW_SYSMETA_KEY
from oiofs.proxy.controllers.info import register_info
from oiofs.proxy.middleware.largeobj import (
    copy_assembled,
    first_pass,
    is_copy,
    object_parts,
    pass_plain,
)
from oiofs.proxy.middleware.subrequest import (
    call,
    error_response,
    make_environ,
    status_error,
)
from oiofs.proxy.middleware.symlink_target import (
    SYSMETA_ETAG,
    SYSMETA_TARGET,
    LinkTarget,
    client_headers,
    etag_matches,
    link_metadata,
    parse_target,
    stored_target,
    target_size,
)
from oiofs.proxy.request import ensure_trans_id
from oiofs.proxy.response import status_line

DEFAULT_SYMLOOP_MAX = 2
_TARGET_KEY = SYSMETA_TARGET.lower()
_ETAG_KEY = SYSMETA_ETAG.lower()


#: the header an answer must carry to be a link's (lower case)
LINK_MARKS = frozenset((_TARGET_KEY,))


def is_link(headers: dict) -> bool:
    """True when answer headers (lower-case names, system metadata shown) are a link's."""
    return _TARGET_KEY in headers


def _text(value: str) -> str:
    return value.encode("latin-1").decode("utf-8", "replace")


def _wants_link_itself(environ: dict) -> bool:
    query = environ.get("QUERY_STRING", "")
    return "symlink=get" in query and "symlink=get" in query.split("&")


class Symlink:
    """The symlink filter."""

    def __init__(self, app, conf: dict):
        self.app = app
        self.symloop_max = conf_int(conf, "symloop_max", DEFAULT_SYMLOOP_MAX)
        if self.symloop_max < 1:
            self.symloop_max = DEFAULT_SYMLOOP_MAX
        register_info("symlink", {"symloop_max": self.symloop_max, "static_links": True})

    def __call__(self, environ, start_response):
        parts = object_parts(environ)
        if parts is None:
            return self.app(environ, start_response)
        method = environ["REQUEST_METHOD"]
        try:
            if method in ("GET", "HEAD"):
                if _wants_link_itself(environ):
                    return self.link_itself(environ, start_response)
                return self.follow(environ, start_response, parts[0])
            if method == "PUT" and "HTTP_X_SYMLINK_TARGET" in environ:
                return self.put_link(environ, start_response, parts)
            if method == "POST":
                return self.post(environ, start_response, parts[0])
            if is_copy(environ) and not _wants_link_itself(environ):
                return copy_assembled(self, environ, start_response, is_link)
        except HTTPError as err:
            return error_response(environ, start_response, err)
        return self.app(environ, start_response)

    # --- reads ---------------------------------------------------------------------------

    def _call_showing_sysmeta(self, environ: dict, find_link: bool = False):
        """The answer to ``environ`` with system metadata shown. With ``find_link``, an
        answer that cannot show whether it is a link's (a 304, 412 or 416 computed on the
        link's own empty body) is replaced by a ``HEAD`` of the object when it is one."""
        shown = environ.get(SHOW_SYSMETA_KEY)
        environ[SHOW_SYSMETA_KEY] = True
        try:
            if find_link:
                return first_pass(self.app, environ, is_link)[0]
            return call(self.app, environ)
        finally:
            if not shown:
                environ.pop(SHOW_SYSMETA_KEY, None)

    def link_itself(self, environ, start_response):
        resp = self._call_showing_sysmeta(environ)
        start_response(status_line(resp.status),
                       client_headers(resp.header_list, bool(environ.get(SHOW_SYSMETA_KEY))))
        return resp.body

    def follow(self, environ, start_response, version: str):
        """The client's GET/HEAD, followed through links to the object they name."""
        show = bool(environ.get(SHOW_SYSMETA_KEY))
        environ[SHOW_SYSMETA_KEY] = True
        try:
            resp, body = pass_plain(self.app, environ, start_response, LINK_MARKS, is_link,
                                    keep_sysmeta=show)
        finally:
            if not show:
                environ.pop(SHOW_SYSMETA_KEY, None)
        if resp is None:  # a plain object: its answer went on already
            return body
        target = stored_target(resp.headers)
        assert target is not None  # is_link said so
        resp, last = self._traverse(environ, resp, target, version)
        headers = client_headers(resp.header_list, show)
        headers.append(("Content-Location", last.path(version)))
        start_response(status_line(resp.status), headers)
        return resp.body

    def _traverse(self, environ: dict, resp, target: LinkTarget, version: str):
        """Follow ``resp`` (a link's answer) to a non-link: ``(answer, last target)``;
        409 past ``symloop_max`` links or when a static link's target changed."""
        expected: list[str] = []
        hops = 0
        while True:
            if hops >= self.symloop_max:
                resp.close()
                raise HTTPConflict("Too many levels of symbolic links, maximum allowed is "
                                   f"{self.symloop_max}")
            if resp.headers.get(_ETAG_KEY):
                expected.append(resp.headers[_ETAG_KEY])
            resp.close()
            env = dict(environ)
            env["PATH_INFO"] = target.wsgi_path(version)
            resp = self._call_showing_sysmeta(env, find_link=True)
            hops += 1
            following = stored_target(resp.headers)
            if following is None:
                break
            target = following
        if resp.status // 100 == 2:
            for etag in expected:
                if not etag_matches(etag, resp.headers):
                    found = resp.headers.get("etag", "").strip('"')
                    resp.close()
                    raise HTTPConflict(f'Object Etag "{found}" does not match '
                                       f'X-Symlink-Target-Etag header "{etag}"')
        return resp, target

    # --- writes --------------------------------------------------------------------------

    def put_link(self, environ, start_response, parts):
        version, account, container, obj = parts
        if environ.get("HTTP_TRANSFER_ENCODING") or \
                environ.get("CONTENT_LENGTH", "").strip() not in ("0", ""):
            raise HTTPBadRequest("Symlink requests require a zero byte body")
        if "CONTENT_LENGTH" not in environ:
            raise HTTPBadRequest("Symlink requests require a zero byte body")
        target = parse_target(environ.pop("HTTP_X_SYMLINK_TARGET"),
                              environ.pop("HTTP_X_SYMLINK_TARGET_ACCOUNT", None),
                              _text(account), (_text(account), _text(container), _text(obj)))
        etag = environ.pop("HTTP_X_SYMLINK_TARGET_ETAG", None)
        size = None
        if etag is not None:
            etag = etag.strip('"')
            size = self._check_static_target(environ, target, etag, version)
        if not given_content_type(environ):
            environ["CONTENT_TYPE"] = "application/symlink"
        backend = dict(environ.get(BACKEND_HEADERS_KEY) or {})
        backend.update(link_metadata(target, etag, size))
        environ[BACKEND_HEADERS_KEY] = backend
        return self.app(environ, start_response)

    def _check_static_target(self, environ, target: LinkTarget, etag: str,
                             version: str) -> int | None:
        """The size of a static link's target, read as the client; 409 if it is missing
        or has another ETag, the read's own error otherwise."""
        head = call(self, make_environ(environ, "HEAD", target.wsgi_path(version)))
        head.close()
        if head.status == 404:
            raise HTTPConflict("X-Symlink-Target does not exist")
        if head.status // 100 != 2:
            raise status_error(head.status)
        if not etag_matches(etag, head.headers):
            found = head.headers.get("etag", "").strip('"')
            raise HTTPConflict(f'Object Etag "{found}" does not match '
                               f'X-Symlink-Target-Etag header "{etag}"')
        return target_size(head.headers)

    def post(self, environ, start_response, version: str):
        """Metadata goes to the link itself; a link answers 307 to its target."""
        if "HTTP_X_SYMLINK_TARGET" in environ:
            raise HTTPBadRequest("A PUT request is required to set a symlink target")
        resp = call(self.app, environ)
        if resp.status == 202:
            head = call(self.app, make_environ(environ, "HEAD", environ["PATH_INFO"],
                                               "symlink=get"))
            head.close()
            target = stored_target(head.headers) if head.status // 100 == 2 else None
            if target is not None:
                resp.close()
                body = (b"The requested POST was applied to a symlink. POST directly to "
                        b"the target to apply requested metadata.")
                start_response("307 Temporary Redirect", [
                    ("Location", target.path(version)),
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(body))),
                    ("X-Trans-Id", ensure_trans_id(environ))])
                return [body]
        start_response(status_line(resp.status), resp.header_list)
        return resp.body


def filter_factory(global_conf: dict, **local_conf):
    """PasteDeploy entry point ``egg:oiofs#symlink``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return lambda app: Symlink(app, conf)
