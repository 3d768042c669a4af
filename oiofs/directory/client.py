"""Clients of the directory: :class:`ConscienceClient` (services and scores) and
:class:`DirectoryClient` (references), the seed's names and arguments.

Both take ``conf`` with ``directory_endpoints`` (``http://127.0.0.1:6005[,...]``: every
directory instance sharing one store) and ``directory_timeout`` (seconds per request, 5),
or the same as keyword arguments ``endpoints=[...]`` / ``timeout=``. A request goes to the
endpoint that answered last and moves to the next one when it cannot be reached; when
none answers it raises :class:`~oiofs.directory.errors.DirectoryUnavailable`. An error
answer raises the matching :mod:`oiofs.directory.errors` class.

>>> cs = ConscienceClient({"directory_endpoints": "http://127.0.0.1:6005"})  # doctest: +SKIP
>>> [(s["id"], s["score"]) for s in cs.list_services("object")]             # doctest: +SKIP
[('127.0.0.1:6010', 87), ('127.0.0.1:6020', 0)]
>>> cs.lock("object", "127.0.0.1:6010", 0)                                  # doctest: +SKIP
"""

from __future__ import annotations

import builtins
import http.client
import json
from typing import Any
from urllib.parse import urlencode, urlsplit

from oiofs.common.config import conf_float, conf_list
from oiofs.directory.errors import (
    DirectoryError,
    DirectoryUnavailable,
    InvalidRequest,
    error_for_status,
)
from oiofs.directory.meta0_packed import pack, unpack


def directory_endpoints(conf: dict[str, Any]) -> list[str]:
    """The ``directory_endpoints`` of a configuration (empty: no directory).

    >>> directory_endpoints({"directory_endpoints": "http://127.0.0.1:6005, "
    ...                                             "http://127.0.0.1:6006/"})
    ['http://127.0.0.1:6005', 'http://127.0.0.1:6006']
    """
    return [e.rstrip("/") for e in conf_list(conf, "directory_endpoints")]


