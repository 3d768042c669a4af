"""bulk: archive extraction (``PUT ?extract-archive=tar|tar.gz|tar.bz2``) and bulk
delete (``POST``/``DELETE ?bulk-delete``), as Swift's bulk middleware.

Configuration (``[filter:bulk]``), Swift's options and defaults::

    max_containers_per_extraction = 10000
    max_failed_extractions = 1000
    max_deletes_per_request = 10000
    max_failed_deletes = 1000
    yield_frequency = 10          # seconds between keep-alive spaces
    delete_concurrency = 2        # deletes in flight at once

Extraction reads the archive as a stream (``tarfile`` stream mode; never the whole
archive, nor a whole member, in memory): each regular file becomes an object
``<upload path>/<member name>`` by a ``PUT`` subrequest whose body is the member itself;
a container is created (``HEAD``, then ``PUT`` if missing) the first time a member
names it. Bulk delete reads the newline-separated, URL-encoded ``/container/object``
(or ``/container``) names of the body and deletes them. Both answer ``200`` at once and
send a space every ``yield_frequency`` seconds while they work (so that a load balancer
does not cut the connection), then the result document
(:mod:`oiofs.proxy.middleware.bulk_format`) with the real outcome in ``Response Status``.

Every subrequest goes through the rest of the pipeline with the client's credentials:
the auth filter, the quotas and the proxy check each one as if the client had sent it.
Requests without ``extract-archive`` or ``bulk-delete`` in their query cost two substring
searches.
"""

from __future__ import annotations

import tarfile
import time
from collections.abc import Iterator
from urllib.parse import parse_qs

from oiofs.common import runtime
from oiofs.common.config import conf_int
from oiofs.common.exceptions import (
    HTTPBadRequest,
    HTTPError,
    HTTPNotAcceptable,
    HTTPNotFound,
)
from oiofs.common.http.body import RequestBody
from oiofs.proxy.controllers.info import register_info
from oiofs.proxy.middleware.bulk_format import (
    ARCHIVE_MODES,
    delete_names,
    member_path,
    outcome_status,
    output_format,
    quoted,
    result_body,
)
from oiofs.proxy.middleware.subrequest import call, error_response, make_environ, to_wsgi
from oiofs.proxy.request import ensure_trans_id
from oiofs.proxy.response import status_line

#: the longest line a bulk-delete body may hold (an account-relative path, encoded)
MAX_DELETE_LINE = 3 * (256 + 1024 + 2)
_READ_SIZE = 65536


class BulkAbort(Exception):
    """Stops a run: ``status`` (a status line) and ``body`` go in the result."""

    def __init__(self, status: str, body: str = ""):
        super().__init__(status)
        self.status = status
        self.body = body


def _api_path(environ: dict) -> tuple[str, str, str] | None:
    """``(version, account, rest)`` (text) of ``/v1/<account>[/<rest>]``, else ``None``."""
    try:
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
    except UnicodeError:
        return None
    parts = path.split("/", 3)
    if len(parts) < 3 or parts[0] or parts[1] not in ("v1", "v1.0") or not parts[2]:
        return None
    return parts[1], parts[2], parts[3] if len(parts) > 3 else ""


def _lines(body: RequestBody, limit: int) -> Iterator[bytes]:
    """The body's lines, each at most ``limit`` bytes (else ``BulkAbort`` 400)."""
    pending = b""
    while True:
        chunk = body.read(_READ_SIZE)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        yield from lines
        if len(pending) > limit:
            raise BulkAbort(status_line(400), "Invalid File Name")
    if pending:
        yield pending


