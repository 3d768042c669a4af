"""What every proxy controller shares: authorization, cached infos, CORS, backend headers.

A controller is created once per application and handles many requests: it keeps no
per-request state. Each verb is a method named after it (``GET(req) -> Response``);
:meth:`Controller.handle` dispatches and adds CORS headers to the answer.
"""

from __future__ import annotations

import os
from typing import Protocol
from urllib.parse import quote

from oiofs.common.access_log import note_policy
from oiofs.common.backend_protocol import PUT_TIMESTAMP_HEADER, TRANS_ID_HEADER
from oiofs.common.exceptions import HTTPError, HTTPMethodNotAllowed, HTTPUnauthorized
from oiofs.common.http.header_names import title_case
from oiofs.common.timestamp import Timestamp
from oiofs.proxy.checked_listing import existence_vote, read_listing_checked
from oiofs.proxy.container_info import AccountInfo, ContainerInfo
from oiofs.proxy.merged_listing import ROW_KINDS
from oiofs.proxy.request import ProxyRequest
from oiofs.proxy.response import Response
from oiofs.proxy.streaming import BackendBody

#: the key under which an auth middleware puts its authorization callback
AUTHORIZE_KEY = "oiofs.authorize"
#: the key under which controllers give the auth middleware ``account -> account ACL``
#: (parsed, see :func:`oiofs.proxy.acl.parse_account_acl`; read only when needed)
ACCOUNT_ACL_KEY = "oiofs.account_acl"
#: environ key: when true, a filter in front of the auth filter (tempurl) has already
#: decided who the request is and put its own callback under AUTHORIZE_KEY; the auth
#: filter leaves both alone
AUTHORIZE_OVERRIDE_KEY = "oiofs.authorize_override"
#: environ key: when true, object answers keep their ``X-Object-Sysmeta-*`` headers (set
#: by filters on their own subrequests; they never pass them on to a client)
SHOW_SYSMETA_KEY = "oiofs.show_sysmeta"
#: environ key: a dict of extra headers a filter has an object PUT store (system metadata
#: such as ``X-Static-Large-Object``); clients cannot set environ keys, only headers
BACKEND_HEADERS_KEY = "oiofs.backend_headers"
#: environ key: the ``X-Timestamp`` a verified container-sync request keeps (set by the
#: container_sync filter only): object PUT and DELETE use it instead of the time now, so
#: both clusters agree on which version is newest
SYNC_TIMESTAMP_KEY = "oiofs.sync_timestamp"
#: environ key: the storage policy index an object request reads or writes instead of
#: the container's (set only in-process, by the container-reconciler moving an object
#: between policies; clients cannot set environ keys); its answers keep every backend
#: header (``X-Backend-Timestamp``...)
POLICY_INDEX_KEY = "oiofs.policy_index"
#: environ key: true when the auth filter knows the user is a reseller admin (the only
#: users who may set account quotas)
RESELLER_REQUEST_KEY = "oiofs.reseller_request"
#: backend headers compared by ``X-Newest`` for accounts and containers, newest first
DB_NEWEST_KEYS = (PUT_TIMESTAMP_HEADER.lower(), "x-put-timestamp", "x-timestamp")


class Traced(Protocol):
    """What an info look-up needs of a request: its transaction id."""

    trans_id: str


def write_timestamp(req: ProxyRequest) -> Timestamp:
    """The timestamp of an object write: the time now, or the sender's for a verified
    container-sync request."""
    synced = req.environ.get(SYNC_TIMESTAMP_KEY)
    return Timestamp(synced) if synced else Timestamp.now()


def quoted_suffix(account: str, container: str | None = None, obj: str | None = None) -> str:
    """``/<account>[/<container>[/<object>]]`` percent-encoded for a backend path."""
    path = "/" + account
    if container is not None:
        path += "/" + container
        if obj is not None:
            path += "/" + obj
    return quote(path, safe="/")


