"""``/v1/<account>``: container listings, account metadata, and account creation."""

from __future__ import annotations

from oiofs.common.backend_protocol import BACKEND_PREFIX
from oiofs.common.constraints import check_metadata, check_name_lengths
from oiofs.common.db.listing_format import max_listing_limit
from oiofs.common.exceptions import (
    HTTPBadRequest,
    HTTPGone,
    HTTPMethodNotAllowed,
    HTTPNotFound,
    HTTPServiceUnavailable,
)
from oiofs.common.timestamp import Timestamp
from oiofs.proxy.acl import (
    ACCOUNT_ACL_HEADER,
    ACCOUNT_ACL_SYSMETA,
    ACLError,
    check_account_acl,
    format_account_acl,
    parse_account_acl,
)
from oiofs.proxy.backend import node_path
from oiofs.proxy.controllers.base import (
    BACKEND_HEADERS_KEY,
    Controller,
    metadata_headers,
    quoted_suffix,
)
from oiofs.proxy.listing import (
    check_listing_query,
    empty_account_listing,
    listing_format,
)
from oiofs.proxy.quorum import best_status
from oiofs.proxy.response import Response, pass_headers

#: account response headers clients never see (system metadata, internal headers)
HIDDEN_PREFIXES = (BACKEND_PREFIX, "x-account-sysmeta-")
#: headers only the account's owner may see
OWNER_HEADERS = frozenset(("x-account-meta-temp-url-key", "x-account-meta-temp-url-key-2"))


def account_acl_headers(req) -> dict:
    """The account ACL a PUT/POST sets, as the system metadata that stores it.

    ``HTTPBadRequest`` with Swift's reason when the value is not a valid ACL.
    """
    value = req.environ.get("HTTP_X_ACCOUNT_ACCESS_CONTROL")
    if value is None:
        return {}
    try:
        check_account_acl(value)
    except ACLError as err:
        raise HTTPBadRequest(f"{ACCOUNT_ACL_HEADER} invalid: {err}\n\nInput: {value}\n") \
            from None
    return {ACCOUNT_ACL_SYSMETA: value}


def client_headers(req, resp) -> list[tuple[str, str]]:
    """The backend answer's headers a client may see; owners also see the account ACL."""
    out = pass_headers(resp.items, HIDDEN_PREFIXES)
    if not req.owner:  # users the account ACL lets read do not see the temp URL keys
        out = [(k, v) for k, v in out if k.lower() not in OWNER_HEADERS]
    if req.owner:
        acl = parse_account_acl(resp.headers.get(ACCOUNT_ACL_SYSMETA.lower()))
        if acl is not None:
            out.append((ACCOUNT_ACL_HEADER, format_account_acl(acl)))
    return out


