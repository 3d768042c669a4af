"""Requests that depend on a Swift feature oiofs has not built yet, refused loudly.

A Swift cluster without, say, its versioning middleware stores ``X-Versions-Location`` as a
plain container header, answers 2xx, and the client believes its objects are versioned. oiofs
refuses such a request with 501 instead, naming the feature, so that nothing is silently
stored as something else (``/info`` lists what works). Each entry goes when its feature
lands (the middleware then consumes the header before the proxy application sees it).

Only writes carry a feature's setting; a header sent empty (which removes the setting in
Swift) is let through, as are the ``X-Remove-*`` forms.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from oiofs.common.exceptions import HTTPNotImplemented

#: WSGI header key -> the feature it asks for, on PUT/POST/COPY
UNSUPPORTED_HEADERS = {
}
#: query parameter -> the feature it asks for, on any method
UNSUPPORTED_PARAMS = {
    "versions": "object versioning (versions)",
}
WRITE_METHODS = frozenset(("PUT", "POST", "COPY"))


def refuse_unsupported(environ: dict) -> None:
    """Raise :class:`HTTPNotImplemented` (501) if the request asks for a feature oiofs
    does not have; return ``None`` otherwise."""
    if environ.get("REQUEST_METHOD") in WRITE_METHODS:
        for key, feature in UNSUPPORTED_HEADERS.items():
            if environ.get(key, "").strip():
                raise HTTPNotImplemented(f"{feature} is not available in this cluster")
    query = environ.get("QUERY_STRING")
    if query:
        for name in parse_qs(query, keep_blank_values=True):
            param_feature = UNSUPPORTED_PARAMS.get(name)
            if param_feature is not None:
                raise HTTPNotImplemented(f"{param_feature} is not available in this cluster")
