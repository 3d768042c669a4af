"""Self-contained signed auth tokens (no I/O, no shared state).

A token names its user and its expiry and carries an HMAC-SHA256 of both, keyed with the
operator's ``token_secret`` and the user's current key::

    AUTH_tk 65f1a2b3 746573743a746573746572 <32 hex digits of signature>
    prefix  expiry   "test:tester" in hex    HMAC(secret, prefix|expiry|user|key)

Every proxy worker (and every proxy sharing the secret) verifies it on its own, so a token
works on all of them and survives restarts. Changing a user's key revokes its tokens;
removing the user too. Comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac

SIG_HEX = 32  # 128 bits of the HMAC


class TokenSigner:
    """Makes and checks tokens for one ``reseller_prefix`` and secret."""

    def __init__(self, secret: str | bytes, reseller_prefix: str = "AUTH_"):
        self.secret = secret.encode("utf-8") if isinstance(secret, str) else secret
        self.prefix = reseller_prefix + "tk"

    def _sign(self, expires_hex: str, user_hex: str, key: str) -> str:
        msg = f"{self.prefix}|{expires_hex}|{user_hex}|".encode() + key.encode("utf-8")
        return hmac.new(self.secret, msg, hashlib.sha256).hexdigest()[:SIG_HEX]

    def make(self, user: str, key: str, expires: int) -> str:
        """A token for ``user`` (``account:user``) valid until epoch second ``expires``."""
        expires_hex = "%08x" % expires
        user_hex = user.encode("utf-8").hex()
        return self.prefix + expires_hex + user_hex + self._sign(expires_hex, user_hex, key)

    def parse(self, token: str) -> tuple[str, int] | None:
        """``(user, expires)`` named by a well-formed token (signature not checked yet)."""
        if not token.startswith(self.prefix):
            return None
        body = token[len(self.prefix):]
        if len(body) < 8 + 2 + SIG_HEX:
            return None
        try:
            expires = int(body[:8], 16)
            user = bytes.fromhex(body[8:-SIG_HEX]).decode("utf-8")
        except ValueError:
            return None
        return user, expires

    def verify(self, token: str, key: str, now: float) -> bool:
        """True if ``token`` was signed with this secret and ``key`` and has not expired."""
        body = token[len(self.prefix):]
        expires_hex, user_hex, sig = body[:8], body[8:-SIG_HEX], body[-SIG_HEX:]
        try:
            if int(expires_hex, 16) <= now:
                return False
        except ValueError:
            return False
        return hmac.compare_digest(sig, self._sign(expires_hex, user_hex, key))
