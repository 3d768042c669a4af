"""``RedisAccountBackend``: accounts and their containers' statistics in Redis.

The surface of OpenIO's account backend (create, delete, flush, refresh, show and list
accounts; list and update containers; account metadata; status), plus the few operations
the Swift-protocol account server needs (:mod:`oiofs.account.redis_broker`). Every
mutation is one Lua script of :mod:`oiofs.account.redis_lua`, so concurrent updaters never
see or leave a half-applied change. Keys and rules: ``docs/account-service.md``.

Options (with :class:`~oiofs.common.redis_conn.RedisConnection`'s): ``autocreate``
(true: a container update creates a missing account), ``deleted_container_ttl``
(604800 s: how long a deleted container's record is kept so that late, older updates
are still recognised as older), ``deleted_account_ttl`` (604800 s: how long an account
marked deleted by the Swift protocol stays "recently deleted").
"""

from __future__ import annotations

import json
import re
from typing import Any

import redis

from oiofs.account import redis_lua
from oiofs.common.config import conf_bool, conf_int
from oiofs.common.constraints import LIMITS
from oiofs.common.db.listing import list_with_rules
from oiofs.common.exceptions import OiofsError
from oiofs.common.redis_conn import RedisConnection, translate_redis_errors
from oiofs.common.timestamp import Timestamp

ACCOUNTS_KEY = "accounts:"
#: hash ``account -> delete timestamp``: accounts marked deleted that the reaper must empty
DELETED_ACCOUNTS_KEY = "deleted-accounts:"
#: names S3 accepts for buckets (lower case, digits, dots and dashes, 3 to 63 long)
BUCKETS_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class AccountStoreError(OiofsError):
    """A refused account store operation."""


class NoSuchAccount(AccountStoreError):
    """The account does not exist (or is marked deleted)."""


class NoSuchContainer(AccountStoreError):
    """The container is not a live container of the account."""


class AccountNotEmpty(AccountStoreError):
    """The account still lists containers."""


class NoUpdateNeeded(AccountStoreError):
    """The update is not newer than what is stored (by ``mtime`` and ``dtime``)."""


class MetadataLimitExceeded(AccountStoreError):
    """The merged metadata would pass the count or overall size limit."""


_SCRIPT_ERRORS = {
    "no_account": NoSuchAccount,
    "no_container": NoSuchContainer,
    "not_empty": AccountNotEmpty,
    "no_update_needed": NoUpdateNeeded,
    "too_many_metadata": MetadataLimitExceeded,
    "metadata_too_large": MetadataLimitExceeded,
}


def check_name(kind: str, name: str) -> str:
    """``name`` if usable as an account or container name (non-empty, no ``/``)."""
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"invalid {kind} name {name!r}")
    return name


def _ts(value) -> str:
    return Timestamp(value or 0).internal


def _count(name: str, value) -> str:
    number = int(value or 0)
    if number < 0:
        raise ValueError(f"{name} must not be negative")
    return str(number)


