"""``/v1/<account>/<container>``: listings, creation, metadata and ACLs, deletion."""

from __future__ import annotations

from oiofs.common.backend_protocol import (
    ACCOUNT_UPDATE,
    POLICY_INDEX_HEADER,
    deal_update_headers,
)
from oiofs.common.constraints import check_metadata, check_name_lengths
from oiofs.common.container_sync_realms import SyncToError, resolve_sync_to
from oiofs.common.db.listing_format import max_listing_limit
from oiofs.common.exceptions import (
    HTTPBadRequest,
    HTTPConflict,
    HTTPNotFound,
    HTTPServiceUnavailable,
)
from oiofs.common.storage_policy import POLICIES
from oiofs.common.timestamp import Timestamp
from oiofs.proxy.acl import ACLError, clean_acl
from oiofs.proxy.controllers.base import (
    BACKEND_HEADERS_KEY,
    Controller,
    metadata_headers,
    quoted_suffix,
)
from oiofs.proxy.listing import check_listing_query
from oiofs.proxy.quorum import best_status
from oiofs.proxy.response import Response, pass_headers

#: headers only the owner of an account may see or set
OWNER_HEADERS = frozenset(("x-container-read", "x-container-write", "x-container-sync-key",
                           "x-container-sync-to", "x-container-meta-temp-url-key",
                           "x-container-meta-temp-url-key-2"))
ACL_HEADERS = (("X-Container-Read", "HTTP_X_CONTAINER_READ"),
               ("X-Container-Write", "HTTP_X_CONTAINER_WRITE"))
#: container-sync settings (stored like the ACLs, shown to owners only)
SYNC_HEADERS = (("X-Container-Sync-To", "HTTP_X_CONTAINER_SYNC_TO"),
                ("X-Container-Sync-Key", "HTTP_X_CONTAINER_SYNC_KEY"))