class AccountController(Controller):
    """Account requests."""

    allowed_methods = ("GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS")
    server_type = "account"

    def GET(self, req):
        """The container listing (GET) or the account's stats and metadata (HEAD).

        With ``account_autocreate`` an account not created yet answers like an empty one.
        """
        self.authorize(req)
        query = req.query_string
        if req.method == "GET":
            check_listing_query(query, max_listing_limit("account"))
        ring = self.app.account_ring
        part, nodes = ring.get_nodes(req.account)
        resp, status = self.read_db(req, ring, part, nodes, quoted_suffix(req.account),
                                    query, checked=True)
        if resp is None:
            if status == 404 and self._deleted(req, part, nodes):
                raise HTTPGone()  # as Swift: deleted, until the reaper and reclaim are done
            if status == 404 and self.options.account_autocreate:
                return self._missing_account(req)
            if status == 404:
                raise HTTPNotFound()
            raise HTTPServiceUnavailable()
        return self.relay(req, resp, client_headers(req, resp))

    HEAD = GET

    def _deleted(self, req, part: int, nodes: list) -> bool:
        """True if a primary of a missing account says it was deleted
        (``X-Account-Status: Deleted``); asked only after every node answered 404."""
        suffix = quoted_suffix(req.account)
        for node in nodes:
            resp = self.backend.request_one(node, "HEAD", node_path(node, part, suffix),
                                            self.backend_headers(req))
            if resp is None:
                continue
            status = (resp.getheader("x-account-status") or "").lower()
            resp.discard()
            if status == "deleted":
                return True
        return False

    def _missing_account(self, req) -> Response:
        fmt = listing_format(req.query_string, req.environ.get("HTTP_ACCEPT"))
        status, body, ctype = empty_account_listing(req.account, fmt)
        headers = [("X-Account-Container-Count", "0"), ("X-Account-Object-Count", "0"),
                   ("X-Account-Bytes-Used", "0"),
                   ("X-Timestamp", Timestamp.now().normal), ("Content-Type", ctype)]
        if req.method == "HEAD":
            return Response(204, headers + [("Content-Length", "0")], [])
        return Response(status, headers + [("Content-Length", str(len(body)))],
                        [body] if body else [])

    # --- writes -----------------------------------------------------------------------

    def _write(self, req, account: str, method: str, headers: dict) -> int:
        ring = self.app.account_ring
        part, nodes = ring.get_nodes(account)
        headers = self.backend_headers(req, **headers)
        headers["X-Timestamp"] = Timestamp.now().internal
        answers = self.backend.write(ring, part, nodes, method, quoted_suffix(account),
                                     [headers] * len(nodes))
        self.app.account_cache.invalidate(account)
        return best_status([a.status for a in answers], self.app.quorum(len(nodes)))

    def ensure_account(self, req, account: str) -> None:
        """Make sure ``account`` exists, creating it with ``account_autocreate``.

        ``HTTPNotFound`` if it does not exist and may not be created, 503 if its servers
        cannot tell.
        """
        info = self.account_info(req, account)
        if info.exists:
            return
        if info.status == 404 and self.options.account_autocreate:
            check_name_lengths(account)
            status = self._write(req, account, "PUT", {})
            if 200 <= status < 300:
                return
            if status == 403:
                raise HTTPNotFound("Account was recently deleted")
            raise HTTPServiceUnavailable()
        if info.status == 404:
            raise HTTPNotFound()
        raise HTTPServiceUnavailable()

    def PUT(self, req):
        """Create an account (reseller admins, with ``allow_account_management``)."""
        if not self.options.allow_account_management:
            raise HTTPMethodNotAllowed(headers={"Allow": "GET, HEAD, POST, OPTIONS"})
        acl = account_acl_headers(req)  # checked first, as Swift's tempauth does
        self.authorize(req)
        check_name_lengths(req.account)
        meta = metadata_headers(req, "account")
        check_metadata(meta, "account")
        meta.update(acl)
        meta.update(req.environ.get(BACKEND_HEADERS_KEY) or {})  # a filter's sysmeta
        status = self._write(req, req.account, "PUT", meta)
        return self._answer(status)

    def POST(self, req):
        """Change account metadata or the account ACL (204); creates the account with
        autocreate."""
        acl = account_acl_headers(req)  # checked first, as Swift's tempauth does
        self.authorize(req)
        meta = metadata_headers(req, "account")
        check_metadata(meta, "account")
        meta.update(acl)
        meta.update(req.environ.get(BACKEND_HEADERS_KEY) or {})  # a filter's sysmeta
        self.ensure_account(req, req.account)
        status = self._write(req, req.account, "POST", meta)
        return self._answer(status)

    def DELETE(self, req):
        """Mark an account deleted (reseller admins, with ``allow_account_management``)."""
        if not self.options.allow_account_management:
            raise HTTPMethodNotAllowed(headers={"Allow": "GET, HEAD, POST, OPTIONS"})
        self.authorize(req)
        status = self._write(req, req.account, "DELETE", {})
        return self._answer(status)

    @staticmethod
    def _answer(status: int) -> Response:
        if status == 404:
            raise HTTPNotFound()
        if status >= 500:
            raise HTTPServiceUnavailable()
        return Response.simple(status)
