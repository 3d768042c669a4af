"""Credentials and the v1 (tempauth) token exchange.

``GET <auth_url>`` with ``X-Auth-User``/``X-Auth-Key`` answers the storage URL
(``X-Storage-Url``), a token (``X-Auth-Token``) and, from oiofs and Swift's tempauth,
``X-Auth-Token-Expires`` (seconds left), which :class:`Token` turns into a deadline so
that a connection re-authenticates a little *before* its token dies (a streamed upload
cannot be sent twice, so a 401 in the middle of one would be fatal).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from oiofs.client.errors import AuthenticationFailed, ConfigurationError

#: environment names, ours first, then the ones swift users already have
ENV_NAMES = (("OIOFS_AUTH_URL", "OIOFS_USER", "OIOFS_KEY"), ("ST_AUTH", "ST_USER", "ST_KEY"))

#: re-authenticate this many seconds before a token's announced expiry
EXPIRY_MARGIN = 30.0


@dataclass(frozen=True)
class Credentials:
    """Where and as whom to authenticate (``key`` is kept out of ``repr``)."""

    auth_url: str
    user: str
    key: str

    def __repr__(self) -> str:
        return f"Credentials(auth_url={self.auth_url!r}, user={self.user!r}, key=...)"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Credentials:
        """Read ``OIOFS_AUTH_URL``/``OIOFS_USER``/``OIOFS_KEY``, else ``ST_AUTH``/
        ``ST_USER``/``ST_KEY``; :class:`ConfigurationError` when neither set is whole."""
        env = os.environ if environ is None else environ
        for names in ENV_NAMES:
            url, user, key = (env.get(n, "") for n in names)
            if url and user and key:
                return cls(url, user, key)
        raise ConfigurationError(
            "no credentials: set OIOFS_AUTH_URL, OIOFS_USER and OIOFS_KEY "
            "(or ST_AUTH, ST_USER and ST_KEY)")


@dataclass(frozen=True)
class Token:
    """A token and the storage URL it is for; ``expires`` is a ``time.monotonic()`` value
    (``None`` when the auth service did not say)."""

    value: str
    storage_url: str
    expires: float | None = None

    def fresh(self, now: float | None = None) -> bool:
        """Whether the token should still be used (not within EXPIRY_MARGIN of expiry)."""
        if self.expires is None:
            return True
        return (time.monotonic() if now is None else now) < self.expires - EXPIRY_MARGIN


def token_from_answer(status: int, headers: dict[str, str], user: str,
                      now: float | None = None) -> Token:
    """The :class:`Token` in an auth answer (lower-case header names).

    :class:`AuthenticationFailed` unless it is a 2xx carrying both a token and a URL.
    """
    url = headers.get("x-storage-url")
    value = headers.get("x-auth-token") or headers.get("x-storage-token")
    if status // 100 != 2 or not url or not value:
        raise AuthenticationFailed(
            status, "authentication failed" if status // 100 != 2 else
            "no token or storage URL in the answer", "GET", f"(auth for {user})", headers)
    expires = None
    left = headers.get("x-auth-token-expires", "")
    if left.isdigit():
        expires = (time.monotonic() if now is None else now) + int(left)
    return Token(value, url, expires)


def check_auth_url(url: str) -> None:
    """:class:`ConfigurationError` for an auth URL that is not v1 over plain http."""
    if not url.startswith("http://"):
        raise ConfigurationError(f"unsupported auth URL {url!r}: plain http:// v1 only")