class RedisAccountBackend:
    """The account records of a cluster, in one Redis."""

    def __init__(self, conf: dict, connection: RedisConnection | None = None):
        self.conn = connection or RedisConnection(conf)
        self.client = self.conn.client
        self.autocreate = conf_bool(conf, "autocreate", True)
        self.deleted_container_ttl = conf_int(conf, "deleted_container_ttl", 604800,
                                              minimum=1)
        self.deleted_account_ttl = conf_int(conf, "deleted_account_ttl", 604800, minimum=1)
        self._scripts = {name: self.conn.register_script(getattr(redis_lua, name))
                         for name in ("CREATE_ACCOUNT", "PUT_ACCOUNT", "DELETE_ACCOUNT",
                                      "MARK_ACCOUNT_DELETED", "FLUSH_ACCOUNT",
                                      "REFRESH_ACCOUNT", "UPDATE_CONTAINER",
                                      "MERGE_METADATA", "SET_METADATA",
                                      "LIST_CONTAINERS", "FINISH_REAPING")}

    # --- keys -----------------------------------------------------------------------

    @staticmethod
    def akey(account: str) -> str:
        return "account:" + account

    @staticmethod
    def zkey(account: str) -> str:
        return "containers:" + account

    @staticmethod
    def ckey(account: str, name: str) -> str:
        """The key of a container's record."""
        return f"container:{account}/{name}"

    @staticmethod
    def mkeys(account: str) -> list[str]:
        return ["metadata:" + account, "metadata-ts:" + account]

    @translate_redis_errors
    def _run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        try:
            return self._scripts[script](keys=keys, args=args)
        except redis.ResponseError as err:
            error = _SCRIPT_ERRORS.get(str(err).strip())
            if error is None:
                raise
            raise error(str(err)) from None

    # --- accounts -------------------------------------------------------------------

    def create_account(self, account_id: str, put_timestamp=None) -> str | None:
        """Create the account; its name, or ``None`` if it already exists."""
        check_name("account", account_id)
        now = Timestamp.now().internal
        return self._run("CREATE_ACCOUNT", [self.akey(account_id), ACCOUNTS_KEY],
                         [account_id, now, _ts(put_timestamp) if put_timestamp else now])

    def delete_account(self, account_id: str) -> bool:
        """Remove an account that lists no container (:class:`AccountNotEmpty`)."""
        check_name("account", account_id)
        self._run("DELETE_ACCOUNT", [self.akey(account_id), self.zkey(account_id),
                                     ACCOUNTS_KEY, *self.mkeys(account_id)], [account_id])
        return True

    def flush_account(self, account_id: str) -> None:
        """Forget every container of the account and zero its counters."""
        check_name("account", account_id)
        self._run("FLUSH_ACCOUNT", [self.akey(account_id), self.zkey(account_id)],
                  [self.ckey(account_id, "")])

    def refresh_account(self, account_id: str) -> None:
        """Recompute the account's counters from its containers' records."""
        check_name("account", account_id)
        self._run("REFRESH_ACCOUNT", [self.akey(account_id), self.zkey(account_id)],
                  [self.ckey(account_id, "")])

    @translate_redis_errors
    def raw_account(self, account_id: str) -> tuple[dict, int]:
        """The account's hash (``{}`` if none) and its number of live containers."""
        pipe = self.client.pipeline(transaction=True)
        pipe.hgetall(self.akey(account_id))
        pipe.zcard(self.zkey(account_id))
        record, containers = pipe.execute()
        return record, containers

    def info_account(self, account_id: str) -> dict | None:
        """``id``, ``ctime``, ``bytes``, ``objects``, ``damaged_objects``,
        ``missing_chunks``, ``containers`` and ``metadata``; ``None`` if no account."""
        check_name("account", account_id)
        record, containers = self.raw_account(account_id)
        if not record or record.get("status") == "DELETED":
            return None
        return {"id": record["id"], "ctime": float(record.get("ctime") or 0),
                "bytes": int(record.get("bytes") or 0),
                "objects": int(record.get("objects") or 0),
                "damaged_objects": int(record.get("damaged_objects") or 0),
                "missing_chunks": int(record.get("missing_chunks") or 0),
                "containers": containers,
                "metadata": self.get_account_metadata(account_id) or {}}

    @translate_redis_errors
    def list_account(self) -> list[str]:
        """The names of every account, sorted."""
        return sorted(str(name) for name in self.client.hkeys(ACCOUNTS_KEY))

    @translate_redis_errors
    def status(self) -> dict:
        """``{'account_count': n}``."""
        return {"account_count": self.client.hlen(ACCOUNTS_KEY)}

    # --- metadata -------------------------------------------------------------------

    @translate_redis_errors
    def get_account_metadata(self, account_id: str) -> dict | None:
        """The account's metadata ``{key: value}``; ``None`` if there is no account."""
        pipe = self.client.pipeline(transaction=True)
        pipe.exists(self.akey(account_id))
        pipe.hgetall(self.mkeys(account_id)[0])
        exists, metadata = pipe.execute()
        return metadata if exists else None

    def update_account_metadata(self, account_id: str, metadata: dict | None,
                                to_delete: list | None = None) -> None:
        """Set the keys of ``metadata`` and remove those of ``to_delete``."""
        check_name("account", account_id)
        pairs = [str(x) for item in (metadata or {}).items() for x in item]
        self._run("SET_METADATA", [*self.mkeys(account_id), self.akey(account_id)],
                  [Timestamp.now().internal, len(pairs) // 2, *pairs,
                   *[str(k) for k in to_delete or ()]])

    @translate_redis_errors
    def timed_metadata(self, account_id: str) -> dict:
        """``{key: [value, timestamp]}`` as the Swift-protocol server keeps metadata."""
        pipe = self.client.pipeline(transaction=True)
        for key in self.mkeys(account_id):
            pipe.hgetall(key)
        values, stamps = pipe.execute()
        return {k: [v, stamps.get(k, "0")] for k, v in values.items()}

    def merge_metadata(self, account_id: str, updates: dict, prefix: str) -> int:
        """Merge ``{key: (value, timestamp)}``, the newest timestamp winning, refused with
        :class:`MetadataLimitExceeded` if the merged ``prefix`` keys pass the limits."""
        args: list = [prefix.lower(), LIMITS.max_meta_count, LIMITS.max_meta_overall_size]
        for key, (value, stamp) in updates.items():
            args += [key, value, _ts(stamp)]
        return self._run("MERGE_METADATA", [*self.mkeys(account_id), self.akey(account_id)],
                         args)

    # --- the Swift protocol's account life ------------------------------------------

    def put_account(self, account_id: str, put_timestamp) -> str:
        """``created``, ``accepted`` (put timestamp raised) or ``deleted``."""
        check_name("account", account_id)
        return self._run("PUT_ACCOUNT", [self.akey(account_id), ACCOUNTS_KEY],
                         [account_id, _ts(put_timestamp), Timestamp.now().internal])

    def mark_account_deleted(self, account_id: str, timestamp) -> str:
        """``deleted``, ``already_deleted`` or ``no_account``. A deleted account that lists
        no container expires after ``deleted_account_ttl``; one that still lists some is
        queued for the account reaper (:meth:`deleted_accounts`) and expires once
        :meth:`finish_reaping` found it empty."""
        check_name("account", account_id)
        return self._run("MARK_ACCOUNT_DELETED",
                         [self.akey(account_id), self.zkey(account_id),
                          *self.mkeys(account_id), ACCOUNTS_KEY, DELETED_ACCOUNTS_KEY],
                         [account_id, _ts(timestamp), self.deleted_account_ttl])

    @translate_redis_errors
    def deleted_accounts(self) -> dict[str, str]:
        """``{account: delete timestamp}`` of the deleted accounts the reaper must empty."""
        return {str(k): str(v) for k, v in self.client.hgetall(DELETED_ACCOUNTS_KEY).items()}

    def finish_reaping(self, account_id: str) -> bool:
        """Unqueue a deleted account and let it expire after ``deleted_account_ttl``, if it
        lists no container any more; True if it was unqueued."""
        return self._run("FINISH_REAPING",
                         [self.akey(account_id), self.zkey(account_id),
                          *self.mkeys(account_id), DELETED_ACCOUNTS_KEY],
                         [account_id, self.deleted_account_ttl]) == "done"

    # --- containers -----------------------------------------------------------------

    def update_container(self, account_id: str, name: str, mtime, dtime, object_count,
                         bytes_used, damaged_objects=0, missing_chunks=0,
                         autocreate_account: bool | None = None,
                         autocreate_container: bool = True, policy: int | None = None,
                         equal_wins: bool = False, override_deleted: bool = False) -> str:
        """Record a container's statistics as of ``mtime`` (or its deletion at ``dtime``).

        Rules (``docs/account-service.md``): an update older than both stored times raises
        :class:`NoUpdateNeeded`; a deletion newer than the last modification zeroes the
        container, takes its counters off the account, unlists it and lets its record
        expire; a newer modification (re)lists it; the account's counters change by the
        difference only. Returns ``updated`` or ``deleted``.
        """
        check_name("account", account_id)
        check_name("container", name)
        autocreate = self.autocreate if autocreate_account is None else autocreate_account
        flag = {True: "1", False: "0"}
        return self._run("UPDATE_CONTAINER", [
            self.akey(account_id), self.ckey(account_id, name), self.zkey(account_id),
            ACCOUNTS_KEY], [
            account_id, name, _ts(mtime), _ts(dtime), _count("objects", object_count),
            _count("bytes", bytes_used), _count("damaged_objects", damaged_objects),
            _count("missing_chunks", missing_chunks), flag[bool(autocreate)],
            Timestamp.now().internal, self.deleted_container_ttl,
            "" if policy is None else str(int(policy)), flag[equal_wins],
            flag[override_deleted], flag[not autocreate_container]])

    def _fetch_rows(self, account_id: str, lower: str | None, inclusive: bool,
                    upper: str | None, count: int, reverse: bool) -> list[tuple]:
        low = "-" if lower is None else ("[" if inclusive else "(") + lower
        high = "+" if upper is None else "(" + upper
        text = self._run("LIST_CONTAINERS", [self.zkey(account_id)],
                         [low, high, count, "1" if reverse else "0",
                          self.ckey(account_id, "")])
        return [(name, int(objects), int(size), mtime, 0, policy)
                for name, objects, size, mtime, policy in json.loads(text)]

    def list_container_rows(self, account_id: str, limit: int, marker: str | None,
                            end_marker: str | None, prefix: str | None,
                            delimiter: str | None, reverse: bool = False) -> list[Any]:
        """Rows ``(name, objects, bytes, mtime, is_subdir, policy)`` by the listing rules
        of :mod:`oiofs.common.db.listing`."""

        def fetch(lower, inclusive, upper, count, descending):
            return self._fetch_rows(account_id, lower, inclusive, upper, count, descending)

        return list_with_rules(fetch, limit, marker, end_marker, prefix, delimiter, None,
                               reverse, lambda name: (name, 0, 0, "0", 1, ""))

    def list_containers(self, account_id: str, limit: int = 1000, marker: str | None = None,
                        end_marker: str | None = None, prefix: str | None = None,
                        delimiter: str | None = None, s3_buckets_only: bool = False
                        ) -> list[list]:
        """``[name, objects, bytes, is_prefix, mtime]`` entries in name order; with
        ``s3_buckets_only``, only names S3 accepts as bucket names."""
        check_name("account", account_id)
        result: list[list] = []
        while len(result) < limit:
            wanted = limit - len(result)
            rows = self.list_container_rows(account_id, wanted, marker, end_marker, prefix,
                                            delimiter)
            for name, objects, size, mtime, subdir, _policy in rows:
                if s3_buckets_only and not BUCKETS_PATTERN.match(name):
                    continue
                result.append([name, objects, size, subdir,
                               0 if subdir else float(Timestamp(mtime))])
            if not s3_buckets_only or len(rows) < wanted:
                break
            marker = rows[-1][0]
        return result