class ContainerController(Controller):
    """Container requests."""

    allowed_methods = ("GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS")
    server_type = "container"

    # --- reads ------------------------------------------------------------------------

    def GET(self, req):
        """The listing (GET) or the stats and metadata (HEAD)."""
        account, container = req.account, req.container
        info = self.container_info(req, account, container)
        self.authorize(req, info.read_acl)
        if info.status == 404:
            raise HTTPNotFound()
        query = req.query_string
        if req.method == "GET":
            check_listing_query(query, max_listing_limit("container"))
        ring = self.app.container_ring
        part, nodes = ring.get_nodes(account, container)
        cache_key = f"{account}/{container}"
        generation = self.app.container_cache.generation(cache_key)  # before the read
        resp, status = self.read_db(req, ring, part, nodes,
                                    quoted_suffix(account, container), query, checked=True)
        if resp is None:
            if status == 404:
                self.app.container_cache.invalidate(cache_key)
                raise HTTPNotFound()
            raise HTTPServiceUnavailable()
        if 200 <= resp.status < 300:
            self.set_container_info(account, container, resp.status, resp.headers,
                                    generation)
        return self.relay(req, resp, self.client_headers(req, resp))

    HEAD = GET

    def client_headers(self, req, resp) -> list[tuple[str, str]]:
        """The backend answer's headers a client may see, plus the policy name."""
        out = pass_headers(resp.items)
        if not req.owner:
            out = [(k, v) for k, v in out if k.lower() not in OWNER_HEADERS]
        policy = POLICIES.get_by_index(resp.headers.get(POLICY_INDEX_HEADER.lower()))
        if policy is not None and 200 <= resp.status < 300:
            out.append(("X-Storage-Policy", policy.name))
        return out

    # --- writes -----------------------------------------------------------------------

    def _acl_headers(self, req) -> dict:
        headers = {}
        for name, key in ACL_HEADERS:
            value = req.environ.get(key)
            if value is not None:
                try:
                    headers[name] = clean_acl(name, value)
                except ACLError as err:
                    raise HTTPBadRequest(str(err)) from None
        for name, _key in ACL_HEADERS:
            if req.environ.get("HTTP_X_REMOVE_" + name[2:].upper().replace("-", "_")):
                headers[name] = ""
        if not req.owner:
            # a user the account ACL lets write (read-write) may change the container but
            # not its ACLs: like Swift, the ACL headers are checked, then left out
            return {}
        return headers

    def _sync_headers(self, req) -> dict:
        """``X-Container-Sync-To``/``-Key`` of a PUT or POST (``X-Remove-*`` forms as
        empty values); a sync-to value must name a realm's cluster or an allowed host
        (400 with the reason otherwise, as Swift answers)."""
        headers = {}
        for name, key in SYNC_HEADERS:
            value = req.environ.get(key)
            if req.environ.get("HTTP_X_REMOVE_" + key[len("HTTP_X_"):]):
                value = ""
            if value is None:
                continue
            value = value.strip()
            if name == "X-Container-Sync-To" and value:
                try:
                    resolve_sync_to(value, self.app.sync_realms.realms(),
                                    self.options.allowed_sync_hosts)
                except SyncToError as err:
                    raise HTTPBadRequest(str(err)) from None
            headers[name] = value
        return headers

    def _write_headers(self, req) -> dict:
        """Metadata, ACL and sync headers of a PUT or POST, checked."""
        meta = metadata_headers(req, "container")
        check_metadata(meta, "container")
        if not req.owner:  # like the ACLs, the temp URL keys are the owner's to set
            meta = {k: v for k, v in meta.items() if k.lower() not in OWNER_HEADERS}
        meta.update(self._acl_headers(req))
        sync = self._sync_headers(req)
        if req.owner:  # checked for everyone, stored for owners (like the ACLs)
            meta.update(sync)
        return meta

    def _write(self, req, method: str, headers: dict, with_account_updates: bool) -> int:
        account, container = req.account, req.container
        ring = self.app.container_ring
        part, nodes = ring.get_nodes(account, container)
        headers = self.backend_headers(req, **headers)
        if method != "DELETE":  # system metadata a filter sets (versioning)
            headers.update(req.environ.get(BACKEND_HEADERS_KEY) or {})
        headers["X-Timestamp"] = Timestamp.now().internal
        if with_account_updates:
            apart, anodes = self.app.account_ring.get_nodes(account)
            # every account replica is told by enough container servers that it hears
            # of every acknowledged write, even if only a quorum of container replicas
            # took it (a handoff answers a DELETE 404: it has no database to tell of)
            slot_quorum = self.app.quorum(len(nodes))
            headers_list = [dict(headers, **upd) for upd in deal_update_headers(
                ACCOUNT_UPDATE, apart, anodes, len(nodes), slot_quorum=slot_quorum,
                copies=len(nodes) - slot_quorum + 1)]
        else:
            headers_list = [headers] * len(nodes)
        answers = self.backend.write(ring, part, nodes, method,
                                     quoted_suffix(account, container), headers_list)
        # Every worker must see the change at once (ACLs, policy, existence).
        self.app.container_cache.invalidate(f"{account}/{container}")
        if with_account_updates:
            self.app.account_cache.invalidate(account)
        return best_status([a.status for a in answers], self.app.quorum(len(nodes)))

    def PUT(self, req):
        """Create the container (201) or update it (202)."""
        self.authorize(req)
        check_name_lengths(req.account, req.container)
        headers = self._write_headers(req)
        policy_name = req.text_header("X-Storage-Policy")
        if policy_name is not None:
            policy = POLICIES.get_by_name(policy_name.strip())
            if policy is None or policy.is_deprecated:
                raise HTTPBadRequest(f"Invalid X-Storage-Policy {policy_name!r}")
            index = policy.idx
        else:
            info = self.container_info(req, req.account, req.container)
            index = info.policy_index if info.exists else POLICIES.default.idx
        headers[POLICY_INDEX_HEADER] = str(index)
        self.app.account_controller.ensure_account(req, req.account)
        status = self._write(req, "PUT", headers, True)
        return self._answer(status)

    def POST(self, req):
        """Change metadata or ACLs (204)."""
        self.authorize(req)
        headers = self._write_headers(req)
        status = self._write(req, "POST", headers, False)
        return self._answer(status)

    def DELETE(self, req):
        """Delete an empty container (204; 409 if it holds objects)."""
        self.authorize(req)
        status = self._write(req, "DELETE", {}, True)
        if status == 409:
            raise HTTPConflict()
        return self._answer(status)

    @staticmethod
    def _answer(status: int) -> Response:
        if status == 404:
            raise HTTPNotFound()
        if status >= 500:
            raise HTTPServiceUnavailable()
        return Response.simple(status)
