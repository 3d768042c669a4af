"""The proxy server's options, read and checked in this one place.

Each option is documented in ``etc/proxy-server.conf.sample``.
"""

from __future__ import annotations

from dataclasses import dataclass

from oiofs.common.config import conf_bool, conf_float, conf_int, oiofs_dir
from oiofs.common.exceptions import ConfigError


def _node_count(value: str | None) -> tuple[int, int]:
    """``request_node_count``: ``"<n>"`` or ``"<n> * replicas"`` as ``(fixed, factor)``."""
    text = (value or "2 * replicas").replace(" ", "").lower()
    try:
        if text.endswith("*replicas"):
            return 0, int(text[:-len("*replicas")])
        return int(text), 0
    except ValueError:
        raise ConfigError(f"option request_node_count: {value!r} is not '<n>' or "
                          f"'<n> * replicas'") from None


def _words(value: str | None) -> list[str]:
    return [w.strip() for w in (value or "").replace(",", " ").split() if w.strip()]


@dataclass
class ProxyOptions:
    """Typed proxy options (defaults match the sample file)."""

    oiofs_dir: str = "/etc/oiofs"
    conn_timeout: float = 0.5
    node_timeout: float = 10.0
    client_timeout: float = 60.0
    error_suppression_limit: int = 10
    error_suppression_interval: float = 60.0
    error_suppression_time: float = 3.0
    account_autocreate: bool = False
    allow_account_management: bool = False
    recheck_container_existence: float = 5.0
    recheck_account_existence: float = 5.0
    object_chunk_size: int = 65536
    client_chunk_size: int = 65536
    put_direct_max: int = 65536
    max_idle_connections: int = 32
    request_node_count: tuple[int, int] = (0, 2)
    shuffle_reads: bool = True
    read_checks: bool = True
    cors_allow_origin: tuple[str, ...] = ()
    cors_expose_headers: tuple[str, ...] = ()
    trans_id_suffix: str = ""
    log_repeat_interval: float = 10.0
    expose_info: bool = True
    expiring_objects_container_divisor: int = 86400
    allowed_sync_hosts: tuple[str, ...] = ("127.0.0.1",)
    conscience_refresh_interval: float = 5.0

    @classmethod
    def from_conf(cls, conf: dict) -> ProxyOptions:
        """Read every option of the ``[app:proxy-server]`` section (with ``[DEFAULT]``)."""
        return cls(
            oiofs_dir=oiofs_dir(conf),
            conn_timeout=conf_float(conf, "conn_timeout", 0.5),
            node_timeout=conf_float(conf, "node_timeout", 10.0),
            client_timeout=conf_float(conf, "client_timeout", 60.0),
            error_suppression_limit=conf_int(conf, "error_suppression_limit", 10, minimum=1),
            error_suppression_interval=conf_float(conf, "error_suppression_interval", 60.0),
            error_suppression_time=conf_float(conf, "error_suppression_time", 3.0),
            account_autocreate=conf_bool(conf, "account_autocreate", False),
            allow_account_management=conf_bool(conf, "allow_account_management", False),
            recheck_container_existence=conf_float(conf, "recheck_container_existence",
                                                   5.0),
            recheck_account_existence=conf_float(conf, "recheck_account_existence", 5.0),
            object_chunk_size=conf_int(conf, "object_chunk_size", 65536, minimum=512),
            client_chunk_size=conf_int(conf, "client_chunk_size", 65536, minimum=512),
            put_direct_max=conf_int(conf, "put_direct_max", 65536, minimum=0),
            max_idle_connections=conf_int(conf, "max_idle_connections", 32, minimum=0),
            request_node_count=_node_count(conf.get("request_node_count")),
            shuffle_reads=conf_bool(conf, "shuffle_reads", True),
            read_checks=conf_bool(conf, "read_checks", True),
            cors_allow_origin=tuple(_words(conf.get("cors_allow_origin"))),
            cors_expose_headers=tuple(h.lower() for h in
                                      _words(conf.get("cors_expose_headers"))),
            trans_id_suffix=conf.get("trans_id_suffix", "") or "",
            log_repeat_interval=conf_float(conf, "log_repeat_interval", 10.0),
            expose_info=conf_bool(conf, "expose_info", True),
            expiring_objects_container_divisor=conf_int(
                conf, "expiring_objects_container_divisor", 86400, minimum=1),
            allowed_sync_hosts=tuple(_words(conf.get("allowed_sync_hosts", "127.0.0.1"))),
            conscience_refresh_interval=max(0.1, conf_float(
                conf, "conscience_refresh_interval", 5.0)),
        )

    def node_count(self, replicas: int) -> int:
        """How many nodes a read may ask (primaries and handoffs)."""
        fixed, factor = self.request_node_count
        return max(replicas, fixed or factor * replicas)