class _HTTPDirectory:
    """JSON requests to a list of directory endpoints, with failover."""

    def __init__(self, conf: dict[str, Any] | None = None,
                 endpoints: list[str] | None = None, timeout: float | None = None):
        conf = conf or {}
        self.endpoints = list(endpoints or directory_endpoints(conf))
        if not self.endpoints:
            raise InvalidRequest("no directory endpoint configured (directory_endpoints)")
        for endpoint in self.endpoints:
            parts = urlsplit(endpoint)
            if parts.scheme != "http" or not parts.hostname:
                raise InvalidRequest(f"directory endpoint {endpoint!r}: expected "
                                     "http://host:port")
        self.timeout = timeout if timeout is not None else conf_float(
            conf, "directory_timeout", 5.0)
        #: sent as ``User-Agent`` (the directory's access log shows who asked)
        self.user_agent = "oiofs-directory-client"

    def request(self, method: str, path: str, params: dict[str, Any] | None = None,
                body: Any = None) -> tuple[int, Any]:
        """``(status, decoded JSON body or None)``; error statuses raise."""
        query = urlencode({k: v for k, v in (params or {}).items() if v is not None})
        target = f"{path}?{query}" if query else path
        data = None if body is None else json.dumps(body).encode("utf-8")
        failures = []
        for index, endpoint in enumerate(self.endpoints):
            try:
                status, raw = self._one(endpoint, method, target, data)
            except (OSError, http.client.HTTPException) as err:
                failures.append(f"{endpoint}: {err}")
                continue
            if index:  # remember the one that answered
                self.endpoints.insert(0, self.endpoints.pop(index))
            decoded = json.loads(raw) if raw.strip() else None
            if status >= 400:
                info = decoded if isinstance(decoded, dict) else {}
                raise error_for_status(status, str(info.get("message", raw[:200])),
                                       str(info.get("error", "")))
            return status, decoded
        raise DirectoryUnavailable("no directory answered: " + "; ".join(failures))

    def _one(self, endpoint: str, method: str, target: str,
             data: bytes | None) -> tuple[int, bytes]:
        parts = urlsplit(endpoint)
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80,
                                          timeout=self.timeout)
        try:
            headers = {"User-Agent": self.user_agent}
            if data is not None:
                headers["Content-Type"] = "application/json"
            conn.request(method, target, body=data, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()


class ConscienceClient(_HTTPDirectory):
    """Services, scores and locks (the conscience)."""

    def register(self, services: dict[str, Any] | list[dict[str, Any]]) -> list[Any]:
        """Register (refresh) one service or several; their views as stored."""
        _status, body = self.request("POST", "/v1/conscience/register", body=services)
        return list(body or [])

    def deregister(self, service_type: str, addr: str) -> None:
        """Forget a service."""
        self.request("POST", "/v1/conscience/deregister", {"type": service_type,
                                                           "addr": addr})

    def list_services(self, service_type: str | None = None) -> list[dict[str, Any]]:
        """Every service (of ``service_type``) as ``{"id", "type", "addr", "score",
        "tags", "locked", "last_seen"}``; ``tags`` holds ``tag.loc``
        (``region.zone.host.device``), ``tag.up``, ``tag.lock``, ``tag.vers`` and the
        ``stat.*`` figures the service sent."""
        _status, body = self.request("GET", "/v1/conscience/list", {"type": service_type})
        return list(body or [])

    #: the seed's name
    all_services = list_services

    def show(self, service_type: str, addr: str) -> dict[str, Any]:
        """One service's view (``NoSuchService`` if it never registered)."""
        _status, body = self.request("GET", "/v1/conscience/show", {"type": service_type,
                                                                    "addr": addr})
        return dict(body)

    def service_types(self) -> list[str]:
        """The types registered so far."""
        _status, body = self.request("GET", "/v1/conscience/info")
        return list(body["types"])

    def lock(self, service_type: str, addr: str, score: int = 0) -> dict[str, Any]:
        """Pin the service's score (0: drain it); its view."""
        _status, body = self.request("POST", "/v1/conscience/lock",
                                     {"type": service_type, "addr": addr},
                                     {"score": score})
        return dict(body)

    def unlock(self, service_type: str, addr: str) -> dict[str, Any]:
        """Let the service's own score count again; its view."""
        _status, body = self.request("POST", "/v1/conscience/unlock",
                                     {"type": service_type, "addr": addr})
        return dict(body)


def _ref(account: str | None, reference: str | None, cid: str | None,
         **extra: Any) -> dict[str, Any]:
    return {"acct": account, "ref": reference, "cid": cid, **extra}


def _yes(value: bool) -> str | None:
    return "1" if value else None


class DirectoryClient(_HTTPDirectory):
    """References and the services linked to them (the seed's ``DirectoryClient``)."""

    def create(self, account: str | None = None, reference: str | None = None,
               properties: dict[str, str] | None = None, **_kwargs: Any) -> bool:
        """Create a reference; ``True`` if created, ``False`` if it existed."""
        status, _body = self.request("POST", "/v1/reference/create",
                                     _ref(account, reference, None),
                                     {"properties": properties or {}})
        return status == 201

    def has(self, account: str | None = None, reference: str | None = None,
            cid: str | None = None, **_kwargs: Any) -> bool:
        """True if the reference exists."""
        try:
            self.request("GET", "/v1/reference/has", _ref(account, reference, cid))
        except DirectoryError as err:
            if err.status == 404:
                return False
            raise
        return True

    def delete(self, account: str | None = None, reference: str | None = None,
               cid: str | None = None, force: bool = False, **_kwargs: Any) -> None:
        """Delete a reference (``ReferenceConflict`` while services are linked, unless
        ``force``)."""
        self.request("POST", "/v1/reference/destroy",
                     _ref(account, reference, cid, force=_yes(force)))

    def destroy(self, *args: Any, **kwargs: Any) -> None:
        """Deprecated: :meth:`delete`."""
        self.delete(*args, **kwargs)

    def list(self, account: str | None = None, reference: str | None = None,
             cid: str | None = None, service_type: str | None = None,
             **_kwargs: Any) -> dict[str, Any]:
        """``{"cid", "account", "reference", "srv": [{"type", "host", "seq", "args"}]}``
        (the links of ``service_type`` only, when given)."""
        _status, body = self.request("GET", "/v1/reference/show",
                                     _ref(account, reference, cid, type=service_type))
        return dict(body)

    def show(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Deprecated: :meth:`list`."""
        return self.list(*args, **kwargs)

    def link(self, account: str | None = None, reference: str | None = None,
             service_type: str | None = None, cid: str | None = None,
             autocreate: bool = False, count: int = 1, **_kwargs: Any) -> builtins.list[Any]:
        """Poll and link ``count`` services of the type (unless linked already); the
        type's links."""
        _status, body = self.request("POST", "/v1/reference/link", _ref(
            account, reference, cid, type=service_type, count=count,
            autocreate=_yes(autocreate)))
        return builtins.list(body)

    def unlink(self, account: str | None = None, reference: str | None = None,
               service_type: str | None = None, cid: str | None = None,
               **_kwargs: Any) -> None:
        """Remove an associated service (every link of the type) from the reference."""
        self.request("POST", "/v1/reference/unlink",
                     _ref(account, reference, cid, type=service_type))

    def renew(self, account: str | None = None, reference: str | None = None,
              service_type: str | None = None, cid: str | None = None, count: int = 1,
              **_kwargs: Any) -> builtins.list[Any]:
        """Re-poll and link a new set of services of the type at the next sequence
        number; the type's links."""
        _status, body = self.request("POST", "/v1/reference/renew", _ref(
            account, reference, cid, type=service_type, count=count))
        return builtins.list(body)

    def force(self, account: str | None = None, reference: str | None = None,
              service_type: str | None = None, services: Any = None,
              cid: str | None = None, autocreate: bool = False, replace: bool = False,
              **_kwargs: Any) -> builtins.list[Any]:
        """Link exactly ``services`` (a link ``{"host", "seq", "args"}`` or a list of
        them; ``type`` defaults to ``service_type``); ``replace`` overwrites a link of
        the same type and seq. Every link of the reference afterwards."""
        links = services if isinstance(services, list) else [services]
        links = [{"type": service_type, **link} for link in links]
        _status, body = self.request("POST", "/v1/reference/force", _ref(
            account, reference, cid, replace=_yes(replace), autocreate=_yes(autocreate)),
            links)
        return builtins.list(body)

    def get_properties(self, account: str | None = None, reference: str | None = None,
                       properties: builtins.list[str] | None = None, cid: str | None = None,
                       **_kwargs: Any) -> dict[str, Any]:
        """``{"properties": {...}}`` (only those named in ``properties``, when given)."""
        _status, body = self.request("POST", "/v1/reference/get_properties",
                                     _ref(account, reference, cid), properties or [])
        return dict(body)

    def set_properties(self, account: str | None = None, reference: str | None = None,
                       properties: dict[str, str] | None = None, cid: str | None = None,
                       clear: bool = False, **_kwargs: Any) -> None:
        """Set properties (``clear``: drop the others first)."""
        self.request("POST", "/v1/reference/set_properties",
                     _ref(account, reference, cid, flush=_yes(clear)),
                     {"properties": properties or {}})

    def del_properties(self, account: str | None = None, reference: str | None = None,
                       properties: builtins.list[str] | None = None, cid: str | None = None,
                       **_kwargs: Any) -> None:
        """Delete the named properties (every one when ``properties`` is empty)."""
        self.request("POST", "/v1/reference/del_properties",
                     _ref(account, reference, cid), properties or [])


class Meta0DirectoryStore(_HTTPDirectory):
    """The meta0 document kept by the directory: a
    :class:`~oiofs.directory.meta0_store.Meta0Store` for ``Meta0Client(store=...)``,
    sent and received packed (:mod:`oiofs.directory.meta0_packed`)."""

    def read(self) -> dict[str, Any]:
        """The document (every key present, empty when nothing was saved)."""
        _status, body = self.request("GET", "/v1/meta0")
        return unpack(body)

    def write(self, doc: dict[str, Any]) -> None:
        """Replace the document (stored durably by the directory before it answers)."""
        self.request("PUT", "/v1/meta0", body=pack(doc))
