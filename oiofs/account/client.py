"""``AccountClient``: a Python client of the account service (:mod:`oiofs.account.service`).

>>> client = AccountClient({"account_service_url": "http://127.0.0.1:6009"})  # doctest: +SKIP
>>> client.account_create("AUTH_test")  # doctest: +SKIP
True
>>> client.container_update("AUTH_test", "photos", {"mtime": time.time(), "objects": 3,
...                                                  "bytes": 1200})  # doctest: +SKIP

Options: ``account_service_url`` (or the ``endpoint`` argument), ``account_service_timeout``
(10 s per request) and ``account_service_retries`` (2: how many more times a request is
sent after a connection error; a request that got an answer is never repeated). Errors
are :class:`AccountServiceError` (with ``http_status``), or :class:`AccountServiceUnreachable`
once the retries are spent.
"""

from __future__ import annotations

import http.client
import json
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from oiofs.common.config import conf_float, conf_int
from oiofs.common.exceptions import ClientException, ConfigError


class AccountServiceError(ClientException):
    """The account service answered an error status."""


class AccountServiceUnreachable(AccountServiceError):
    """The account service could not be reached (after the retries)."""


class AccountClient:
    """Calls to one account service over HTTP."""

    def __init__(self, conf: dict, endpoint: str | None = None, logger=None, **_kwargs):
        url = endpoint or conf.get("account_service_url")
        if not url:
            raise ConfigError("AccountClient needs an endpoint (account_service_url)")
        parts = urlsplit(url if "://" in url else "http://" + url)
        if parts.scheme != "http" or not parts.hostname:
            raise ConfigError(f"account service URL {url!r}: expected http://host:port")
        self.host, self.port = parts.hostname, parts.port or 80
        self.base = parts.path.rstrip("/")
        self.timeout = conf_float(conf, "account_service_timeout", 10.0)
        self.retries = conf_int(conf, "account_service_retries", 2, minimum=0)
        self.logger = logger

    # --- transport ------------------------------------------------------------------

    def account_request(self, method: str, path: str, params: dict | None = None,
                        body: dict | None = None) -> tuple[int, Any]:
        """Send one request; ``(status, decoded JSON body or text or None)``.

        Raises :class:`AccountServiceError` for a 4xx/5xx answer.
        """
        query = {k: v for k, v in (params or {}).items() if v is not None}
        target = self.base + path + ("?" + urlencode(query) if query else "")
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        for attempt in range(self.retries + 1):
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                conn.request(method, target, body=payload, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                break
            except (ConnectionError, TimeoutError, OSError,
                    http.client.RemoteDisconnected) as err:
                if attempt == self.retries:
                    raise AccountServiceUnreachable(
                        f"account service {self.host}:{self.port} unreachable: {err}",
                        http_host=self.host, http_port=self.port) from err
                time.sleep(min(0.1 * 2 ** attempt, 1.0))
            finally:
                conn.close()
        decoded: Any = None
        if data:
            if resp.getheader("Content-Type", "").startswith("application/json"):
                decoded = json.loads(data)
            else:
                decoded = data.decode("utf-8", "replace")
        if resp.status >= 400:
            message = decoded.get("message") if isinstance(decoded, dict) else decoded
            raise AccountServiceError(f"{method} {path}: {resp.status} {message}",
                                      http_status=resp.status, http_body=data,
                                      http_host=self.host, http_port=self.port)
        return resp.status, decoded

    # --- accounts -------------------------------------------------------------------

    def account_create(self, account: str, **_kwargs) -> bool:
        """Create an account; True if created, False if it already existed."""
        status, _ = self.account_request("POST", "/v1.0/account/create", {"id": account})
        return status == 201

    def account_delete(self, account: str, **_kwargs) -> None:
        """Delete an account that has no container."""
        self.account_request("POST", "/v1.0/account/delete", {"id": account})

    def account_flush(self, account: str, **_kwargs) -> None:
        """Forget all the containers of an account and zero its counters."""
        self.account_request("POST", "/v1.0/account/flush", {"id": account})

    def account_refresh(self, account: str, **_kwargs) -> None:
        """Recompute an account's counters from its containers."""
        self.account_request("POST", "/v1.0/account/refresh", {"id": account})

    def account_list(self, **_kwargs) -> list[str]:
        """The names of all accounts."""
        return self.account_request("GET", "/v1.0/account/list")[1]

    def account_show(self, account: str, **_kwargs) -> dict:
        """An account's ``id``, ``ctime``, counters, ``containers`` and ``metadata``."""
        return self.account_request("GET", "/v1.0/account/show", {"id": account})[1]

    def account_update(self, account: str, metadata: dict | None,
                       to_delete: list | None, **_kwargs) -> None:
        """Set the keys of ``metadata`` and remove those of ``to_delete``."""
        self.account_request("POST", "/v1.0/account/update", {"id": account},
                             {"metadata": metadata or {}, "to_delete": to_delete or []})

    # --- containers -----------------------------------------------------------------

    def container_list(self, account: str, limit: int | None = None,
                       marker: str | None = None, end_marker: str | None = None,
                       prefix: str | None = None, delimiter: str | None = None,
                       s3_buckets_only: bool = False, **_kwargs) -> dict:
        """The account's info plus ``listing``: ``[name, objects, bytes, is_prefix,
        mtime]`` entries."""
        return self.account_request("POST", "/v1.0/account/containers", {"id": account}, {
            "limit": limit, "marker": marker, "end_marker": end_marker, "prefix": prefix,
            "delimiter": delimiter, "s3_buckets_only": s3_buckets_only})[1]

    def container_update(self, account: str, container: str, metadata: dict | None = None,
                         **_kwargs) -> dict:
        """Record a container's ``mtime``/``dtime``, ``objects``, ``bytes`` (and
        ``damaged_objects``, ``missing_chunks``); ``{"name", "result"}``. An update older
        than the stored one raises :class:`AccountServiceError` with status 409."""
        body = {"name": container, **(metadata or {})}
        return self.account_request("POST", "/v1.0/account/container/update",
                                    {"id": account}, body)[1]

    def container_reset(self, account: str, container: str, mtime, **_kwargs) -> None:
        """Zero the counters of a live container as of ``mtime``."""
        self.account_request("POST", "/v1.0/account/container/reset", {"id": account},
                             {"name": container, "mtime": mtime})
