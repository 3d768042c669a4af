"""``PUT ?multipart-manifest=put``: checking an SLO manifest and storing it.

The client's list (:mod:`~oiofs.proxy.middleware.slo_manifest`) is checked for shape,
then every segment is read with a ``HEAD`` through the rest of the pipeline, as the user
(a few at a time): it must exist, be readable by the user, and have the size and ETag the
client gave. A segment that is itself an SLO is recorded as a nested manifest (its size
and ETag are the assembled ones). Problems answer 400 listing each segment and reason.

What the object servers keep is the stored form of the list (JSON), with
``X-Static-Large-Object: True`` and two system metadata items, ``X-Object-Sysmeta-Slo-Etag``
(the large object's ETag) and ``X-Object-Sysmeta-Slo-Size`` (its length), so a ``HEAD``
of the large object needs no read of the list. These are given to the proxy through the
environ (:data:`~oiofs.proxy.controllers.base.BACKEND_HEADERS_KEY`), never as client
headers, so no client can mark an object as a large object by itself.

With ``?heartbeat=on`` the answer starts at once (``202 Accepted``), a space is sent every
``yield_frequency`` seconds while segments are checked, and the final status, ETag and
errors come as the body, so a long check does not hit a client's read timeout.
"""

from __future__ import annotations

import json

from oiofs.common import runtime
from oiofs.common.exceptions import HTTPError
from oiofs.common.http.body import RequestBody
from oiofs.common.http.etag import quote_etag
from oiofs.proxy.controllers.base import BACKEND_HEADERS_KEY, SHOW_SYSMETA_KEY
from oiofs.proxy.middleware.largeobj import query_without
from oiofs.proxy.middleware.quota import run_quota_checks
from oiofs.proxy.middleware.segments import slo_etag
from oiofs.proxy.middleware.slo_manifest import (
    Found,
    ManifestError,
    Requested,
    check_segment,
    format_problems,
    parse_put_manifest,
    stored_to_segments,
)
from oiofs.proxy.middleware.subrequest import call, make_environ, object_path
from oiofs.proxy.response import status_line

SLO_ETAG = "x-object-sysmeta-slo-etag"
SLO_SIZE = "x-object-sysmeta-slo-size"


class PutOutcome:
    """The answer to a manifest PUT: status, headers and a short body."""

    def __init__(self, status: int, headers: list | None = None, body: bytes = b"",
                 errors: list | None = None):
        self.status = status
        self.headers = headers or []
        self.body = body
        self.errors = errors or []

    def header(self, name: str) -> str:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return ""


def read_manifest_body(environ: dict, limit: int) -> bytes | PutOutcome:
    """The request body, or the outcome refusing it (411, 413, 408, 499)."""
    chunked = environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked"
    length = environ.get("CONTENT_LENGTH")
    if not chunked and not length:
        return PutOutcome(411, body=b"Length Required")
    if length and length.isdigit() and int(length) > limit:
        return PutOutcome(413, body=f"Manifest File > {limit} bytes".encode())
    chunks, size = [], 0
    body = RequestBody.of(environ, int(length) if length and length.isdigit() else None)
    try:
        for chunk in body.chunks(65536):
            size += len(chunk)
            if size > limit:
                return PutOutcome(413, body=f"Manifest File > {limit} bytes".encode())
            chunks.append(chunk)
    except HTTPError as err:  # the client's fault (RequestBody): 408 or 499
        return PutOutcome(err.status, body=err.description.encode())
    return b"".join(chunks)


def head_segment(app, environ: dict, version: str, account: str, path: str) -> Found:
    """What a HEAD of segment ``path`` says, as the requesting user."""
    env = make_environ(environ, "HEAD", object_path(version, account, path),
                       "multipart-manifest=get")
    resp = call(app, env)
    resp.close()
    headers = resp.headers
    if resp.status // 100 != 2:
        return Found(resp.status)
    sub_slo = headers.get("x-static-large-object", "").lower() in ("true", "1", "yes")
    try:
        if sub_slo and SLO_SIZE in headers:
            size, etag = int(headers[SLO_SIZE]), headers.get(SLO_ETAG)
        else:
            size, etag = int(headers.get("content-length", "0")), headers.get("etag")
    except ValueError:
        return Found(502)
    return Found(resp.status, size, (etag or "").strip('"'),
                 headers.get("content-type", ""), headers.get("last-modified", ""),
                 sub_slo)