class Bulk:
    """The bulk filter."""

    def __init__(self, app, conf: dict):
        self.app = app
        self.max_containers = conf_int(conf, "max_containers_per_extraction", 10000, 1)
        self.max_failed_extractions = conf_int(conf, "max_failed_extractions", 1000, 1)
        self.max_deletes = conf_int(conf, "max_deletes_per_request", 10000, 1)
        self.max_failed_deletes = conf_int(conf, "max_failed_deletes", 1000, 1)
        self.yield_frequency = conf_int(conf, "yield_frequency", 10, 1)
        self.delete_concurrency = conf_int(conf, "delete_concurrency", 2, 1)
        register_info("bulk_upload", {
            "max_containers_per_extraction": self.max_containers,
            "max_failed_extractions": self.max_failed_extractions})
        register_info("bulk_delete", {
            "max_deletes_per_request": self.max_deletes,
            "max_failed_deletes": self.max_failed_deletes})

    def __call__(self, environ, start_response):
        query = environ.get("QUERY_STRING", "")
        if "extract-archive" not in query and "bulk-delete" not in query:
            return self.app(environ, start_response)
        params = parse_qs(query, keep_blank_values=True)
        method = environ["REQUEST_METHOD"]
        if "extract-archive" in params and method == "PUT":
            kind = params["extract-archive"][0]
        elif "bulk-delete" in params and method in ("POST", "DELETE"):
            kind = None
        else:
            return self.app(environ, start_response)
        where = _api_path(environ)
        fmt = output_format(environ.get("HTTP_ACCEPT"))
        if where is None:
            return error_response(environ, start_response, HTTPNotFound())
        if fmt is None:
            return error_response(environ, start_response, HTTPNotAcceptable())
        if kind is not None and kind not in ARCHIVE_MODES:
            return error_response(environ, start_response,
                                HTTPBadRequest("Unsupported archive format"))
        # eventlet holds back body pieces under 4 KiB: each keep-alive space must go now
        environ[runtime.MINIMUM_WRITE_CHUNK_KEY] = 0
        start_response("200 OK", [("Content-Type", fmt),
                                  ("X-Trans-Id", ensure_trans_id(environ))])
        if kind is not None:
            return Extraction(self, environ, where).run(fmt, ARCHIVE_MODES[kind])
        return Deletion(self, environ, where).run(fmt)


class _Run:
    """One bulk request: subrequests as the client, keep-alive spaces, the result."""

    def __init__(self, bulk: Bulk, environ: dict, where: tuple[str, str, str]):
        self.bulk = bulk
        self.app = bulk.app
        self.environ = environ
        self.version, self.account, self.rest = where
        self.failed: list[list[str]] = []
        self._last_yield = time.monotonic()

    def keep_alive(self) -> bytes:
        """A space if ``yield_frequency`` seconds passed since the last one, else b''
        (never sent: an empty chunk would end a chunked answer)."""
        now = time.monotonic()
        if now - self._last_yield < self.bulk.yield_frequency:
            return b""
        self._last_yield = now
        return b" "

    def path(self, name: str) -> str:
        """``/<version>/<account>/<name>`` as a WSGI string (``UnicodeError`` if the name
        is not valid text)."""
        return to_wsgi(f"/{self.version}/{self.account}/{name}")

    def request(self, method: str, path: str, **kwargs) -> int:
        """Run a subrequest through the rest of the pipeline; its status."""
        headers = kwargs.pop("headers", {})
        agent = self.environ.get("HTTP_USER_AGENT", "")
        headers["User-Agent"] = f"{agent} Bulk".strip()
        resp = call(self.app, make_environ(self.environ, method, path, headers=headers,
                                           **kwargs))
        resp.close()
        return resp.status

    def body(self) -> RequestBody:
        """The client's body; ``BulkAbort`` 400 when it sent none."""
        length = self.environ.get("CONTENT_LENGTH")
        chunked = self.environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked"
        if not chunked and not (length and length.isdigit()):
            raise BulkAbort(status_line(400), "Invalid request: no content sent.")
        return RequestBody.of(self.environ, None if chunked else int(length or 0))


