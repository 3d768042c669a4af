"""The benchmark phases against one account: small objects, large objects, a long listing.

:class:`Bench` creates its own containers (named ``oiofs-bench-<random>-<phase>``), runs
the phases the config asks for, and always deletes what it created, even when a phase
fails or the run is interrupted. Every answer is checked: status, ETag against the MD5 the
client computed, body MD5 and length on reads, names and count on listings.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import secrets
import sys
import time
from collections.abc import Callable

from oiofs.bench.client import BenchClient, Reply, authenticate
from oiofs.bench.config import BenchConfig, format_size
from oiofs.bench.cpu import CpuMeter
from oiofs.bench.errors import SetupFailed, UnexpectedStatus, VerificationFailed
from oiofs.bench.payload import Payloads
from oiofs.bench.report import BenchReport, CleanupResult
from oiofs.bench.runner import run_phase
from oiofs.bench.stats import PhaseResult
from oiofs.client import ClientError

# How long to wait for a listing (or an emptied container) to catch up with writes that
# were acknowledged: a store may update listings asynchronously.
SETTLE_SECONDS = 10.0


def expect(reply: Reply, *statuses: int) -> None:
    """Raise :class:`UnexpectedStatus` unless ``reply.status`` is one of ``statuses``."""
    if reply.status not in statuses:
        text = reply.body[:120].decode("utf-8", "replace").strip()
        raise UnexpectedStatus(f"status {reply.status}" + (f": {text}" if text else ""))


def check(condition: bool, message: str) -> None:
    """Raise :class:`VerificationFailed` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise VerificationFailed(message)