class ManifestPut:
    """One manifest PUT, after its body was read and parsed."""

    def __init__(self, slo, environ: dict, parts: tuple, requested: list[Requested]):
        self.slo = slo
        self.environ = environ
        self.version, self.account, self.container, self.obj = parts
        self.requested = requested

    def run(self) -> PutOutcome:
        """Check every segment, then store the manifest: the outcome."""
        own = "/" + f"{self.container}/{self.obj}".encode("latin-1").decode(
            "utf-8", "replace")
        self_refs = [f"Index {r.index}: manifest must not include itself as a segment"
                     for r in self.requested if r.path == own]
        if self_refs:
            return PutOutcome(400, body=("\n".join(self_refs) + "\n").encode())
        pool = runtime.GreenPool(self.slo.concurrency)
        found = list(pool.imap(lambda r: head_segment(
            self.slo.app, self.environ, self.version, self.account, r.path),
            self.requested))
        entries, problems = [], []
        last = len(self.requested) - 1
        for i, (req, seen) in enumerate(zip(self.requested, found, strict=True)):
            entry, problem = check_segment(req, seen, self.slo.min_segment_size, i == last)
            if problem is not None:
                problems.append((req.path, problem))
            else:
                entries.append(entry)
        if problems:
            return PutOutcome(400, body=format_problems(problems).encode("utf-8"),
                              errors=problems)
        segments = stored_to_segments(entries)
        etag = slo_etag(segments)
        total = sum(s.size for s in segments)
        try:  # the quota filters in front could not know the total yet
            run_quota_checks(self.environ, total)
        except HTTPError as err:
            return PutOutcome(err.status, body=err.description.encode())
        given = self.environ.get("HTTP_ETAG")
        if given and given.strip('"').lower() != etag:
            return PutOutcome(422, body=b"Etag does not match the manifest's segments")
        return self._store(json.dumps(entries).encode("utf-8"), etag, total)

    def _store(self, body: bytes, etag: str, total: int) -> PutOutcome:
        env = {k: v for k, v in self.environ.items()
               if k not in ("HTTP_ETAG", "HTTP_TRANSFER_ENCODING", "HTTP_EXPECT")}
        env.update(make_environ(self.environ, "PUT", self.environ["PATH_INFO"],
                                query_without(self.environ, "multipart-manifest",
                                              "heartbeat"), body=body))
        env.pop(SHOW_SYSMETA_KEY, None)
        env[BACKEND_HEADERS_KEY] = {"X-Static-Large-Object": "True",
                                    "X-Object-Sysmeta-Slo-Etag": etag,
                                    "X-Object-Sysmeta-Slo-Size": str(total)}
        resp = call(self.slo.app, env)
        answer = resp.read(1 << 16)
        headers = [(k, v) for k, v in resp.header_list if k.lower() != "etag"]
        if resp.status // 100 == 2:
            headers.append(("Etag", quote_etag(etag)))
        return PutOutcome(resp.status, headers, answer)


def heartbeat_body(put: ManifestPut, frequency: float, accept: str):
    """The body of a ``heartbeat=on`` PUT: spaces while it runs, then its outcome."""
    worker = runtime.spawn(put.run)
    while True:
        timer = runtime.Timeout(frequency, False)
        try:
            with timer:
                outcome = worker.wait()
                break
        finally:
            timer.cancel()
        yield b" "
    yield outcome_text(outcome, accept)


def outcome_text(outcome: PutOutcome, accept: str) -> bytes:
    """The final report of a heartbeating PUT, as JSON or text like Swift's."""
    report = {"Response Status": status_line(outcome.status),
              "Response Body": "" if outcome.status // 100 == 2
              else outcome.body.decode("utf-8", "replace"),
              "Etag": outcome.header("etag"),
              "Last Modified": outcome.header("last-modified"),
              "Errors": [[path, reason] for path, reason in outcome.errors]}
    if "application/json" in accept:
        return json.dumps(report).encode("utf-8")
    lines = [f"{key}: {report[key]}" for key in ("Response Status", "Response Body",
                                                 "Etag", "Last Modified")]
    lines.append("Errors:")
    lines += [f"{path}, {reason}" for path, reason in outcome.errors]
    return ("\n".join(lines) + "\n").encode("utf-8")


def parse_or_refuse(body: bytes, max_segments: int) -> list[Requested] | PutOutcome:
    """The requested segments, or a 400 outcome with every problem."""
    try:
        return parse_put_manifest(body, max_segments)
    except ManifestError as err:
        return PutOutcome(400, body=str(err).encode("utf-8"))