class Controller:
    """Base of the account, container and object controllers."""

    #: the verbs this controller answers (others get 405)
    allowed_methods: tuple[str, ...] = ()
    #: name of the backend server type, for logs
    server_type = ""

    def __init__(self, app):
        self.app = app
        self.backend = app.backend
        self.options = app.options

    # --- dispatch ---------------------------------------------------------------------

    def handle(self, req: ProxyRequest) -> Response:
        """Answer ``req`` with the verb's method; CORS headers added when asked for."""
        method = req.method
        if method not in self.allowed_methods:
            raise HTTPMethodNotAllowed(headers={"Allow": ", ".join(self.allowed_methods)})
        origin = req.environ.get("HTTP_ORIGIN")
        if origin is None or method == "OPTIONS":
            return getattr(self, method)(req)
        try:
            resp = getattr(self, method)(req)
        except HTTPError as err:
            resp = Response.from_error(err)
        self.add_cors(req, resp, origin)
        return resp

    def add_cors(self, req: ProxyRequest, resp: Response, origin: str) -> None:
        """Add ``Access-Control-*`` headers when the container allows ``origin``."""
        cors = None
        if req.container is not None:
            info = self.container_info(req, req.account, req.container)
            cors = info.cors
        resp.headers.extend(self.app.cors_policy.response_headers(
            origin, cors, [name for name, _ in resp.headers]))

    # --- authorization ----------------------------------------------------------------

    def authorize(self, req: ProxyRequest, acl: str | None = None,
                  target: tuple | None = None, method: str | None = None) -> None:
        """Let the auth middleware allow or refuse ``req`` (raises 401/403).

        ``acl`` is the container ACL that applies; ``target`` an ``(account, container,
        object)`` other than the request's own (a copy source), ``method`` the verb to
        check instead of the request's. Without an auth middleware every request is the
        owner's. The middleware may look up an account's own ACL through
        ``environ[ACCOUNT_ACL_KEY]`` (from the cached account info, read only when asked).
        """
        authorize = req.environ.get(AUTHORIZE_KEY)
        if authorize is None:
            req.owner = True
            return
        environ = req.environ
        environ[ACCOUNT_ACL_KEY] = lambda account: self.account_info(req, account).acl
        try:
            authorize(req, acl, target, method)
        finally:
            # the lambda holds ``req``, which holds the environ: left there, it would make
            # every request's environ wait for the cyclic garbage collector
            environ.pop(ACCOUNT_ACL_KEY, None)

    def deny_anonymous(self, req: ProxyRequest) -> None:
        """401 for requests without a user (used before revealing anything)."""
        if req.remote_user is None and req.environ.get(AUTHORIZE_KEY) is not None:
            raise HTTPUnauthorized()

    # --- backend helpers --------------------------------------------------------------

    def backend_headers(self, req: Traced, **extra) -> dict:
        """Headers every backend request of ``req`` carries: its transaction id, and the
        proxy worker as ``User-Agent`` (Swift's ``proxy-server <pid>``) for the servers'
        access lines."""
        headers = {TRANS_ID_HEADER: req.trans_id, "User-Agent": f"proxy-server {os.getpid()}"}
        headers.update(extra)
        return headers

    def container_info(self, req: Traced, account: str,
                       container: str) -> ContainerInfo:
        """The container's info, from the cache or a ``HEAD`` to its servers.

        The container's policy goes into the request's access line.
        """
        info = self.app.container_cache.get(f"{account}/{container}")
        if info is None:
            info = self._fetch_container_info(req, account, container)
        environ = getattr(req, "environ", None)    # filters' look-ups have none
        if environ is not None and info.status < 300:
            note_policy(environ, info.policy_index)
        return info

    def _fetch_container_info(self, req: Traced, account: str,
                              container: str) -> ContainerInfo:
        key = f"{account}/{container}"
        cache = self.app.container_cache
        generation = cache.generation(key)
        ring = self.app.container_ring
        part, nodes = ring.get_nodes(account, container)
        # the state a quorum of replicas agrees on: a replica that missed the
        # container's PUT, POST (ACLs, policy...) or DELETE is outvoted; their rows
        # need not agree (object requests use none of them)
        resp, status = read_listing_checked(
            self.backend, self.backend.iter_read_nodes(ring, part, nodes,
                                                       self.options.node_count(len(nodes))),
            "HEAD", part, quoted_suffix(account, container), self.backend_headers(req),
            self.app.quorum(len(nodes)), len(nodes), vote=existence_vote)
        if resp is not None:
            info = ContainerInfo.from_headers(resp.status, resp.headers)
            resp.discard()
        else:
            info = ContainerInfo(status)
        if info.status != 503:
            cache.set(key, info, generation)
        return info

    def set_container_info(self, account: str, container: str, status: int,
                           headers: dict, generation: int) -> None:
        """Cache what a container ``HEAD``/``GET`` that passed through said."""
        self.app.container_cache.set(f"{account}/{container}",
                                     ContainerInfo.from_headers(status, headers), generation)

    def account_info(self, req: ProxyRequest, account: str) -> AccountInfo:
        """The account's info, from the cache or a ``HEAD`` to its servers."""
        cache = self.app.account_cache
        info = cache.get(account)
        if info is not None:
            return info
        generation = cache.generation(account)
        ring = self.app.account_ring
        part, nodes = ring.get_nodes(account)
        resp, _node, status = self.backend.read(
            self.backend.iter_read_nodes(ring, part, nodes,
                                         self.options.node_count(len(nodes))),
            "HEAD", part, quoted_suffix(account), self.backend_headers(req),
            self.app.quorum(len(nodes)))
        if resp is not None:
            info = AccountInfo.from_headers(resp.status, resp.headers)
            resp.discard()
        else:
            info = AccountInfo(status)
        if info.status != 503:
            cache.set(account, info, generation)
        return info

    # --- CORS preflight -----------------------------------------------------------------

    # --- account and container reads ---------------------------------------------------

    def read_db(self, req: ProxyRequest, ring, part: int, nodes: list, suffix: str,
                query: str, checked: bool = False):
        """HEAD/GET an account or container from its nodes: ``(resp, status)``.

        The client's ``Accept`` is passed on; ``checked`` serves an answer whose rows (and
        put timestamp) a quorum of replicas agrees on (:mod:`oiofs.proxy.checked_listing`),
        and so does ``X-Newest`` on such a read: the newest put timestamp alone can pick a
        replica that missed acknowledged rows (replicas tie on it, and one still catching
        up, or serving rows its pending file has not merged, would win as often as any).
        Without ``checked``, ``X-Newest`` asks every primary and the newest answer wins.
        ``resp`` is ``None`` when no node answered well, and ``status`` then says how they
        failed.
        """
        headers = self.backend_headers(req)
        accept = req.environ.get("HTTP_ACCEPT")
        if accept:
            headers["Accept"] = accept
        node_iter = self.backend.iter_read_nodes(ring, part, nodes,
                                                 self.options.node_count(len(nodes)))
        quorum = self.app.quorum(len(nodes))
        if req.true_header("X-Newest") and not checked:
            resp, _node, status = self.backend.read_newest(
                node_iter, req.method, part, suffix, headers, quorum, len(nodes), query,
                DB_NEWEST_KEYS)
        elif checked:
            resp, status = read_listing_checked(self.backend, node_iter, req.method, part,
                                                suffix, headers, quorum, len(nodes), query,
                                                ROW_KINDS[self.server_type])
        else:
            resp, _node, status = self.backend.read(node_iter, req.method, part, suffix,
                                                    headers, quorum, query)
        return resp, status

    def relay(self, req: ProxyRequest, resp, headers: list) -> Response:
        """The client's answer with ``resp``'s body: none for HEAD, read at once when it
        fits one chunk, streamed otherwise. A 204 says ``Content-Length: 0``, as Swift's
        do (some clients wait for a length before they reuse the connection)."""
        if resp.status == 204 and resp.getheader("content-length") is None:
            headers.append(("Content-Length", "0"))
        if req.method == "HEAD":
            resp.discard()
            return Response(resp.status, headers, [])
        chunk_size = self.options.object_chunk_size
        if resp.content_length is not None and resp.content_length <= chunk_size:
            return Response(resp.status, headers, [resp.read_all()])
        return Response(resp.status, headers, BackendBody(resp, chunk_size))

    def OPTIONS(self, req: ProxyRequest) -> Response:
        """CORS preflight, answered without authentication (200 or 401)."""
        allowed = list(self.allowed_methods)
        origin = req.environ.get("HTTP_ORIGIN")
        if origin is None:
            return Response.simple(200, headers=[("Allow", ", ".join(allowed))])
        cors = None
        if req.container is not None:
            cors = self.container_info(req, req.account, req.container).cors
        headers = self.app.cors_policy.preflight(
            origin, req.environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD"),
            req.environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS"), cors, allowed)
        if headers is None:
            return Response.from_error(HTTPUnauthorized())
        return Response.simple(200, headers=list(headers.items()))


def metadata_headers(req: ProxyRequest, kind: str) -> dict:
    """User metadata of ``req`` for ``kind`` (``account``/``container``/``object``).

    ``X-Remove-<Kind>-Meta-Name`` becomes ``X-<Kind>-Meta-Name`` with an empty value
    (which the storage servers take as "delete this item").
    """
    title = kind.title()
    set_key = f"HTTP_X_{kind.upper()}_META_"
    remove_key = f"HTTP_X_REMOVE_{kind.upper()}_META_"
    headers = {}
    removed = []
    for key, value in req.environ.items():
        if not key.startswith("HTTP_X_"):
            continue
        if key.startswith(set_key):
            headers[f"X-{title}-Meta-" + title_case(key[len(set_key):].replace("_", "-"))] \
                = value
        elif key.startswith(remove_key):
            removed.append(title_case(key[len(remove_key):].replace("_", "-")))
    for name in removed:
        headers[f"X-{title}-Meta-{name}"] = ""
    return headers
