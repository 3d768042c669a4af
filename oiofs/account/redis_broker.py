"""``RedisAccountBroker``: one account of the Redis store, seen as the account server's
broker (``backend = redis`` in ``account-server.conf``).

It offers the :class:`~oiofs.account.backend.AccountBroker` calls the Swift-protocol
account server makes, mapped onto :class:`~oiofs.account.redis_backend.RedisAccountBackend`:

* a container report's ``X-Put-Timestamp`` and ``X-Delete-Timestamp`` are the container's
  ``mtime`` and ``dtime``; a report with the stored times replaces the counters (the
  container's later view with the same timestamps, as sqlite's merge does) and one older
  than the stored times is ignored; the storage policy index keeps per-policy stats;
* the account's own put and delete timestamps, status and metadata (with the timestamp of
  each value) live in its Redis hash; an account DELETE marks it deleted and lets Redis
  expire it after ``deleted_account_ttl`` (the sqlite backend waits for ``reclaim_age``).

All account servers of a cluster share the one Redis, so the three replicas of a request
make the same (idempotent) change three times; there is nothing to replicate or audit.
"""

from __future__ import annotations

from oiofs.account.redis_backend import NoUpdateNeeded, RedisAccountBackend
from oiofs.common.exceptions import DbAlreadyExists, HTTPForbidden
from oiofs.common.timestamp import Timestamp

USER_META_PREFIX = "x-account-meta-"


class RedisAccountBroker:
    """The account ``account`` in the Redis store (made per request; holds no state)."""

    db_type = "account"

    def __init__(self, store: RedisAccountBackend, account: str):
        self.store = store
        self.account = account
        self._record: dict | None = None
        self._containers = 0

    def _load(self, fresh: bool = False) -> dict:
        if self._record is None or fresh:
            self._record, self._containers = self.store.raw_account(self.account)
        return self._record

    # --- existence ------------------------------------------------------------------

    def exists(self) -> bool:
        return bool(self._load(fresh=True))

    def is_status_deleted(self) -> bool:
        return self._load().get("status") == "DELETED"

    def is_deleted(self) -> bool:
        """True if there is no account or it is marked deleted."""
        record = self._load(fresh=True)
        return not record or record.get("status") == "DELETED"

    def initialize(self, put_timestamp=None, **_kwargs) -> None:
        """Create the account; :class:`DbAlreadyExists` if it is there (its put timestamp
        is raised all the same), 403 if it is marked deleted."""
        result = self.store.put_account(self.account, put_timestamp or Timestamp.now())
        self._record = None
        if result == "deleted":
            raise HTTPForbidden("Recently deleted", headers={"X-Account-Status": "Deleted"})
        if result != "created":
            raise DbAlreadyExists(self.account)

    def update_put_timestamp(self, timestamp) -> None:
        self.store.put_account(self.account, timestamp)
        self._record = None

    def delete_db(self, timestamp) -> None:
        """Mark the account deleted at ``timestamp`` and clear its metadata."""
        self.store.mark_account_deleted(self.account, timestamp)
        self._record = None

    def close(self) -> None:
        """Nothing to close: connections belong to the store's pool."""

    # --- metadata -------------------------------------------------------------------

    @property
    def metadata(self) -> dict:
        """``{name: [value, timestamp]}``; an empty value is a deletion."""
        return self.store.timed_metadata(self.account)

    def update_metadata(self, updates: dict, validate=None) -> bool:
        """Merge ``{name: (value, timestamp)}``, newest winning; the count and size limits
        are checked inside the script (``validate`` is the sqlite path's version of it)."""
        if not updates:
            return False
        return bool(self.store.merge_metadata(self.account, updates, USER_META_PREFIX))

    # --- stats ----------------------------------------------------------------------

    def get_info(self) -> dict:
        record = self._load()
        return {
            "account": self.account,
            "created_at": Timestamp(record.get("ctime") or 0).internal,
            "put_timestamp": Timestamp(record.get("put_timestamp") or 0).internal,
            "delete_timestamp": Timestamp(record.get("delete_timestamp") or 0).internal,
            "status_changed_at": Timestamp(record.get("status_changed_at") or 0).internal,
            "container_count": self._containers,
            "object_count": int(record.get("objects") or 0),
            "bytes_used": int(record.get("bytes") or 0),
            "hash": "", "id": record.get("id", self.account),
            "status": record.get("status", ""),
        }

    def get_policy_stats(self) -> dict[int, dict]:
        """``{policy_index: {'container_count', 'object_count', 'bytes_used'}}``."""
        names = {"containers": "container_count", "objects": "object_count",
                 "bytes": "bytes_used"}
        stats: dict[int, dict] = {}
        for field, value in self._load().items():
            parts = field.split(":")
            if len(parts) == 3 and parts[0] == "policy" and parts[1].isdigit():
                stats.setdefault(int(parts[1]), {v: 0 for v in names.values()})[
                    names[parts[2]]] = int(value)
        return stats

    # --- containers -----------------------------------------------------------------

    def put_container(self, name: str, put_timestamp, delete_timestamp, object_count: int,
                      bytes_used: int, storage_policy_index: int = 0,
                      override_deleted: bool = False) -> None:
        """Record a container's report (ignored if older than what is stored).

        :class:`NoSuchAccount` if there is no account, or it is marked deleted and
        ``override_deleted`` is false (the check is inside the update's script).
        """
        try:
            self.store.update_container(
                self.account, name, put_timestamp, delete_timestamp, object_count,
                bytes_used, autocreate_account=False, policy=storage_policy_index,
                equal_wins=True, override_deleted=override_deleted)
        except NoUpdateNeeded:
            pass

    def list_containers_iter(self, limit: int, marker: str | None, end_marker: str | None,
                             prefix: str | None, delimiter: str | None,
                             reverse: bool = False) -> list:
        """Rows ``(name, object_count, bytes_used, put_timestamp, is_subdir)``."""
        rows = self.store.list_container_rows(self.account, limit, marker, end_marker,
                                              prefix, delimiter, reverse)
        return [row[:5] for row in rows]
