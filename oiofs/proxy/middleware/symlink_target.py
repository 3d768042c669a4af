"""Symlink targets: checking the client's headers and the system metadata that keeps them.

Sans-IO. A symlink is a zero-byte object whose system metadata names its target:

* ``X-Object-Sysmeta-Symlink-Target``: ``<container>/<object>``, percent-encoded UTF-8;
* ``X-Object-Sysmeta-Symlink-Target-Account``: the target's account (always stored, the
  link's own account when the client named none);
* ``X-Object-Sysmeta-Symlink-Target-Etag`` and ``-Bytes``: a static link's target ETag
  and size, checked when the link is created and when it is followed;
* ``X-Object-Sysmeta-Container-Update-Override-Etag``: what the container listing records
  as the row's ETag (``<md5 of nothing>; symlink_target=...``, see
  :func:`oiofs.common.db.listing_format.symlink_fields`).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote

from oiofs.common.exceptions import HTTPBadRequest, HTTPPreconditionFailed

MD5_OF_EMPTY = "d41d8cd98f00b204e9800998ecf8427e"
SYSMETA_TARGET = "X-Object-Sysmeta-Symlink-Target"
SYSMETA_ACCOUNT = "X-Object-Sysmeta-Symlink-Target-Account"
SYSMETA_ETAG = "X-Object-Sysmeta-Symlink-Target-Etag"
SYSMETA_BYTES = "X-Object-Sysmeta-Symlink-Target-Bytes"
OVERRIDE_ETAG = "X-Object-Sysmeta-Container-Update-Override-Etag"
#: stored (sysmeta) header, lower case -> the header clients see with ``symlink=get``
CLIENT_NAMES = {SYSMETA_TARGET.lower(): "X-Symlink-Target",
                SYSMETA_ACCOUNT.lower(): "X-Symlink-Target-Account",
                SYSMETA_ETAG.lower(): "X-Symlink-Target-Etag",
                SYSMETA_BYTES.lower(): "X-Symlink-Target-Bytes"}
FORM_ERROR = "X-Symlink-Target header must be of the form <container name>/<object name>"


def _text(value: str) -> str:
    """A WSGI header value, percent-decoded, as text (400 if not UTF-8)."""
    try:
        return unquote(value.encode("latin-1").decode("utf-8"), errors="strict")
    except (UnicodeEncodeError, UnicodeDecodeError):
        raise HTTPBadRequest("Symlink headers must be valid UTF-8") from None


@dataclass(frozen=True)
class LinkTarget:
    """Where a link points: ``account``, ``container``, ``obj`` as text."""

    account: str
    container: str
    obj: str

    @property
    def quoted(self) -> str:
        """``<container>/<object>`` percent-encoded, as stored and shown."""
        return quote(f"{self.container}/{self.obj}", safe="/")

    def path(self, version: str = "v1") -> str:
        """``/v1/<account>/<container>/<object>``, percent-encoded (a URL path)."""
        return f"/{version}/{quote(self.account, safe='')}/{self.quoted}"

    def wsgi_path(self, version: str) -> str:
        """The same path as a WSGI ``PATH_INFO`` (UTF-8 bytes as latin-1, not quoted)."""
        text = f"/{version}/{self.account}/{self.container}/{self.obj}"
        return text.encode("utf-8").decode("latin-1")


def parse_target(value: str, account_value: str | None, own_account: str,
                 own_path: tuple[str, str, str] | None = None) -> LinkTarget:
    """The target a PUT names (WSGI header values); 412 if malformed, 400 if it is the
    link itself (``own_path``: the link's account, container, object as text).

    >>> parse_target("c/d%20e/f", None, "AUTH_a")
    LinkTarget(account='AUTH_a', container='c', obj='d e/f')
    """
    text = _text(value)
    container, sep, obj = text.partition("/")
    if text.startswith("/") or not sep or not container or not obj or "\x00" in text:
        raise HTTPPreconditionFailed(FORM_ERROR)
    account = own_account
    if account_value is not None and account_value.strip():
        account = _text(account_value)
        if "/" in account or "\x00" in account:
            raise HTTPPreconditionFailed("Account name cannot contain slashes")
    target = LinkTarget(account, container, obj)
    if own_path is not None and (account, container, obj) == own_path:
        raise HTTPBadRequest("Symlink cannot target itself")
    return target


def stored_target(headers: dict[str, str]) -> LinkTarget | None:
    """The target recorded in an object's answer (lower-case header names), if any."""
    value = headers.get(SYSMETA_TARGET.lower())
    if not value:
        return None
    container, _, obj = unquote(value).partition("/")
    account = unquote(headers.get(SYSMETA_ACCOUNT.lower(), ""))
    return LinkTarget(account, container, obj)


def link_metadata(target: LinkTarget, etag: str | None = None,
                  size: int | None = None) -> dict[str, str]:
    """The system metadata of a link to ``target`` (static with ``etag``/``size``).

    >>> link_metadata(LinkTarget("AUTH_a", "c", "o"))[OVERRIDE_ETAG]
    'd41d8cd98f00b204e9800998ecf8427e; symlink_target=c/o; symlink_target_account=AUTH_a'
    """
    account = quote(target.account, safe="")
    meta = {SYSMETA_TARGET: target.quoted, SYSMETA_ACCOUNT: account}
    override = [MD5_OF_EMPTY, f"symlink_target={target.quoted}",
                f"symlink_target_account={account}"]
    if etag is not None:
        meta[SYSMETA_ETAG] = etag
        override.append(f"symlink_target_etag={quote(etag, safe='')}")
    if size is not None:
        meta[SYSMETA_BYTES] = str(size)
        override.append(f"symlink_target_bytes={size}")
    meta[OVERRIDE_ETAG] = "; ".join(override)
    return meta


def client_headers(headers: list[tuple[str, str]], keep_sysmeta: bool
                   ) -> list[tuple[str, str]]:
    """A link's own answer headers as clients see them (``symlink=get``): the stored
    target as ``X-Symlink-Target*``; other system metadata only if ``keep_sysmeta``."""
    out = []
    for name, value in headers:
        lname = name.lower()
        if lname in CLIENT_NAMES:
            out.append((CLIENT_NAMES[lname], value))
        elif keep_sysmeta or not lname.startswith("x-object-sysmeta-"):
            out.append((name, value))
    return out


def etag_matches(expected: str, headers: dict[str, str]) -> bool:
    """Whether a static link's ``expected`` ETag is its target's (lower-case answer
    headers): the object's ETag, or a large object's assembled one."""
    expected = expected.strip('"')
    for name in ("etag", "x-object-sysmeta-slo-etag"):
        value = headers.get(name)
        if value is not None and value.strip('"') == expected:
            return True
    return False


def target_size(headers: dict[str, str]) -> int | None:
    """The size a static link records (a large object's total size when it is one)."""
    value = headers.get("x-object-sysmeta-slo-size") or headers.get("content-length")
    return int(value) if value and value.isdigit() else None
