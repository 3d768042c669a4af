"""``Connection``: the entry point of the client library. For example::

    from oiofs.client import Connection
    conn = Connection("http://127.0.0.1:8080/auth/v1.0", "test:tester", "testing")
    conn.put_container("photos")
    etag = conn.put_object("photos", "cat.jpg", open("cat.jpg", "rb"))
    names = [o["name"] for o in conn.list_objects("photos")]

One ``Connection`` may be shared by many threads: it keeps one token (re-authenticating on
401, and shortly before the token's announced expiry) and a pool of keep-alive HTTP
connections. Each call is one logical operation that retries with backoff what is safe
to retry (``RetryPolicy``) and raises a typed :class:`~oiofs.client.errors.ClientError`
for whatever fails.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO

from oiofs.client import download as _download
from oiofs.client import segments as _segments
from oiofs.client.auth import Credentials, Token, check_auth_url, token_from_answer
from oiofs.client.body import Data, request_body
from oiofs.client.errors import (
    ConfigurationError,
    IntegrityError,
    TransportError,
    Unauthorized,
    status_error,
)
from oiofs.client.listing import MAX_PAGE, ListingPager
from oiofs.client.retry import RetryPolicy
from oiofs.client.transport import ClientResponse, SharedPool, exchange
from oiofs.client.urls import (
    StorageURL,
    metadata_headers,
    query_string,
    quote_path,
)

Headers = dict[str, str]


class Connection:
    """A thread-safe connection to one account of an oiofs (or Swift) cluster.

    Give credentials (``auth_url``, ``user``, ``key``), or a ready ``storage_url`` and
    ``token`` (no re-authentication then), or nothing: the credentials are read from
    ``OIOFS_AUTH_URL``/``OIOFS_USER``/``OIOFS_KEY`` (or ``ST_AUTH``/``ST_USER``/``ST_KEY``).
    Authentication is lazy: the first request does it. With credentials, a
    ``storage_url`` replaces the one the auth service answers (e.g. another address of
    the same proxy), and a ``token`` is used until it is refused.

    ``timeout`` bounds each wait for the server (connect: ``connect_timeout``); ``retry``
    says what is retried; ``max_idle`` is the number of idle keep-alive connections kept.
    """

    def __init__(self, auth_url: str | None = None, user: str | None = None,
                 key: str | None = None, *, storage_url: str | None = None,
                 token: str | None = None, timeout: float = 60.0,
                 connect_timeout: float = 10.0, retry: RetryPolicy | None = None,
                 max_idle: int = 16, sleep: Callable[[float], None] = time.sleep):
        if auth_url or user or key:
            if not (auth_url and user and key):
                raise ConfigurationError("give auth_url, user and key together")
            self.credentials: Credentials | None = Credentials(auth_url, user, key)
        elif storage_url and token:
            self.credentials = None
        else:
            self.credentials = Credentials.from_env()
        if self.credentials is not None:
            check_auth_url(self.credentials.auth_url)
        if token and not storage_url:
            raise ConfigurationError("a token needs its storage_url")
        self._storage_override = storage_url
        self._token: Token | None = None
        self._state: tuple[Token, StorageURL] | None = None
        if storage_url:
            StorageURL.parse(storage_url)  # refuse a bad URL now, not at first use
        if storage_url and token:
            self._set_token(Token(token, storage_url))
        self.retry = retry or RetryPolicy()
        self.pool = SharedPool(conn_timeout=connect_timeout, node_timeout=timeout,
                               max_idle=max_idle)
        self._auth_lock = threading.Lock()
        self._sleep = sleep
        #: how many times this connection authenticated (1 + re-authentications)
        self.auth_count = 0

    def __repr__(self) -> str:
        who = self.credentials.user if self.credentials else "token"
        return f"<oiofs.client.Connection {who} {self.url or '(not authenticated)'}>"

    def close(self) -> None:
        """Close idle connections (the object stays usable: new ones open on demand)."""
        self.pool.close_all()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- authentication -----------------------------------------------------------------

    @property
    def url(self) -> str | None:
        """The storage URL (``http://host:port/v1/AUTH_account``) once authenticated."""
        return self._token.storage_url if self._token else None

    @property
    def token(self) -> str | None:
        """The current token, if any."""
        return self._token.value if self._token else None

    def _set_token(self, token: Token) -> None:
        # one assignment, so that a thread never pairs a token with another's URL
        self._state = (token, StorageURL.parse(token.storage_url))
        self._token = token

    def authenticate(self, stale: str | None = None) -> Token:
        """Get a token now (or reuse the cached one unless it equals ``stale``).

        Raises :class:`~oiofs.client.errors.AuthenticationFailed` when the credentials are
        refused, :class:`~oiofs.client.errors.Unauthorized` when the token was given
        without credentials and is ``stale``.
        """
        with self._auth_lock:
            current = self._token
            if current is not None and current.value != stale and current.fresh():
                return current
            if self.credentials is None:
                if current is not None and current.value != stale:
                    return current
                raise Unauthorized(401, "token refused and no credentials to get another")
            creds = self.credentials
            auth = StorageURL.parse(creds.auth_url)
            path = creds.auth_url.split(auth.netloc, 1)[1] or "/"
            for retry in range(self.retry.retries + 1):
                try:
                    resp = exchange(self.pool, auth.host, auth.port, "GET", path,
                                    {"X-Auth-User": creds.user, "X-Auth-Key": creds.key},
                                    None, creds.auth_url)
                    body = resp.error_body() if resp.status // 100 != 2 else b""
                    resp.close()
                except TransportError:
                    if not self.retry.may_retry("GET", retry + 1):
                        raise
                    self._sleep(self.retry.delay(retry + 1))
                    continue
                if self.retry.retry_status("GET", resp.status, retry + 1):
                    self._sleep(self.retry.delay(retry + 1))
                    continue
                break
            try:
                token = token_from_answer(resp.status, resp.headers, creds.user)
            except Unauthorized as err:
                err.body = body
                raise
            if self._storage_override:
                token = Token(token.value, self._storage_override, token.expires)
            self._set_token(token)
            self.auth_count += 1
            return token

    # --- the one request path ---------------------------------------------------------

    def request(self, method: str, container: str | None = None, obj: str | None = None,
                *, query: dict | None = None, headers: Headers | None = None,
                data: Data | None = None, length: int | None = None,
                md5: bool = False, accept: Callable[[int], bool] | None = None,
                ) -> ClientResponse:
        """Make one request on the account (or a container, or an object) and return the
        answer with its body still to read (use it as a context manager).

        Retries per :attr:`retry` (connection errors and 5xx, idempotent methods, bodies
        that can be sent again), re-authenticates once on 401, and raises the typed
        :class:`~oiofs.client.errors.HTTPStatusError` for an answer ``accept`` refuses
        (default: anything but 2xx). ``data`` is streamed (see
        :func:`oiofs.client.body.request_body`); with ``md5`` its MD5 is computed on the
        way and left in the response as ``sent_md5``.
        """
        method = method.upper()
        body = request_body(data, length, md5=md5)
        replayable = body is None or body.replayable
        accept = accept or _is_2xx
        reauthed = False
        retry = 0
        while True:
            token = self._current_token()
            target = self._target(token)
            path = quote_path(target.path, container, obj) + query_string(query)
            out = dict(headers or {})
            out["X-Auth-Token"] = token.value
            url = target.url(path)
            try:
                resp = exchange(self.pool, target.host, target.port, method, path, out,
                                body, url)
            except TransportError:
                retry += 1
                if not self.retry.may_retry(method, retry, replayable):
                    raise
                self._sleep(self.retry.delay(retry))
                continue
            if resp.status == 401 and not reauthed and self.credentials is not None \
                    and replayable:
                resp.error_body()
                reauthed = True
                self.authenticate(stale=token.value)
                continue
            if not accept(resp.status) and self.retry.retry_status(method, resp.status,
                                                                    retry + 1, replayable):
                resp.error_body()
                retry += 1
                self._sleep(self.retry.delay(retry))
                continue
            if not accept(resp.status):
                raise status_error(resp.status, resp.reason, method, url, resp.headers,
                                   resp.error_body())
            resp.sent_md5 = body.md5 if body is not None else None
            return resp

    def _target(self, token: Token) -> StorageURL:
        """The parsed storage URL of ``token`` (cached for the current token)."""
        state = self._state
        if state is not None and state[0] is token:
            return state[1]
        return StorageURL.parse(token.storage_url)

    def _current_token(self) -> Token:
        token = self._token
        if token is None or not token.fresh():
            token = self.authenticate(stale=token.value if token else None)
        return token

    def _simple(self, method: str, container: str | None = None, obj: str | None = None,
                **kwargs) -> Headers:
        with self.request(method, container, obj, **kwargs) as resp:
            resp.read_all()
            return resp.headers

    def info(self) -> dict:
        """The cluster's capabilities (``GET /info`` on the storage URL's server: limits,
        ``slo``, ``dlo``...). Needs no token, but the storage URL (so credentials or a
        ``storage_url``)."""
        target = self._target(self._current_token())
        url = target.url("/info")
        for retry in range(self.retry.retries + 1):
            try:
                resp = exchange(self.pool, target.host, target.port, "GET", "/info", {},
                                None, url)
            except TransportError:
                if not self.retry.may_retry("GET", retry + 1):
                    raise
                self._sleep(self.retry.delay(retry + 1))
                continue
            if resp.status == 200:
                return json.loads(resp.read_all())
            body = resp.error_body()
            if not self.retry.retry_status("GET", resp.status, retry + 1):
                break
            self._sleep(self.retry.delay(retry + 1))
        raise status_error(resp.status, resp.reason, "GET", url, resp.headers, body)

    # --- account ----------------------------------------------------------------------

    def head_account(self) -> Headers:
        """The account's headers (``x-account-container-count``, ``x-account-bytes-used``,
        ``x-account-meta-*``...), lower-case names."""
        return self._simple("HEAD")

    def post_account(self, metadata: dict[str, str] | None = None,
                     remove: tuple[str, ...] = (), headers: Headers | None = None) -> None:
        """Set (or ``remove``) account metadata; other metadata is kept."""
        self._simple("POST", headers={**metadata_headers("account", metadata, remove),
                                      **(headers or {})})

    def list_containers(self, prefix: str | None = None, *, marker: str = "",
                        end_marker: str | None = None, reverse: bool = False,
                        limit: int | None = None, page_size: int = MAX_PAGE,
                        ) -> Iterator[dict]:
        """The account's containers (``name``, ``count``, ``bytes``, ``last_modified``),
        in name order (or reverse), fetched lazily page by page."""
        return self._listing(None, ListingPager(prefix, None, marker, end_marker, reverse,
                                                page_size, limit))

    # --- containers -------------------------------------------------------------------

    def head_container(self, container: str) -> Headers:
        """The container's headers (object count, bytes used, metadata, ACLs...)."""
        return self._simple("HEAD", container)

    def put_container(self, container: str, metadata: dict[str, str] | None = None,
                      headers: Headers | None = None) -> None:
        """Create the container (no error if it exists: metadata given is then set)."""
        self._simple("PUT", container,
                     headers={**metadata_headers("container", metadata), **(headers or {})})

    def post_container(self, container: str, metadata: dict[str, str] | None = None,
                       remove: tuple[str, ...] = (), headers: Headers | None = None) -> None:
        """Set (or ``remove``) container metadata or headers (ACLs...); others are kept."""
        self._simple("POST", container,
                     headers={**metadata_headers("container", metadata, remove),
                              **(headers or {})})

    def delete_container(self, container: str) -> None:
        """Delete an empty container (:class:`~oiofs.client.errors.Conflict` if it is not,
        :class:`~oiofs.client.errors.NotFound` if there is none)."""
        self._simple("DELETE", container)

    def list_objects(self, container: str, prefix: str | None = None, *,
                     delimiter: str | None = None, marker: str = "",
                     end_marker: str | None = None, reverse: bool = False,
                     limit: int | None = None, page_size: int = MAX_PAGE,
                     ) -> Iterator[dict]:
        """The container's objects (``name``, ``bytes``, ``hash``, ``content_type``,
        ``last_modified``), and with a ``delimiter`` pseudo-folders as ``{"subdir": ...}``,
        fetched lazily page by page (one request per ``page_size`` entries)."""
        return self._listing(container, ListingPager(prefix, delimiter, marker, end_marker,
                                                     reverse, page_size, limit))

    def _listing(self, container: str | None, pager: ListingPager) -> Iterator[dict]:
        if pager.done:  # the first request is made now, so a missing container raises here
            return iter(())
        first = self._listing_page(container, pager)
        return _pages(self, container, pager, first)

    def _listing_page(self, container: str | None, pager: ListingPager) -> list[dict]:
        with self.request("GET", container, query=pager.params()) as resp:
            raw = resp.read_all() if resp.status != 204 else b""
        entries = json.loads(raw) if raw.strip() else []
        return pager.feed(entries)

    # --- objects ----------------------------------------------------------------------

    def head_object(self, container: str, obj: str, headers: Headers | None = None) -> Headers:
        """The object's headers (``content-length``, ``etag``, ``x-object-meta-*``...)."""
        return self._simple("HEAD", container, obj, headers=headers)

    def post_object(self, container: str, obj: str, metadata: dict[str, str] | None = None,
                    headers: Headers | None = None) -> None:
        """Replace the object's metadata (and updatable headers) with the ones given."""
        self._simple("POST", container, obj,
                     headers={**metadata_headers("object", metadata), **(headers or {})})

    def put_object(self, container: str, obj: str, data: Data, *,
                   length: int | None = None, content_type: str | None = None,
                   metadata: dict[str, str] | None = None, headers: Headers | None = None,
                   verify: bool = True, query: dict | None = None) -> str:
        """Store ``data`` (bytes, a file object read from its position, or an iterable of
        chunks), streamed; returns the object's ETag.

        With ``verify`` the MD5 of what was sent is computed on the way and compared with
        the ETag the cluster answers (:class:`~oiofs.client.errors.IntegrityError` if they
        differ). A bytes or seekable-file body is retried per the policy; an iterator is
        sent once. For big files use :meth:`upload` (segmented).
        """
        out = metadata_headers("object", metadata)
        if content_type:
            out["Content-Type"] = content_type
        out.update(headers or {})
        with self.request("PUT", container, obj, headers=out, data=data, length=length,
                          md5=verify, query=query) as resp:
            resp.read_all()
        etag = resp.headers.get("etag", "").strip('"')
        if verify and resp.sent_md5 and etag != resp.sent_md5 and not query:
            raise IntegrityError(f"PUT {container}/{obj}: sent MD5 {resp.sent_md5}, the "
                                 f"cluster answered ETag {etag} (trans-id {resp.trans_id})")
        return etag

    def get_object(self, container: str, obj: str, *, headers: Headers | None = None,
                   query: dict | None = None, resume: int | None = None,
                   chunk_size: int = 65536) -> _download.ObjectDownload:
        """Start a download; the returned :class:`~oiofs.client.download.ObjectDownload`
        has the answer's ``status`` and ``headers`` and yields the body in chunks.

        A connection broken mid-body is resumed (``Range`` from the next byte, ``If-Match``
        the first answer's ETag) up to ``resume`` times (default: the retry policy's
        ``retries``); :class:`~oiofs.client.errors.ObjectChanged` if the object changed
        meanwhile. ``headers`` may carry a single ``Range`` and conditions.
        """
        return _download.ObjectDownload(
            self, container, obj, headers or {}, query,
            self.retry.retries if resume is None else resume, chunk_size)

    def download(self, container: str, obj: str, dest: str | BinaryIO, *,
                 headers: Headers | None = None, verify: bool = True,
                 resume: int | None = None, threads: int = 1,
                 part_size: int = _segments.DEFAULT_SEGMENT_SIZE) -> Headers:
        """Write the object into ``dest`` (a path or a binary file object), streamed and
        resumed as :meth:`get_object`; returns the answer's headers.

        With ``threads`` > 1 and a path, an object bigger than ``part_size`` is fetched as
        that many ranged GETs at a time, all pinned to one version with ``If-Match``
        (:func:`oiofs.client.download.download_parallel`). With ``verify``, a whole plain
        object's MD5 is checked against its ETag
        (:class:`~oiofs.client.errors.IntegrityError`); large objects and ranges have no
        such ETag and are not checked.
        """
        if threads > 1 and isinstance(dest, str):
            return _download.download_parallel(self, container, obj, dest, threads,
                                               part_size, verify, headers)
        return _download.download_to(self.get_object(container, obj, headers=headers,
                                                      resume=resume), dest, verify)

    def delete_object(self, container: str, obj: str, *, segments: bool = False,
                      headers: Headers | None = None) -> None:
        """Delete the object; with ``segments`` an SLO's segments too
        (``?multipart-manifest=delete``; a plain object then answers 400)."""
        query = {"multipart-manifest": "delete"} if segments else None
        self._simple("DELETE", container, obj, query=query, headers=headers)

    def copy_object(self, container: str, obj: str, dest_container: str, dest_obj: str, *,
                    metadata: dict[str, str] | None = None, fresh_metadata: bool = False,
                    headers: Headers | None = None) -> str:
        """Server-side copy (``PUT`` with ``X-Copy-From``); the new object's ETag. The
        source's metadata is kept (merged with ``metadata``) unless ``fresh_metadata``."""
        out = {"X-Copy-From": quote_path("", container, obj),
               **metadata_headers("object", metadata)}
        if fresh_metadata:
            out["X-Fresh-Metadata"] = "true"
        out.update(headers or {})
        return self._simple("PUT", dest_container, dest_obj, headers=out,
                            data=b"").get("etag", "").strip('"')

    def upload(self, container: str, obj: str, source: str | BinaryIO, *,
               segment_size: int = _segments.DEFAULT_SEGMENT_SIZE,
               threads: int = _segments.DEFAULT_THREADS,
               segment_container: str | None = None, content_type: str | None = None,
               metadata: dict[str, str] | None = None) -> str:
        """Store a file (path or seekable binary file); one PUT when it fits in
        ``segment_size``, else an SLO whose segments are uploaded ``threads`` at a time
        (docs/client.md). Returns the object's ETag (the SLO ETag for a large one)."""
        return _segments.upload(self, container, obj, source, segment_size, threads,
                                segment_container, content_type, metadata)

    def delete_objects(self, container: str, names, *, threads: int = 8,
                       ) -> dict[str, int | Exception]:
        """Delete many objects with ``threads`` DELETEs in parallel (the cluster has no
        bulk-delete middleware); ``{name: 204 or 404, or the exception}`` per name."""
        from oiofs.client.bulk import delete_many
        return delete_many(self, container, names, threads)


def _is_2xx(status: int) -> bool:
    return 200 <= status < 300


def _pages(conn: Connection, container: str | None, pager: ListingPager,
           first: list[dict]) -> Iterator[dict]:
    yield from first
    while not pager.done:
        yield from conn._listing_page(container, pager)

