"""Entity tags: quoting, and matching against ``If-Match``/``If-None-Match`` lists.

oiofs stores an object's ETag unquoted (the hex MD5 of its body) and sends it quoted, as
RFC 7232 wants. Clients and proxies are not always careful, so the list parser accepts
unquoted tags too (``If-Match: abc`` means the same as ``If-Match: "abc"``).

>>> quote_etag('d41d8cd98f00b204e9800998ecf8427e')
'"d41d8cd98f00b204e9800998ecf8427e"'
>>> parse_etag_list('"a", W/"b", c')
[('a', False), ('b', True), ('c', False)]
>>> etag_matches('W/"x", "y"', 'x', weak=True), etag_matches('W/"x"', 'x', weak=False)
(True, False)
"""

from __future__ import annotations

from typing import overload

#: what :func:`parse_etag_list` returns for ``*``
ANY = "*"


def quote_etag(etag: str) -> str:
    """``etag`` between double quotes (left as is if it already is quoted)."""
    if len(etag) >= 2 and etag[0] == '"' and etag[-1] == '"':
        return etag
    return f'"{etag}"'


@overload
def unquote_etag(etag: str) -> str: ...
@overload
def unquote_etag(etag: None) -> None: ...
@overload
def unquote_etag(etag: str | None) -> str | None: ...


def unquote_etag(etag: str | None) -> str | None:
    """The opaque part of an entity tag: no ``W/`` prefix, no quotes (``None`` stays)."""
    if etag is None:
        return None
    etag = etag.strip()
    if etag[:2] in ("W/", "w/"):
        etag = etag[2:]
    if len(etag) >= 2 and etag[0] == '"' and etag[-1] == '"':
        etag = etag[1:-1]
    return etag


def parse_etag_list(value: str) -> list[tuple[str, bool]] | str:
    """The tags of an ``If-Match``/``If-None-Match`` value as ``(opaque, is_weak)`` pairs.

    Returns :data:`ANY` for ``*``. Quoted tags may contain commas; empty list elements are
    skipped. Never raises: unparseable trailing text becomes one more (unquoted) tag, which
    simply will not match a real ETag.
    """
    text = value.strip()
    if text == "*":
        return ANY
    tags: list[tuple[str, bool]] = []
    pos, end = 0, len(text)
    while pos < end:
        char = text[pos]
        if char in " \t,":
            pos += 1
            continue
        weak = False
        if text.startswith(("W/", "w/"), pos):
            weak = True
            pos += 2
        if pos < end and text[pos] == '"':
            close = text.find('"', pos + 1)
            if close < 0:  # unterminated: take the rest
                tags.append((text[pos + 1:], weak))
                break
            tags.append((text[pos + 1:close], weak))
            pos = close + 1
        else:
            comma = text.find(",", pos)
            stop = end if comma < 0 else comma
            token = text[pos:stop].strip()
            if token:
                tags.append((token, weak))
            pos = stop
    return tags


def etag_matches(value: str, etag: str | None, weak: bool) -> bool:
    """True if ``etag`` (unquoted, or ``None`` for no representation) is in the list ``value``.

    ``weak=False`` is the strong comparison of ``If-Match`` (a ``W/`` tag never matches);
    ``weak=True`` is the weak comparison of ``If-None-Match``. ``*`` matches any existing
    representation, also as one element of a list (as Swift takes it).
    """
    if etag is None:
        return False
    tags = parse_etag_list(value)
    if isinstance(tags, str):  # only ever ANY
        return True
    for opaque, is_weak in tags:
        if opaque == ANY or (opaque == etag and (weak or not is_weak)):
            return True
    return False
