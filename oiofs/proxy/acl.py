"""Container ACLs (``X-Container-Read``/``X-Container-Write``) and account ACLs (no I/O).

An ACL is a comma-separated list of grants:

* ``account`` or ``account:user``: that account's users, or that one user (any token whose
  groups include the name);
* ``.r:<host>``: anonymous requests whose ``Referer`` host is ``<host>``; ``.r:.example.com``
  matches any host ending in ``.example.com``; ``.r:*`` matches every request, even with no
  ``Referer``; ``.r:-<host>`` excludes a host again (order matters: later entries win);
* ``.rlistings``: with a referrer grant, anonymous readers may also list the container
  (without it, only objects can be read).

Referrer grants make sense only for reading; :func:`clean_acl` refuses them in write ACLs.

An account ACL (``X-Account-Access-Control``, JSON) names users, accounts or groups at
three levels, ``admin``, ``read-write`` and ``read-only``, as Swift's tempauth reads it:
:func:`check_account_acl` when it is set, :func:`parse_account_acl` and
:func:`account_acl_grant` when a request is authorized.
"""

from __future__ import annotations

import json
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


# --- account ACLs (X-Account-Access-Control) ------------------------------------------------

#: the client-facing header of account ACLs, shown only to the account's owners
ACCOUNT_ACL_HEADER = "X-Account-Access-Control"
#: where the account servers keep it: system metadata, which no client header can set
ACCOUNT_ACL_SYSMETA = "X-Account-Sysmeta-Core-Access-Control"
#: the levels of an account ACL, strongest first
ACCOUNT_ACL_LEVELS = ("admin", "read-write", "read-only")


def check_account_acl(value: str) -> None:
    """Refuse an ``X-Account-Access-Control`` value tempauth cannot use (:class:`ACLError`).

    The value is a JSON object whose keys are among ``admin``, ``read-write`` and
    ``read-only``, each a list of strings (users ``account:user``, accounts, groups). An
    empty value is valid: it removes the account's ACL.

    >>> check_account_acl('{"read-only": ["test:tester3"]}')
    >>> check_account_acl('{"owner": []}')
    Traceback (most recent call last):
    ...
    oiofs.proxy.acl.ACLError: Key "owner" not recognized
    """
    if value == "":
        return
    try:
        acl = json.loads(value)
    except ValueError:
        acl = None
    if not isinstance(acl, dict):
        raise ACLError(f"Syntax error in input ({value!r})")
    for key in acl:
        if key not in ACCOUNT_ACL_LEVELS:
            raise ACLError(f"Key {json.dumps(key)} not recognized")
    for key in ACCOUNT_ACL_LEVELS:
        if key not in acl:
            continue
        if not isinstance(acl[key], list):
            raise ACLError(f"Value for key {json.dumps(key)} must be a list")
        if not all(isinstance(grantee, str) for grantee in acl[key]):
            raise ACLError(f"Elements of {json.dumps(key)} list must be strings")


def parse_account_acl(stored: str | None) -> dict[str, list[str]] | None:
    """The stored account ACL as ``{level: [grantee, ...]}`` with every level present.

    ``None`` when there is none, it grants nothing, or it cannot be read (it was checked
    when set, so that only happens if the stored value was damaged).

    >>> parse_account_acl('{"admin": ["test2"]}')
    {'admin': ['test2'], 'read-write': [], 'read-only': []}
    """
    if not stored:
        return None
    try:
        acl = json.loads(stored)
    except ValueError:
        return None
    if not isinstance(acl, dict):
        return None
    levels = {}
    for level in ACCOUNT_ACL_LEVELS:
        grantees = acl.get(level) or []
        if not isinstance(grantees, list):
            return None
        levels[level] = [g for g in grantees if isinstance(g, str)]
    if not any(levels.values()):
        return None
    return levels


def format_account_acl(acl: dict[str, list[str]]) -> str:
    """The ``X-Account-Access-Control`` value shown to owners: compact JSON, sorted keys,
    levels with no grantee left out.

    >>> format_account_acl({'admin': [], 'read-write': ['a'], 'read-only': []})
    '{"read-write":["a"]}'
    """
    shown = {level: grantees for level, grantees in acl.items() if grantees}
    return json.dumps(shown, ensure_ascii=True, separators=(",", ":"), sort_keys=True)


def account_acl_grant(acl: dict[str, list[str]] | None, groups: list[str],
                      container: str | None, method: str) -> str | None:
    """The level of ``acl`` that allows a user with ``groups`` to do ``method``, or ``None``.

    ``admin`` allows everything the account's owner may do; ``read-write`` allows every
    container and object request but only reads of the account itself (no account
    metadata); ``read-only`` allows ``GET`` and ``HEAD`` of the account, its containers and
    its objects.

    >>> acl = parse_account_acl('{"read-write": ["test:tester3"]}')
    >>> account_acl_grant(acl, ['test', 'test:tester3'], 'c', 'PUT')
    'read-write'
    >>> account_acl_grant(acl, ['test', 'test:tester3'], None, 'POST') is None
    True
    """
    if not acl or not groups:
        return None
    mine = set(groups)
    if mine.intersection(acl["admin"]):
        return "admin"
    if mine.intersection(acl["read-write"]) and (container or method in ("GET", "HEAD")):
        return "read-write"
    if mine.intersection(acl["read-only"]) and method in ("GET", "HEAD"):
        return "read-only"
    return None