class Bench:
    """One benchmark run; :meth:`run` returns the :class:`BenchReport`."""

    def __init__(self, config: BenchConfig, meter: CpuMeter | None = None,
                 progress: Callable[[str], None] | None = None):
        config.validate()
        self.config = config
        self.meter = meter
        self.progress = progress or (lambda message: print(message, file=sys.stderr))
        self.run_id = f"oiofs-bench-{secrets.token_hex(4)}"
        self.payloads = Payloads()
        self.conns: list[BenchClient] = []
        # container -> {object name: md5}: what exists on the endpoint because of us.
        self.created: dict[str, dict[str, str]] = {}
        self.report: BenchReport | None = None

    # --- the run ------------------------------------------------------------------------

    def run(self) -> BenchReport:
        """Authenticate, run the phases, clean up; the report (also on partial failure)."""
        cfg = self.config
        storage, shared = authenticate(cfg.auth_url, cfg.user, cfg.key, cfg.timeout)
        # One library connection (its keep-alive pool) shared by every worker thread.
        self.conns = [BenchClient(shared) for _ in range(cfg.concurrency)]
        self.report = BenchReport(storage_url=storage.url, config=cfg,
                                  cpu_measured=self.meter is not None)
        try:
            if not cfg.skip_small:
                self._small_objects()
            if not cfg.skip_large:
                self._large_objects()
            if not cfg.skip_list:
                self._listing()
        except SetupFailed as err:
            self.report.setup_errors.append(str(err))
        finally:
            self.report.cleanup = self._cleanup()
            self.report.stale_retries = self.conns[0].stale_retries
            self.conns[0].close()
        return self.report

    def _running_report(self) -> BenchReport:
        """The report of the run in progress (phases run only inside :meth:`run`)."""
        if self.report is None:
            raise RuntimeError("no benchmark run in progress")
        return self.report

    def _phase(self, name: str, items, op, label: str, limit: int | None = None,
               duration: float | None = None,
               conns: list[BenchClient] | None = None) -> PhaseResult:
        self.progress(f"{label} ...")
        result = run_phase(name, conns or self.conns, items, op, limit=limit,
                           duration=duration, meter=self.meter, label=label)
        self._running_report().phases.append(result)
        return result

    # --- containers ---------------------------------------------------------------------

    def _make_container(self, suffix: str) -> str:
        name = f"{self.run_id}-{suffix}"
        policy = self.config.storage_policy
        reply = self.conns[0].request(
            "PUT", name, headers={"X-Storage-Policy": policy} if policy else None)
        if reply.status not in (201, 202):
            raise SetupFailed(f"PUT container {name} answered {reply.status}")
        self.created[name] = {}
        return name

    # --- small objects ------------------------------------------------------------------

    def _small_objects(self) -> None:
        cfg = self.config
        container = self._make_container("small")
        stored = self.created[container]
        size = cfg.size
        label = format_size(size)

        def put(conn: BenchClient, index: int) -> int:
            name = f"obj-{index:08d}"
            body = self.payloads.small(f"{self.run_id}/{name}/", size)
            md5 = hashlib.md5(body).hexdigest()
            reply = conn.request("PUT", container, name,
                                 {"Content-Type": "application/octet-stream"}, body)
            expect(reply, 201)
            stored[name] = md5
            check(reply.etag() == md5, f"ETag {reply.etag()!r} != MD5 {md5}")
            return 0

        def get(conn: BenchClient, name: str) -> int:
            reply = conn.request("GET", container, name)
            expect(reply, 200)
            md5 = hashlib.md5(reply.body).hexdigest()
            check(len(reply.body) == size, f"{len(reply.body)} bytes read, {size} stored")
            check(md5 == stored[name], f"body MD5 {md5} != {stored[name]}")
            check(reply.etag() == md5, f"ETag {reply.etag()!r} != body MD5 {md5}")
            return 0

        def head(conn: BenchClient, name: str) -> int:
            reply = conn.request("HEAD", container, name)
            expect(reply, 200)
            length = reply.headers.get("content-length")
            check(length == str(size), f"Content-Length {length!r} != {size}")
            check(reply.etag() == stored[name], f"ETag {reply.etag()!r} != {stored[name]}")
            return 0

        def delete(conn: BenchClient, name: str) -> int:
            reply = conn.request("DELETE", container, name)
            if reply.status in (204, 404):
                stored.pop(name, None)
            expect(reply, 204)
            return 0

        limit, duration = cfg.objects, cfg.duration
        indexes = range(limit) if limit is not None else itertools.count()
        self._phase("PUT", indexes, put, f"PUT {label}", limit, duration)

        def names():
            listed = sorted(stored)
            return listed if limit is not None else itertools.cycle(listed)
        if stored:
            self._phase("GET", names(), get, f"GET {label}", limit, duration)
            self._phase("HEAD", names(), head, f"HEAD {label}", limit, duration)
            self._phase("DELETE", sorted(stored), delete, f"DELETE {label}", limit, duration)

    # --- large objects ------------------------------------------------------------------

    def _large_objects(self) -> None:
        cfg = self.config
        container = self._make_container("large")
        stored = self.created[container]
        size = cfg.large_size
        label = format_size(size)
        conns = self.conns[:min(cfg.concurrency, cfg.large_count)]

        def put(conn: BenchClient, index: int) -> int:
            name = f"large-{index:04d}"
            body = self.payloads.large(f"{self.run_id}/{name}/", size)
            reply = conn.request("PUT", container, name,
                                 {"Content-Type": "application/octet-stream"},
                                 body=body.chunks, length=size)
            expect(reply, 201)
            stored[name] = body.md5
            check(reply.etag() == body.md5, f"ETag {reply.etag()!r} != MD5 {body.md5}")
            return size

        def get(conn: BenchClient, name: str) -> int:
            digest = hashlib.md5()
            received = 0

            def sink(chunk: bytes) -> None:
                nonlocal received
                digest.update(chunk)
                received += len(chunk)
            reply = conn.request("GET", container, name, sink=sink)
            expect(reply, 200)
            md5 = digest.hexdigest()
            check(received == size, f"{received} bytes read, {size} stored")
            check(md5 == stored[name], f"body MD5 {md5} != {stored[name]}")
            check(reply.etag() == md5, f"ETag {reply.etag()!r} != body MD5 {md5}")
            return received

        self._phase("PUT", range(cfg.large_count), put, f"PUT {label}", conns=conns)
        if stored:
            self._phase("GET", sorted(stored), get, f"GET {label}", conns=conns)

    # --- listing ------------------------------------------------------------------------

    def _list_all(self, conn: BenchClient, container: str) -> tuple[list[str], int]:
        """Every name in ``container``, page by page as a client pages; (names, pages)."""
        names: list[str] = []
        page_size = self.config.list_page
        pages = 0
        while True:
            query = {"format": "json", "limit": page_size}
            if names:
                query["marker"] = names[-1]
            reply = conn.request("GET", container, query=query)
            pages += 1
            if reply.status == 204:
                break
            expect(reply, 200)
            try:
                page = [entry["name"] for entry in json.loads(reply.body)]
            except (ValueError, KeyError, TypeError) as err:
                raise VerificationFailed(f"listing page {pages} is not a JSON list: {err}") \
                    from None
            if not page:
                break
            names.extend(page)
        return names, pages

    def _listing(self) -> None:
        cfg = self.config
        container = self._make_container("list")
        stored = self.created[container]

        def put_empty(conn: BenchClient, name: str) -> int:
            reply = conn.request("PUT", container, name,
                                 {"Content-Type": "application/octet-stream"}, b"")
            expect(reply, 201)
            stored[name] = hashlib.md5(b"").hexdigest()
            return 0

        wanted = [f"item-{i:07d}" for i in range(cfg.list_objects)]
        self._phase("FILL", wanted, put_empty, f"PUT 0 B (fill {cfg.list_objects})")
        self.progress(f"LIST {cfg.list_objects} ...")
        result = PhaseResult(name="LIST", label=f"LIST {cfg.list_objects} objects")
        self._running_report().phases.append(result)
        expected = sorted(stored)
        conn = self.conns[0]
        cpu_before = self.meter.sample() if self.meter else None
        start = time.monotonic()
        try:
            names, pages = self._list_all(conn, container)
        except (UnexpectedStatus, ClientError) as err:
            result.errors += 1
            result.note(f"LIST: {type(err).__name__}: {err}")
            return
        except VerificationFailed as err:
            result.failures += 1
            result.note(f"LIST: {err}")
            return
        result.elapsed = time.monotonic() - start
        if self.meter is not None and cpu_before is not None:
            result.cpu_seconds = self.meter.sample() - cpu_before
        result.latencies.append(result.elapsed)
        result.extra.update(objects=len(expected), listed=len(names), pages=pages,
                            settle_s=0.0)
        if names != expected:
            self._settle_listing(conn, container, expected, names, result)
        else:
            result.ops = 1

    def _settle_listing(self, conn: BenchClient, container: str, expected: list[str],
                        names: list[str], result: PhaseResult) -> None:
        """The first listing differed: poll until it matches (a late async update is slow
        but correct) or until :data:`SETTLE_SECONDS` (then it is a verification failure)."""
        start = time.monotonic()
        while time.monotonic() - start < SETTLE_SECONDS:
            try:
                names, _ = self._list_all(conn, container)
            except (UnexpectedStatus, VerificationFailed, ClientError):
                pass
            if names == expected:
                result.ops = 1
                result.extra["settle_s"] = round(time.monotonic() - start, 3)
                return
            time.sleep(0.2)
        missing = len(set(expected) - set(names))
        extra = len(set(names) - set(expected))
        result.failures += 1
        result.note(f"LIST: {len(names)} names listed, {len(expected)} stored "
                    f"({missing} missing, {extra} unexpected, order "
                    f"{'ok' if names == sorted(names) else 'wrong'})")

    # --- cleanup ------------------------------------------------------------------------

    def _cleanup(self) -> CleanupResult:
        """Delete every object and container this run created; what that took."""
        cleanup = CleanupResult()
        for container, stored in self.created.items():
            if stored:
                def delete(conn: BenchClient, name: str, stored=stored, container=container):
                    reply = conn.request("DELETE", container, name)
                    expect(reply, 204, 404)
                    stored.pop(name, None)
                    return 0
                self.progress(f"cleanup: {len(stored)} objects in {container} ...")
                result = run_phase("cleanup", self.conns, sorted(stored), delete)
                cleanup.objects += result.ops
                cleanup.errors += result.errors + result.failures
                cleanup.messages.extend(result.messages)
            if self._delete_container(container, cleanup):
                cleanup.containers += 1
        return cleanup

    def _delete_container(self, container: str, cleanup: CleanupResult) -> bool:
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            try:
                reply = self.conns[0].request("DELETE", container)
            except ClientError as err:
                reply = Reply(0, {}, str(err).encode())
            if reply.status in (204, 404):
                return True
            # 409: the listing still shows objects we deleted; it catches up shortly.
            if reply.status != 409 or time.monotonic() > deadline:
                cleanup.errors += 1
                cleanup.messages.append(f"DELETE container {container}: {reply.status}")
                return False
            time.sleep(0.2)
