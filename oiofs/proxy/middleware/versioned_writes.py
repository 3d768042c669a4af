"""versioned_writes: Swift's legacy object versions (``X-Versions-Location`` and
``X-History-Location``).

A container ``PUT``/``POST`` with ``X-Versions-Location: <container>`` (stack mode) or
``X-History-Location: <container>`` (history mode) names the container of the same
account where the older versions of its objects go (``X-Remove-...`` or an empty value
turns it off); it is kept as container system metadata and shown back under the client's
name (:mod:`~oiofs.proxy.middleware.version_names`).

In such a container:

* an overwrite (``PUT``, ``PUT`` with ``X-Copy-From``, or ``COPY`` to it) first copies the
  current object, server side, to ``<versions>/<len><name>/<timestamp>``;
* ``DELETE`` in stack mode restores the newest version (copied back, then removed from
  the versions container) and deletes the object only when there is none;
* ``DELETE`` in history mode copies the current object away, writes a zero-byte delete
  marker (``application/x-deleted;swift_versions_deleted=1``) as the newest version, and
  deletes the object.

Every subrequest is made as the client (so the client needs read and write access to the
versions container too) and with ``symlink=get``, so that a symlink is versioned as
itself. A write to a container without a versions location costs one look-up in the
proxy's container-info cache.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from oiofs.common.exceptions import HTTPError, HTTPPreconditionFailed
from oiofs.common.timestamp import Timestamp
from oiofs.proxy.controllers.base import BACKEND_HEADERS_KEY
from oiofs.proxy.controllers.info import register_info
from oiofs.proxy.middleware.largeobj import copy_source_and_dest, object_parts
from oiofs.proxy.middleware.subrequest import (
    call,
    error_response,
    listing_pages,
    make_environ,
    proxy_app,
    status_error,
    to_wsgi,
)
from oiofs.proxy.middleware.version_names import (
    DELETE_MARKER_TYPE,
    HISTORY,
    client_setting,
    container_setting,
    is_delete_marker,
    location_of,
    version_name,
    versions_prefix,
)
from oiofs.proxy.response import status_line

#: versions read per listing page when looking for the one to restore
PAGE = 100
MAX_LISTING_BYTES = 16 * 1024 * 1024


def _text(value: str) -> str:
    return value.encode("latin-1").decode("utf-8", "replace")


def container_parts(environ: dict) -> tuple[str, str, str] | None:
    """``(version, account, container)`` (WSGI strings) of a container request."""
    parts = environ.get("PATH_INFO", "").split("/")
    if len(parts) != 4 or parts[0] or parts[1] not in ("v1", "v1.0") or \
            not parts[2] or not parts[3]:
        return None
    return parts[1], parts[2], parts[3]


class VersionedWrites:
    """The versioned_writes filter."""

    def __init__(self, app, conf: dict):
        self.app = app
        self._proxy: Any = None  # the proxy application, found on first use
        register_info("versioned_writes", {"allowed_flags": ["x-versions-location",
                                                             "x-history-location"]})

    @property
    def proxy(self):
        if self._proxy is None:
            self._proxy = proxy_app(self.app)
        return self._proxy

    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        try:
            parts = object_parts(environ)
            if parts is not None:
                if method == "PUT":
                    return self.write(environ, start_response, parts)
                if method == "COPY":
                    return self.copy(environ, start_response, parts)
                if method == "DELETE":
                    return self.delete(environ, start_response, parts)
                return self.app(environ, start_response)
            if container_parts(environ) is not None:
                return self.container(environ, start_response, method)
        except HTTPError as err:
            return error_response(environ, start_response, err)
        return self.app(environ, start_response)

    # --- containers ---------------------------------------------------------------------

    def container(self, environ, start_response, method: str):
        if method in ("PUT", "POST"):
            setting = container_setting(environ)
            if setting is not None:
                backend = dict(environ.get(BACKEND_HEADERS_KEY) or {})
                backend.update(setting)
                environ[BACKEND_HEADERS_KEY] = backend
            return self.app(environ, start_response)
        if method not in ("GET", "HEAD"):
            return self.app(environ, start_response)

        def shown_start_response(status, headers, exc_info=None):
            return start_response(status, client_setting(headers), exc_info)

        return self.app(environ, shown_start_response)

    # --- objects ------------------------------------------------------------------------

    def _location(self, environ, account: str, container: str):
        """``(versions container as text, mode)`` of a container, or ``None``."""
        info = self.proxy.cached_container_info(environ, account, container)
        return location_of(info.sysmeta) if info.exists else None

    def write(self, environ, start_response, parts):
        version, account, container, obj = parts
        location = self._location(environ, account, container)
        if location is not None:
            self._keep_current(environ, version, account, container, obj, location[0])
        return self.app(environ, start_response)

    def copy(self, environ, start_response, parts):
        ends = copy_source_and_dest(environ)
        if ends is not None:
            _source, (d_acc, d_con, d_obj) = ends
            location = self._location(environ, d_acc, d_con)
            if location is not None:
                self._keep_current(environ, parts[0], d_acc, d_con, d_obj, location[0])
        return self.app(environ, start_response)

    def _keep_current(self, environ, version: str, account: str, container: str, obj: str,
                      versions: str) -> bool:
        """Copy the current ``obj`` (WSGI names) into ``versions`` (text); False if there
        was none. Errors other than a missing object end the client's request."""
        path = f"/{version}/{account}/{container}/{obj}"
        head = call(self.app, make_environ(environ, "HEAD", path, "symlink=get"))
        head.close()
        if head.status == 404:
            return False
        if head.status // 100 != 2:
            raise status_error(head.status)
        name = version_name(_text(obj), head.headers.get("x-timestamp", "0"))
        copied = call(self.app, make_environ(
            environ, "COPY", path, "symlink=get",
            headers={"Destination": quote(f"{versions}/{name}")}))
        copied.close()
        if copied.status == 404:
            raise HTTPPreconditionFailed("The versions container does not exist or the "
                                         "object changed while being versioned")
        if copied.status // 100 != 2:
            raise status_error(copied.status)
        return True

    def delete(self, environ, start_response, parts):
        version, account, container, obj = parts
        location = self._location(environ, account, container)
        if location is None:
            return self.app(environ, start_response)
        versions, mode = location
        if mode == HISTORY:
            self._keep_current(environ, version, account, container, obj, versions)
            self._put_marker(environ, version, account, obj, versions)
            return self.app(environ, start_response)
        restored = self._restore_newest(environ, version, account, container, obj, versions)
        if restored is None:
            return self.app(environ, start_response)
        start_response(status_line(restored), [("Content-Length", "0")])
        return []

    def _put_marker(self, environ, version, account, obj, versions: str) -> None:
        name = version_name(_text(obj), Timestamp.now().internal)
        marker = call(self.app, make_environ(
            environ, "PUT", to_wsgi(f"/{version}/{_text(account)}/{versions}/{name}"),
            headers={"Content-Type": DELETE_MARKER_TYPE}, body=b""))
        marker.close()
        if marker.status // 100 != 2:
            raise status_error(412 if marker.status == 404 else marker.status)

    def _newest_versions(self, environ, version, account, obj, versions: str):
        """The object's versions, newest first (listing rows), page by page."""
        prefix = versions_prefix(_text(obj))
        path = to_wsgi(f"/{version}/{_text(account)}/{versions}")
        yield from listing_pages(self.app, environ, path,
                                 f"reverse=on&prefix={quote(prefix)}", PAGE,
                                 max_bytes=MAX_LISTING_BYTES)

    def _restore_newest(self, environ, version, account, container, obj,
                        versions: str) -> int | None:
        """Stack mode: put the newest version back in place of the object and remove it
        from the versions container; its status, or ``None`` when there is none."""
        for row in self._newest_versions(environ, version, account, obj, versions):
            vpath = to_wsgi(f"/{version}/{_text(account)}/{versions}/{row['name']}")
            if is_delete_marker(row.get("content_type", "")):
                # left by history mode: the object stays deleted, the marker goes
                self._delete(environ, vpath)
                return None
            copied = call(self.app, make_environ(
                environ, "COPY", vpath, "symlink=get",
                headers={"Destination": quote(f"{_text(container)}/{_text(obj)}")}))
            copied.close()
            if copied.status == 404:
                continue  # removed meanwhile: the next one
            if copied.status // 100 != 2:
                raise status_error(copied.status)
            self._delete(environ, vpath)
            return 204
        return None

    def _delete(self, environ, path: str) -> None:
        resp = call(self.app, make_environ(environ, "DELETE", path))
        resp.close()
        if resp.status // 100 != 2 and resp.status != 404:
            raise status_error(resp.status)


def filter_factory(global_conf: dict, **local_conf):
    """PasteDeploy entry point ``egg:oiofs#versioned_writes``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return lambda app: VersionedWrites(app, conf)
