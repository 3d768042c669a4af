"""Container ACLs: ``X-Container-Read`` and ``X-Container-Write`` (no I/O here).

An ACL is a comma-separated list of grants:

* ``account`` or ``account:user``: that account's users, or that one user (any token whose
  groups include the name);
* ``.r:<host>``: anonymous requests whose ``Referer`` host is ``<host>``; ``.r:.example.com``
  matches any host ending in ``.example.com``; ``.r:*`` matches every request, even with no
  ``Referer``; ``.r:-<host>`` excludes a host again (order matters: later entries win);
* ``.rlistings``: with a referrer grant, anonymous readers may also list the container
  (without it, only objects can be read).

Referrer grants make sense only for reading; :func:`clean_acl` refuses them in write ACLs.
"""

from __future__ import annotations

from urllib.parse import urlparse

_REFERRER_DESIGNATORS = (".r", ".ref", ".referer", ".referrer")


class ACLError(ValueError):
    """An ACL header value cannot be used; the message says why."""


def clean_acl(name: str, value: str) -> str:
    """The normal form of an ACL header value; :class:`ACLError` if it is not valid.

    ``name`` is the header name (``X-Container-Read`` or ``X-Container-Write``).

    >>> clean_acl('X-Container-Read', ' .ref:*, .rlistings ,test:tester')
    '.r:*,.rlistings,test:tester'
    """
    is_write = "write" in name.lower()
    items = []
    for raw in value.split(","):
        item = raw.strip()
        if not item:
            continue
        if item.startswith("."):
            designator, sep, rest = item.partition(":")
            if designator in _REFERRER_DESIGNATORS and sep:
                if is_write:
                    raise ACLError(f"Referrers not allowed in write ACL: {item!r}")
                host = rest.strip()
                negated = host.startswith("-")
                if negated:
                    host = host[1:].strip()
                if not host:
                    raise ACLError(f"No host/domain value after referrer designation in "
                                   f"ACL: {item!r}")
                if "/" in host or "://" in host:
                    host = urlparse(host if "://" in host else "//" + host).hostname or ""
                    if not host:
                        raise ACLError(f"Invalid referrer in ACL: {item!r}")
                if negated and host == "*":
                    raise ACLError(f"Negating everything is not allowed: {item!r}")
                items.append(f".r:{'-' if negated else ''}{host}")
            elif item == ".rlistings":
                if is_write:
                    raise ACLError(".rlistings not allowed in write ACL")
                items.append(item)
            else:
                raise ACLError(f"Unknown designator {designator!r} in ACL: {item!r}")
        else:
            items.append(item)
    return ",".join(items)


def parse_acl(value: str | None) -> tuple[list[str], list[str]]:
    """Split a clean ACL into ``(referrers, groups)``.

    >>> parse_acl('.r:*,.r:-bad.com,.rlistings,test:tester')
    (['*', '-bad.com'], ['.rlistings', 'test:tester'])
    """
    referrers: list[str] = []
    groups: list[str] = []
    if value:
        for raw in value.split(","):
            item = raw.strip()
            if not item:
                continue
            if item.startswith(".r:"):
                referrers.append(item[3:])
            else:
                groups.append(item)
    return referrers, groups


def _host_matches(pattern: str, host: str) -> bool:
    return pattern == host or (pattern.startswith(".") and host.endswith(pattern))


def referrer_allowed(referrer: str | None, referrer_acl: list[str]) -> bool:
    """Whether a request with this ``Referer`` header passes the referrer grants.

    >>> referrer_allowed(None, ['*'])
    True
    >>> referrer_allowed('http://www.bad.com/x', ['*', '-.bad.com'])
    False
    """
    allowed = False
    if referrer_acl:
        host = (urlparse(referrer).hostname if referrer else None) or "unknown"
        for pattern in referrer_acl:
            if pattern.startswith("-"):
                if _host_matches(pattern[1:], host):
                    allowed = False
            elif pattern == "*" or _host_matches(pattern, host):
                allowed = True
    return allowed