class Extraction(_Run):
    """``PUT ?extract-archive``: every regular file of the archive becomes an object."""

    def run(self, fmt: str, mode: str) -> Iterator[bytes]:
        self.created = 0
        status, text = "", ""
        try:
            yield from self._members(mode)
            status = outcome_status(self.failed, self.created, status_line(201))
            if not self.created and not self.failed:
                text = "Invalid Tar File: No Valid Files"
        except BulkAbort as abort:
            status, text = abort.status, abort.body
        except tarfile.TarError as err:
            status, text = status_line(400), f"Invalid Tar File: {err}"
        except HTTPError as err:  # reading the client's body: 408 or 499
            status, text = status_line(err.status), err.description
        yield result_body(fmt, "extract", {"Number Files Created": self.created,
                                           "Response Status": status,
                                           "Response Body": text}, self.failed)

    def _members(self, mode: str):
        base = self.rest.rstrip("/")
        containers: set[str] = set()
        # a stream mode ("r|..."): the body is read once, front to back
        tar = tarfile.open(mode=mode, fileobj=self.body())  # type: ignore[call-overload]
        while len(self.failed) < self.bulk.max_failed_extractions:
            member = tar.next()
            if member is None:
                break
            tar.members.clear()  # stream mode keeps every header read; we need none
            space = self.keep_alive()
            if space:
                yield space
            if not member.isfile():
                continue
            name = member_path(base, member.name)
            if name is None:
                continue
            shown = quoted(f"/{self.version}/{self.account}/{name}")
            try:
                path = self.path(name)
            except UnicodeError:  # not UTF-8 (tarfile surrogate-escapes such bytes)
                self.failed.append([shown, status_line(412)])
                continue
            container = name.split("/", 1)[0]
            if container not in containers:
                problem = self._ensure_container(container)
                if problem is not None:
                    self.failed.append([shown, problem])
                    continue
                containers.add(container)
                if len(containers) > self.bulk.max_containers:
                    raise BulkAbort(status_line(400), f"More than "
                                    f"{self.bulk.max_containers} containers to create "
                                    f"from tar.")
            status = self.request("PUT", path, body_file=tar.extractfile(member),
                                  length=member.size)
            if status == 401:
                raise BulkAbort(status_line(401))
            if status // 100 == 2:
                self.created += 1  # counted as it goes: an aborted run reports them too
            else:
                self.failed.append([shown, status_line(status)])

    def _ensure_container(self, container: str) -> str | None:
        """Make sure ``container`` exists: ``None``, or the failed status line."""
        path = self.path(container)
        status = self.request("HEAD", path)
        if status == 404:
            status = self.request("PUT", path)
        if status == 401:
            raise BulkAbort(status_line(401))
        return None if status // 100 == 2 else status_line(status)


class Deletion(_Run):
    """``POST``/``DELETE ?bulk-delete``: delete every object or container listed."""

    def run(self, fmt: str) -> Iterator[bytes]:
        deleted = missing = 0
        status, text = "", ""
        try:
            names = self._names()
            pool = runtime.GreenPool(self.bulk.delete_concurrency)
            for name, result in pool.imap(self._delete_one, names):
                space = self.keep_alive()
                if space:
                    yield space
                if result == 401:
                    raise BulkAbort(status_line(401))
                if result // 100 == 2:
                    deleted += 1
                elif result == 404:
                    missing += 1
                else:
                    self.failed.append([quoted("/" + name), status_line(result)])
                    if len(self.failed) >= self.bulk.max_failed_deletes:
                        raise BulkAbort(status_line(400), "Max delete failures exceeded")
            status = outcome_status(self.failed, deleted + missing, status_line(200))
            if not (deleted or missing or self.failed):
                text = "Invalid bulk delete."
        except BulkAbort as abort:
            status, text = abort.status, abort.body
        except HTTPError as err:  # reading the client's body: 408 or 499
            status, text = status_line(err.status), err.description
        yield result_body(fmt, "delete", {"Number Deleted": deleted,
                                          "Number Not Found": missing,
                                          "Response Status": status,
                                          "Response Body": text}, self.failed)

    def _names(self) -> list[str]:
        """The listed names (at most ``max_deletes_per_request``, else ``BulkAbort``
        413): read in full before anything is deleted, as Swift does."""
        names: list[str] = []
        for name in delete_names(_lines(self.body(), MAX_DELETE_LINE)):
            if len(names) >= self.bulk.max_deletes:
                raise BulkAbort(status_line(413), f"Maximum Bulk Deletes: "
                                f"{self.bulk.max_deletes} per request")
            names.append(name)
        return names

    def _delete_one(self, name: str) -> tuple[str, int]:
        try:
            path = self.path(name)
        except UnicodeError:  # not UTF-8 (surrogate-escaped by delete_names)
            return name, 412
        return name, self.request("DELETE", path)


def filter_factory(global_conf: dict, **local_conf):
    """PasteDeploy entry point ``egg:oiofs#bulk``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return lambda app: Bulk(app, conf)
