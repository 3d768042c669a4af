"""What the container and account quotas share (sans-IO): reading quotas, deciding.

A quota is a non-negative integer in metadata: ``quota-bytes`` and ``quota-count`` of a
container (``X-Container-Meta-Quota-*``), ``quota-bytes`` of an account
(``X-Account-Meta-Quota-Bytes``) and, per storage policy, the account's
``X-Account-Sysmeta-Quota-Bytes-Policy-<index>``. A write is refused (413) when what is
stored plus what it adds would pass one of them; a value that is not a number is ignored
(as in Swift; the filters refuse to set one).

Writes whose size the quota filters cannot see when the request arrives (the total of a
static large object's segments, known only after the slo filter has checked its
manifest) are checked later through :func:`run_quota_checks`: each quota filter leaves a
callback in the environ with :func:`add_quota_check`.
"""

from __future__ import annotations

from collections.abc import Callable

from oiofs.proxy.container_info import AccountInfo, ContainerInfo

#: environ key: the quota callbacks, ``size -> None`` or raise ``HTTPError`` (413)
QUOTA_CHECK_KEY = "oiofs.quota_checks"
#: Swift's text for a refused write
OVER_QUOTA = "Upload exceeds quota."
#: account sysmeta prefix of per-policy byte quotas (followed by the policy index)
POLICY_QUOTA_SYSMETA = "quota-bytes-policy-"


def parse_quota(value: str | None) -> int | None:
    """The quota a metadata value sets, or ``None`` (absent, empty, not a number).

    >>> parse_quota("100"), parse_quota(""), parse_quota("-1"), parse_quota("x")
    (100, None, None, None)
    """
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def valid_quota_value(value: str) -> bool:
    """Whether a client may set a quota header to ``value`` (a number, or empty to
    remove it).

    >>> valid_quota_value("10"), valid_quota_value(""), valid_quota_value("1.5")
    (True, True, False)
    """
    return value.strip() == "" or value.strip().isdigit()


def container_over_quota(info: ContainerInfo, size: int, objects: int = 1) -> bool:
    """Whether adding ``objects`` objects of ``size`` bytes in total passes a quota."""
    quota_bytes = parse_quota(info.meta.get("quota-bytes"))
    if quota_bytes is not None and info.bytes_used + size > quota_bytes:
        return True
    quota_count = parse_quota(info.meta.get("quota-count"))
    return quota_count is not None and info.object_count + objects > quota_count


def container_has_quota(info: ContainerInfo) -> bool:
    """Whether the container sets a quota at all."""
    return parse_quota(info.meta.get("quota-bytes")) is not None or \
        parse_quota(info.meta.get("quota-count")) is not None


def policy_quota(info: AccountInfo, policy_index: int) -> int | None:
    """The account's byte quota for one storage policy, or ``None``."""
    return parse_quota(info.sysmeta.get(f"{POLICY_QUOTA_SYSMETA}{policy_index}"))


def account_has_quota(info: AccountInfo) -> bool:
    """Whether the account sets any byte quota (overall or per policy)."""
    return parse_quota(info.meta.get("quota-bytes")) is not None or any(
        k.startswith(POLICY_QUOTA_SYSMETA) for k in info.sysmeta)


def account_over_quota(info: AccountInfo, size: int, policy_index: int | None,
                       policy_name: str | None) -> bool:
    """Whether ``size`` more bytes (in the policy named) pass the account's quotas."""
    quota = parse_quota(info.meta.get("quota-bytes"))
    if quota is not None and info.bytes_used + size > quota:
        return True
    if policy_index is None or policy_name is None:
        return False
    quota = policy_quota(info, policy_index)
    used = info.policy_bytes.get(policy_name.lower(), 0)
    return quota is not None and used + size > quota


def add_quota_check(environ: dict, check: Callable[[int], None]) -> None:
    """Leave ``check(size)`` for a filter further down that learns the size late."""
    environ.setdefault(QUOTA_CHECK_KEY, []).append(check)


def run_quota_checks(environ: dict, size: int) -> None:
    """Run every quota callback left in ``environ`` for ``size`` bytes (raises 413)."""
    for check in environ.get(QUOTA_CHECK_KEY, ()):
        check(size)
