"""Versioned writes (Swift's legacy modes): container settings and version names.

Sans-IO. A container's ``X-Versions-Location`` (stack mode) or ``X-History-Location``
(history mode) names another container of the same account where older versions of its
objects go; it is kept as container system metadata::

    X-Container-Sysmeta-Versions-Location: <container, percent-encoded>
    X-Container-Sysmeta-Versions-Mode: stack | history

A version of object ``name`` is stored as ``<len(name) as 3 hex digits><name>/<timestamp>``
(``len`` of the UTF-8 name, ``timestamp`` the version's own ``X-Timestamp``), so that a
listing with ``prefix=<len><name>/`` holds exactly its versions, oldest first.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from oiofs.common.exceptions import HTTPBadRequest, HTTPPreconditionFailed
from oiofs.common.timestamp import Timestamp

SYSMETA_LOCATION = "X-Container-Sysmeta-Versions-Location"
SYSMETA_MODE = "X-Container-Sysmeta-Versions-Mode"
#: the container info's sysmeta keys (lower case, without the prefix)
LOCATION_KEY = "versions-location"
MODE_KEY = "versions-mode"
STACK, HISTORY = "stack", "history"
#: client header (WSGI key) -> mode
MODE_HEADERS = {"HTTP_X_VERSIONS_LOCATION": STACK, "HTTP_X_HISTORY_LOCATION": HISTORY}
REMOVE_HEADERS = ("HTTP_X_REMOVE_VERSIONS_LOCATION", "HTTP_X_REMOVE_HISTORY_LOCATION")
#: the content type of a history mode delete marker
DELETE_MARKER_TYPE = "application/x-deleted;swift_versions_deleted=1"


def container_setting(environ: dict) -> dict[str, str] | None:
    """The container system metadata a container ``PUT``/``POST`` sets (``{}``-valued
    entries remove the setting), or ``None`` when it does not touch versioning. The
    client's headers are removed from ``environ``. 400 for both modes at once, 412 for a
    location that is no container name.

    >>> container_setting({"HTTP_X_VERSIONS_LOCATION": "old%20ones"})[SYSMETA_MODE]
    'stack'
    """
    given = {mode: environ.pop(key) for key, mode in MODE_HEADERS.items() if key in environ}
    removed = [environ.pop(key) for key in REMOVE_HEADERS if key in environ]
    if not given and not removed:
        return None
    values = {mode: value.strip() for mode, value in given.items() if value.strip()}
    if len(values) > 1:
        raise HTTPBadRequest("Only one of X-Versions-Location or X-History-Location may "
                             "be specified")
    if not values:
        return {SYSMETA_LOCATION: "", SYSMETA_MODE: ""}
    mode, value = next(iter(values.items()))
    try:
        name = unquote(value.encode("latin-1").decode("utf-8"), errors="strict")
    except (UnicodeEncodeError, UnicodeDecodeError):
        raise HTTPBadRequest("Versions location must be valid UTF-8") from None
    if "/" in name or "\x00" in name or name in (".", ".."):
        raise HTTPPreconditionFailed("Container name cannot contain slashes")
    return {SYSMETA_LOCATION: quote(name, safe=""), SYSMETA_MODE: mode}


def client_setting(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A container answer's headers with the stored setting shown as the client's
    ``X-Versions-Location`` or ``X-History-Location`` (unquoted, as Swift shows it)."""
    location = mode = None
    out = []
    for name, value in headers:
        lname = name.lower()
        if lname == SYSMETA_LOCATION.lower():
            location = value
        elif lname == SYSMETA_MODE.lower():
            mode = value
        else:
            out.append((name, value))
    if location:
        name = "X-History-Location" if mode == HISTORY else "X-Versions-Location"
        out.append((name, unquote(location, encoding="latin-1")))
    return out


def versions_prefix(obj: str) -> str:
    """The prefix of ``obj``'s versions (text in, text out).

    >>> versions_prefix("photo.jpg"), versions_prefix("\\u00e9") == "002\\u00e9/"
    ('009photo.jpg/', True)
    """
    return "%03x%s/" % (len(obj.encode("utf-8")), obj)


def version_name(obj: str, timestamp: str) -> str:
    """The name of ``obj``'s version written at ``timestamp`` (an ``X-Timestamp``)."""
    return versions_prefix(obj) + Timestamp(timestamp).internal


def location_of(sysmeta: dict[str, str]) -> tuple[str, str] | None:
    """``(versions container as text, mode)`` of a container's system metadata."""
    location = sysmeta.get(LOCATION_KEY)
    if not location:
        return None
    return unquote(location), (HISTORY if sysmeta.get(MODE_KEY) == HISTORY else STACK)


def is_delete_marker(content_type: str) -> bool:
    """Whether a listing row's content type is a history-mode delete marker."""
    return content_type.replace(" ", "").startswith(DELETE_MARKER_TYPE)
