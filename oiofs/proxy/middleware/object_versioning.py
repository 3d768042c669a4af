"""object_versioning: Swift's object versioning (``X-Versions-Enabled``).

A container ``PUT``/``POST`` with ``X-Versions-Enabled: true`` (by a user who may create
containers in the account) creates its versions container
(:mod:`~oiofs.proxy.middleware.object_versions`) and records the setting; ``false``
suspends versioning (versions are kept). It cannot be combined with the legacy
``X-Versions-Location``/``X-History-Location`` (400). Container ``HEAD``/``GET`` show
``X-Versions-Enabled``.

While versioning is enabled:

* an object ``PUT`` stores the data as a new version in the versions container and makes
  the object a static symlink to it (an object written before versioning is kept as a
  version first); the answer carries ``X-Object-Version-Id``;
* ``DELETE`` writes a delete marker version and removes the link (the object then
  answers 404, with the marker's ``X-Object-Version-Id``);

and, enabled or suspended, ``POST`` applies to the current version, a container
``DELETE`` is 409 while versions remain, and ``GET``/``HEAD``/``DELETE`` with
``?version-id=<id>`` address one version (``null``: the object written without
versioning). Deleting the newest version points the object at the one before it (or
removes it when that is a delete marker or there is none). ``GET <container>?versions``
lists the versions (:mod:`~oiofs.proxy.middleware.object_versions_listing`).

Subrequests are made as the client. A request for an object of a container that never
had versioning costs one look-up in the proxy's container-info cache.
"""

from __future__ import annotations

import mimetypes
from typing import Any
from urllib.parse import quote, unquote

from oiofs.common.base_app import given_content_type
from oiofs.common.exceptions import (
    HTTPBadRequest,
    HTTPConflict,
    HTTPError,
    HTTPForbidden,
)
from oiofs.common.timestamp import Timestamp
from oiofs.proxy.controllers.base import BACKEND_HEADERS_KEY
from oiofs.proxy.controllers.info import register_info
from oiofs.proxy.middleware.largeobj import copy_source_and_dest, object_parts, query_value
from oiofs.proxy.middleware.object_versions import (
    DELETE_MARKER_TYPE,
    NULL_VERSION,
    client_setting,
    is_delete_marker,
    is_reserved,
    requested_setting,
    setting_of,
    split_version_name,
    stored_setting,
    version_name,
    versions_container,
    versions_prefix,
)
from oiofs.proxy.middleware.object_versions_listing import list_current, list_versions
from oiofs.proxy.middleware.subrequest import (
    call,
    error_response,
    listing_pages,
    make_environ,
    proxy_app,
    status_error,
    to_wsgi,
)
from oiofs.proxy.middleware.version_names import SYSMETA_LOCATION
from oiofs.proxy.middleware.versioned_writes import container_parts
from oiofs.proxy.response import status_line

VERSION_ID = "X-Object-Version-Id"


def _text(value: str) -> str:
    return value.encode("latin-1").decode("utf-8", "replace")


