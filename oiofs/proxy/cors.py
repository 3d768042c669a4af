"""CORS decisions from a container's metadata (no I/O here).

A container opts in with metadata headers:

* ``X-Container-Meta-Access-Control-Allow-Origin``: space-separated origins, or ``*``;
* ``X-Container-Meta-Access-Control-Max-Age``: seconds a browser may cache a preflight;
* ``X-Container-Meta-Access-Control-Expose-Headers``: extra response headers to expose;
* ``X-Container-Meta-Access-Control-Allow-Headers``: request headers a preflight allows.

The operator may allow origins for every container (``cors_allow_origin``) and expose
more headers (``cors_expose_headers``). Decisions are *strict*: a response gets CORS
headers only when its origin is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: exposed on every CORS response: the simple response headers and Swift's own
DEFAULT_EXPOSE_HEADERS = ("cache-control", "content-language", "content-type", "expires",
                          "last-modified", "pragma", "etag", "x-timestamp", "x-trans-id",
                          "x-openstack-request-id")


@dataclass(frozen=True)
class CorsInfo:
    """A container's CORS settings, as read from its metadata."""

    allow_origin: str | None = None
    max_age: str | None = None
    expose_headers: str | None = None
    allow_headers: str | None = None

    @classmethod
    def from_meta(cls, meta: dict) -> CorsInfo:
        """From container metadata keyed by lower-case name without the meta prefix."""
        return cls(meta.get("access-control-allow-origin"),
                   meta.get("access-control-max-age"),
                   meta.get("access-control-expose-headers"),
                   meta.get("access-control-allow-headers"))


@dataclass(frozen=True)
class CorsPolicy:
    """The operator's settings: origins allowed everywhere and headers always exposed."""

    allow_origins: frozenset = frozenset()
    expose_headers: tuple = ()
    _default_expose: tuple = field(default=DEFAULT_EXPOSE_HEADERS, repr=False)

    def origin_allowed(self, origin: str, cors: CorsInfo | None) -> bool:
        """Whether ``origin`` may use the container."""
        if origin in self.allow_origins or "*" in self.allow_origins:
            return True
        if cors is None or not cors.allow_origin:
            return False
        allowed = cors.allow_origin.split()
        return "*" in allowed or origin in allowed

    def preflight(self, origin: str, method: str | None, request_headers: str | None,
                  cors: CorsInfo | None, allowed_methods: list[str]) -> dict | None:
        """Headers of a 200 answer to an ``OPTIONS`` preflight, or ``None`` for 401."""
        if not method or method not in allowed_methods or \
                not self.origin_allowed(origin, cors):
            return None
        headers = {"Allow": ", ".join(allowed_methods),
                   "Access-Control-Allow-Methods": ", ".join(allowed_methods)}
        if cors is not None and cors.allow_origin and cors.allow_origin.strip() == "*":
            headers["Access-Control-Allow-Origin"] = "*"
        else:
            headers["Access-Control-Allow-Origin"] = origin
        if cors is not None and cors.max_age:
            headers["Access-Control-Max-Age"] = cors.max_age
        allow: list[str] = []
        if cors is not None and cors.allow_headers:
            allow.extend(h.strip().lower() for h in cors.allow_headers.split() if h.strip())
        if request_headers:
            # The specification lets a server allow whatever the preflight asks for.
            allow.extend(h.strip().lower() for h in request_headers.split(",") if h.strip())
        if allow:
            headers["Access-Control-Allow-Headers"] = ", ".join(dict.fromkeys(allow))
        return headers

    def response_headers(self, origin: str, cors: CorsInfo | None,
                         header_names) -> list[tuple[str, str]]:
        """CORS headers to add to an actual response (none if the origin is not allowed).

        ``header_names`` are the response's header names, to expose its user metadata.
        """
        if not self.origin_allowed(origin, cors):
            return []
        expose = list(self._default_expose)
        for name in header_names:
            lname = name.lower()
            if lname.startswith("x-object-meta-") or lname.startswith("x-container-meta-"):
                expose.append(lname)
        if cors is not None and cors.expose_headers:
            expose.extend(h.strip().lower() for h in cors.expose_headers.split() if h.strip())
        expose.extend(self.expose_headers)
        result = [("Access-Control-Expose-Headers", ", ".join(dict.fromkeys(expose)))]
        if cors is not None and cors.allow_origin and cors.allow_origin.strip() == "*":
            result.append(("Access-Control-Allow-Origin", "*"))
        else:
            result.append(("Access-Control-Allow-Origin", origin))
            result.append(("Vary", "Origin"))
        return result