class ObjectVersioning:
    """The object_versioning filter."""

    def __init__(self, app, conf: dict):
        self.app = app
        self._proxy: Any = None
        register_info("object_versioning", {})

    @property
    def proxy(self):
        if self._proxy is None:
            self._proxy = proxy_app(self.app)
        return self._proxy

    def __call__(self, environ, start_response):
        try:
            parts = object_parts(environ)
            if parts is not None:
                if is_reserved(_text(parts[2])):
                    raise HTTPForbidden("Reserved container name")
                return self.object(environ, start_response, parts)
            cparts = container_parts(environ)
            if cparts is not None:
                if is_reserved(_text(cparts[2])):
                    raise HTTPForbidden("Reserved container name")
                return self.container(environ, start_response, cparts)
        except HTTPError as err:
            return error_response(environ, start_response, err)
        return self.app(environ, start_response)

    # --- containers ---------------------------------------------------------------------

    def container(self, environ, start_response, cparts):
        method = environ["REQUEST_METHOD"]
        if method in ("PUT", "POST") and "HTTP_X_VERSIONS_ENABLED" in environ:
            self._set(environ, cparts)
        elif method in ("PUT", "POST") and \
                (environ.get(BACKEND_HEADERS_KEY) or {}).get(SYSMETA_LOCATION):
            self._refuse_legacy(environ, cparts)
        elif method in ("GET", "HEAD") and query_value(environ, "versions") is not None:
            return self._list(environ, start_response, cparts)
        elif method == "GET":
            setting = self._setting(environ, cparts)
            if setting is not None:
                return list_current(self, environ, start_response, cparts, setting[1])
        elif method == "DELETE":
            return self._delete_container(environ, start_response, cparts)
        if method not in ("GET", "HEAD"):
            return self.app(environ, start_response)

        def shown_start_response(status, headers, exc_info=None):
            return start_response(status, client_setting(headers), exc_info)

        return self.app(environ, shown_start_response)

    def _delete_container(self, environ, start_response, cparts):
        """409 while the versions container holds versions; otherwise the container,
        then its versions container, are deleted."""
        version, account, _container = cparts
        setting = self._setting(environ, cparts)
        if setting is None:
            return self.app(environ, start_response)
        path = to_wsgi(f"/{version}/{_text(account)}/{setting[1]}")
        head = call(self.app, make_environ(environ, "HEAD", path))
        head.close()
        if head.status // 100 == 2 and head.headers.get("x-container-object-count",
                                                        "0") != "0":
            raise HTTPConflict("The container's versions container is not empty: delete "
                               "every version first")
        resp = call(self.app, environ)
        if resp.status // 100 == 2 and head.status // 100 == 2:
            self._remove(environ, path)
        start_response(status_line(resp.status), resp.header_list)
        return resp.body

    def _list(self, environ, start_response, cparts):
        _version, account, container = cparts
        info = self.proxy.cached_container_info(environ, _text(account), _text(container))
        if not info.exists:
            return self.app(environ, start_response)
        setting = setting_of(info.sysmeta)
        versions = setting[1] if setting else versions_container(_text(container))
        return list_versions(self, environ, start_response, cparts, versions)

    def _setting(self, environ, cparts) -> tuple[bool, str] | None:
        """The container's versioning setting, from the container-info cache."""
        info = self.proxy.cached_container_info(environ, _text(cparts[1]),
                                                _text(cparts[2]))
        return setting_of(info.sysmeta) if info.exists else None

    def _refuse_legacy(self, environ, cparts) -> None:
        """400 for a legacy versions location on a container with object versioning."""
        setting = self._setting(environ, cparts)
        if setting is not None and setting[0]:
            raise HTTPBadRequest("Cannot set X-Versions-Location or X-History-Location on "
                                 "a container with X-Versions-Enabled")

    def _set(self, environ, cparts) -> None:
        """Turn the client's ``X-Versions-Enabled`` into system metadata (creating the
        versions container when enabling)."""
        value = environ.pop("HTTP_X_VERSIONS_ENABLED")
        if not value.strip():
            return
        enabled = requested_setting(value)
        backend = dict(environ.get(BACKEND_HEADERS_KEY) or {})
        if backend.get(SYSMETA_LOCATION):
            raise HTTPBadRequest("Cannot set both X-Versions-Location and "
                                 "X-Versions-Enabled")
        version, account, container = cparts
        info = self.proxy.cached_container_info(environ, _text(account), _text(container))
        if info.exists and info.sysmeta.get("versions-location") and enabled:
            raise HTTPBadRequest("Cannot enable object versioning on a container that "
                                 "uses X-Versions-Location or X-History-Location")
        versions = versions_container(_text(container))
        if enabled:
            made = call(self.app, make_environ(
                environ, "PUT", to_wsgi(f"/{version}/{_text(account)}/{versions}")))
            made.close()
            if made.status // 100 != 2:
                raise status_error(made.status)
        backend.update(stored_setting(enabled, versions))
        environ[BACKEND_HEADERS_KEY] = backend

    # --- objects ------------------------------------------------------------------------

    def object(self, environ, start_response, parts):
        version, account, container, obj = parts
        method = environ["REQUEST_METHOD"]
        version_id = query_value(environ, "version-id")
        if method == "COPY":
            put_parts = self._copy_as_put(environ)
            if put_parts is not None:
                parts = put_parts
                version, account, container, obj = parts
                method = "PUT"
        if method not in ("GET", "HEAD", "PUT", "DELETE", "POST") and version_id is None:
            return self.app(environ, start_response)
        info = self.proxy.cached_container_info(environ, _text(account), _text(container))
        setting = setting_of(info.sysmeta) if info.exists else None
        if setting is None:
            if version_id is not None and version_id != NULL_VERSION:
                raise HTTPBadRequest("version-id is only valid in a versioned container")
            if version_id is not None:
                environ["QUERY_STRING"] = _without_version_id(environ)
            return self.app(environ, start_response)
        enabled, versions = setting
        where = _Place(version, _text(account), _text(container), _text(obj), versions)
        if version_id is not None:
            if method not in ("GET", "HEAD", "DELETE"):
                raise HTTPBadRequest("version-id is only valid with GET, HEAD and DELETE")
            environ["QUERY_STRING"] = _without_version_id(environ)
            if method == "DELETE":
                return self.delete_version(environ, start_response, where, version_id)
            return self.read_version(environ, start_response, where, version_id)
        if method in ("GET", "HEAD"):
            return self.read_current(environ, start_response, where)
        if method == "POST":
            return self.post(environ, start_response, where)
        if not enabled:
            if method == "PUT":
                return self._answer(environ, start_response, environ, NULL_VERSION)
            return self.app(environ, start_response)
        if method == "PUT":
            return self.put(environ, start_response, where)
        return self.delete(environ, start_response, where)

    def _copy_as_put(self, environ) -> tuple[str, str, str, str] | None:
        """A ``COPY`` whose destination keeps versions becomes the ``PUT`` with
        ``X-Copy-From`` it means (Swift's copy middleware does the same), so that it is
        versioned like any other write; returns the destination's parts, or ``None`` (the
        copy goes on untouched). Authorization stays with the proxy, which checks the
        rewritten request (the destination written, the source read)."""
        ends = copy_source_and_dest(environ)
        if ends is None:
            return None
        (s_acc, s_con, s_obj), (d_acc, d_con, d_obj) = ends
        setting = self._setting(environ, ("", d_acc, d_con))
        if setting is None or not setting[0]:
            return None
        version = environ["PATH_INFO"].split("/", 2)[1]
        environ["REQUEST_METHOD"] = "PUT"
        environ["PATH_INFO"] = f"/{version}/{d_acc}/{d_con}/{d_obj}"
        environ["HTTP_X_COPY_FROM"] = quote(_text(f"/{s_con}/{s_obj}"))
        if s_acc != d_acc:
            environ["HTTP_X_COPY_FROM_ACCOUNT"] = s_acc
        for key in ("HTTP_DESTINATION", "HTTP_DESTINATION_ACCOUNT", "HTTP_TRANSFER_ENCODING"):
            environ.pop(key, None)
        environ["CONTENT_LENGTH"] = "0"
        return version, d_acc, d_con, d_obj

    def _link_of(self, environ, where: _Place):
        """``(status, version id the object links to or None)`` of the object itself."""
        head = call(self.app, make_environ(environ, "HEAD", where.object_path,
                                           "symlink=get"))
        head.close()
        if head.status // 100 != 2:
            return head.status, None
        return head.status, where.linked_version(head.headers.get("x-symlink-target"))

    def _keep_null(self, environ, where: _Place) -> None:
        """Keep an object written without versioning as a version before it is
        replaced."""
        head = call(self.app, make_environ(environ, "HEAD", where.object_path,
                                           "symlink=get"))
        head.close()
        if head.status == 404:
            return
        if head.status // 100 != 2:
            raise status_error(head.status)
        if where.linked_version(head.headers.get("x-symlink-target")) is not None:
            return
        vid = Timestamp(head.headers.get("x-timestamp", "0")).normal
        copied = call(self.app, make_environ(
            environ, "COPY", where.object_path, "symlink=get",
            headers={"Destination": quote(f"{where.versions}/{version_name(where.obj, vid)}")}))
        copied.close()
        if copied.status // 100 != 2 and copied.status != 404:
            raise status_error(copied.status)

    def put(self, environ, start_response, where: _Place):
        self._keep_null(environ, where)
        vid = Timestamp.now().normal
        env = dict(environ)
        env["PATH_INFO"] = where.version_path(vid)
        content_type = None
        if "HTTP_X_COPY_FROM" not in env:  # a copy keeps its source's type
            content_type = given_content_type(env)
            if not content_type or env.pop("HTTP_X_DETECT_CONTENT_TYPE", "").lower() in \
                    ("true", "yes", "on", "1", "t", "y"):
                # guessed from the object's name, not the version's
                content_type = mimetypes.guess_type(where.obj)[0] or \
                    "application/octet-stream"
            env["CONTENT_TYPE"] = content_type
        stored = call(self.app, env)
        if stored.status // 100 != 2:
            start_response(status_line(stored.status), stored.header_list)
            return stored.body
        stored.close()
        etag = stored.headers.get("etag", "").strip('"')
        if content_type is None:
            head = call(self.app, make_environ(environ, "HEAD", env["PATH_INFO"]))
            head.close()
            content_type = head.headers.get("content-type")
        self._point_at(environ, where, vid, etag, content_type)
        headers = [(n, v) for n, v in stored.header_list if n.lower() != "content-length"]
        start_response(status_line(stored.status),
                       [*headers, ("Content-Length", "0"), (VERSION_ID, vid)])
        return []

    def post(self, environ, start_response, where: _Place):
        """Metadata goes to the current version when the object is a link to one."""
        _status, linked = self._link_of(environ, where)
        if linked is None:
            return self.app(environ, start_response)
        env = dict(environ)
        env["PATH_INFO"] = where.version_path(linked)
        return self._answer(environ, start_response, env, linked)

    def _point_at(self, environ, where: _Place, vid: str, etag: str,
                  content_type: str | None) -> None:
        """Make the object a static link to version ``vid`` (listed with the version's
        ``content_type``)."""
        target = quote(f"{where.versions}/{version_name(where.obj, vid)}")
        headers = {"X-Symlink-Target": target, "X-Symlink-Target-Etag": etag}
        if content_type:
            headers["Content-Type"] = content_type
        linked = call(self.app, make_environ(environ, "PUT", where.object_path,
                                             headers=headers, body=b""))
        linked.close()
        if linked.status // 100 != 2:
            raise status_error(linked.status)

    def delete(self, environ, start_response, where: _Place):
        self._keep_null(environ, where)
        vid = Timestamp.now().normal
        marker = call(self.app, make_environ(
            environ, "PUT", where.version_path(vid),
            headers={"Content-Type": DELETE_MARKER_TYPE}, body=b""))
        marker.close()
        if marker.status // 100 != 2:
            raise status_error(marker.status)
        self._remove(environ, where.object_path)
        start_response("204 No Content", [("Content-Length", "0"), (VERSION_ID, vid)])
        return []

    def _remove(self, environ, path: str) -> int:
        resp = call(self.app, make_environ(environ, "DELETE", path))
        resp.close()
        if resp.status // 100 != 2 and resp.status != 404:
            raise status_error(resp.status)
        return resp.status

    def _newest(self, environ, where: _Place) -> dict | None:
        """The listing row of the object's newest version, or ``None``."""
        query = f"prefix={quote(versions_prefix(where.obj))}"
        rows = listing_pages(self.app, environ, where.versions_path, query, page=1)
        return next(iter(rows), None)

    def delete_version(self, environ, start_response, where: _Place, vid: str):
        if vid == NULL_VERSION:
            status, linked = self._link_of(environ, where)
            if status // 100 == 2 and linked is None:
                status = self._remove(environ, where.object_path)
            start_response(status_line(204 if status // 100 == 2 else 404),
                           [("Content-Length", "0"), (VERSION_ID, NULL_VERSION)])
            return []
        path = where.version_path(vid)
        status, linked = self._link_of(environ, where)
        if self._remove(environ, path) == 404 and linked != vid:
            return _not_found(environ, start_response, vid)
        if status == 404 or linked == vid:
            newest = self._newest(environ, where)
            if newest is None or is_delete_marker(newest.get("content_type", "")):
                if linked is not None:
                    self._remove(environ, where.object_path)
            else:
                _obj, newest_id = split_version_name(newest["name"]) or ("", "")
                self._point_at(environ, where, newest_id, newest.get("hash", ""),
                               newest.get("content_type"))
        start_response("204 No Content", [("Content-Length", "0"), (VERSION_ID, vid)])
        return []

    def read_version(self, environ, start_response, where: _Place, vid: str):
        if vid == NULL_VERSION:
            status, linked = self._link_of(environ, where)
            if linked is not None:
                return _not_found(environ, start_response, NULL_VERSION)
            return self._answer(environ, start_response, dict(environ), NULL_VERSION)
        env = dict(environ)
        env["PATH_INFO"] = where.version_path(vid)
        resp = call(self.app, env)
        if resp.status // 100 == 2 and is_delete_marker(resp.headers.get("content-type", "")):
            resp.close()
            return _not_found(environ, start_response, vid)
        headers = [(n, v) for n, v in resp.header_list if n.lower() != "content-location"]
        start_response(status_line(resp.status), [*headers, (VERSION_ID, vid)])
        return resp.body

    def read_current(self, environ, start_response, where: _Place):
        resp = call(self.app, environ)
        location = resp.headers.get("content-location")
        vid = where.linked_version(location, quoted_path=True) if location else None
        if resp.status == 404:
            newest = self._newest(environ, where)
            if newest is not None and is_delete_marker(newest.get("content_type", "")):
                split = split_version_name(newest["name"])
                if split is not None:
                    resp.close()
                    return _not_found(environ, start_response, split[1])
        headers = list(resp.header_list)
        if vid is not None:
            headers = [(n, v) for n, v in headers if n.lower() != "content-location"]
            headers.append((VERSION_ID, vid))
        elif resp.status // 100 == 2:
            headers.append((VERSION_ID, NULL_VERSION))
        start_response(status_line(resp.status), headers)
        return resp.body

    def _answer(self, environ, start_response, env, vid: str):
        resp = call(self.app, env)
        start_response(status_line(resp.status), [*resp.header_list, (VERSION_ID, vid)])
        return resp.body


class _Place:
    """Where an object and its versions are (text names)."""

    def __init__(self, version: str, account: str, container: str, obj: str,
                 versions: str):
        self.version, self.account, self.container = version, account, container
        self.obj, self.versions = obj, versions
        self.object_path = to_wsgi(f"/{version}/{account}/{container}/{obj}")
        self.versions_path = to_wsgi(f"/{version}/{account}/{versions}")

    def version_path(self, vid: str) -> str:
        """The WSGI path of version ``vid`` (400 for an id that is none)."""
        return to_wsgi(f"/{self.version}/{self.account}/{self.versions}/"
                       f"{version_name(self.obj, vid)}")

    def linked_version(self, target: str | None, quoted_path: bool = False) -> str | None:
        """The version id a link target (``x-symlink-target``, or with ``quoted_path``
        a ``Content-Location`` path) names, if it is one of this object's versions."""
        if not target:
            return None
        text = unquote(target)
        start = (f"/{self.version}/{self.account}/{self.versions}/" if quoted_path
                 else f"{self.versions}/")
        if not text.startswith(start):
            return None
        split = split_version_name(text[len(start):])
        if split is None or split[0] != self.obj:
            return None
        return split[1]


def _without_version_id(environ: dict) -> str:
    return "&".join(p for p in environ.get("QUERY_STRING", "").split("&")
                    if p.split("=", 1)[0] != "version-id")


def _not_found(environ, start_response, vid: str):
    body = b"" if environ["REQUEST_METHOD"] == "HEAD" else b"Not Found"
    start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8"),
                                     ("Content-Length", "9"), (VERSION_ID, vid)])
    return [body]


def filter_factory(global_conf: dict, **local_conf):
    """PasteDeploy entry point ``egg:oiofs#object_versioning``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return lambda app: ObjectVersioning(app, conf)
