"""Object versioning (Swift's ``X-Versions-Enabled``): names, version ids, settings.

Sans-IO. A container with versioning keeps its object versions in a second container of
the same account, ``.oiofs-versions.<container>`` (:func:`versions_container`), which the
``object_versioning`` filter refuses to clients (Swift uses a reserved ``\\x00`` name;
oiofs's storage refuses NUL in names, so the prefix is reserved by the filter instead).
The container's setting is system metadata::

    X-Container-Sysmeta-Object-Versioning-Enabled: true | false
    X-Container-Sysmeta-Object-Versioning-Container: <versions container, quoted>

A version of object ``name`` written at timestamp ``t`` is the object
``<name>\\x01<inverted t>`` of the versions container: a listing of the versions container
is in object name order, and for one object newest first. Its version id (what clients
see in ``X-Object-Version-Id``) is ``t`` in normal form, as in Swift.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from oiofs.common.exceptions import HTTPBadRequest, InvalidTimestamp
from oiofs.common.timestamp import Timestamp

PREFIX = ".oiofs-versions."
SEPARATOR = "\x01"
SYSMETA_ENABLED = "X-Container-Sysmeta-Object-Versioning-Enabled"
SYSMETA_CONTAINER = "X-Container-Sysmeta-Object-Versioning-Container"
#: the container info's sysmeta keys (lower case, without the prefix)
ENABLED_KEY = "object-versioning-enabled"
CONTAINER_KEY = "object-versioning-container"
#: the content type of a delete marker version (Swift's)
DELETE_MARKER_TYPE = "application/x-deleted;swift_versions_deleted=1"
NULL_VERSION = "null"
#: 10 us ticks of the largest timestamp (9999999999.99999)
_MAX_RAW = 999999999999999


def versions_container(container: str) -> str:
    """The versions container of ``container`` (text).

    >>> versions_container("photos")
    '.oiofs-versions.photos'
    """
    return PREFIX + container


def is_reserved(container: str) -> bool:
    """Whether a container name (text or WSGI) is one clients may not address."""
    return container.startswith(PREFIX)


def invert(version_id: str) -> str:
    """The inverted form of a version id (newer ids sort first); 400 if it is no id.

    >>> invert("0000000001.00000")
    '9999999998.99999'
    >>> invert(invert("1700000000.12345"))
    '1700000000.12345'
    """
    try:
        ts = Timestamp(version_id)
    except InvalidTimestamp:
        raise HTTPBadRequest("Invalid version-id") from None
    if ts.offset or "_" in version_id:
        raise HTTPBadRequest("Invalid version-id")
    return Timestamp(0, delta=_MAX_RAW - ts.raw).normal


def version_name(obj: str, version_id: str) -> str:
    """The versions container object holding version ``version_id`` of ``obj`` (text).

    >>> version_name("a/b", "1700000000.00000") == "a/b\\x018299999999.99999"
    True
    """
    return obj + SEPARATOR + invert(version_id)


def versions_prefix(obj: str) -> str:
    """The listing prefix of ``obj``'s versions in its versions container."""
    return obj + SEPARATOR


def split_version_name(name: str) -> tuple[str, str] | None:
    """``(object, version id)`` of a versions container object name, or ``None``.

    >>> split_version_name(version_name("x\\x01y", "1700000000.00000"))
    ('x\\x01y', '1700000000.00000')
    """
    obj, sep, inverted = name.rpartition(SEPARATOR)
    if not sep or not obj:
        return None
    try:
        return obj, invert(inverted)
    except HTTPBadRequest:
        return None


def requested_setting(value: str) -> bool:
    """The client's ``X-Versions-Enabled`` value as a boolean; 400 if it is neither.

    >>> requested_setting(" True"), requested_setting("false")
    (True, False)
    """
    word = value.strip().lower()
    if word in ("true", "yes", "on", "1", "t", "y"):
        return True
    if word in ("false", "no", "off", "0", "f", "n"):
        return False
    raise HTTPBadRequest("X-Versions-Enabled must be true or false")


def setting_of(sysmeta: dict[str, str]) -> tuple[bool, str] | None:
    """``(enabled, versions container as text)`` of a container's system metadata, or
    ``None`` when versioning was never enabled on it."""
    location = sysmeta.get(CONTAINER_KEY)
    if not location:
        return None
    return sysmeta.get(ENABLED_KEY) == "true", unquote(location)


def stored_setting(enabled: bool, versions: str) -> dict[str, str]:
    """The system metadata that records a setting."""
    return {SYSMETA_ENABLED: "true" if enabled else "false",
            SYSMETA_CONTAINER: quote(versions, safe="")}


def client_setting(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A container answer's headers with the setting shown as ``X-Versions-Enabled``."""
    out = []
    enabled = None
    for name, value in headers:
        lname = name.lower()
        if lname == SYSMETA_ENABLED.lower():
            enabled = value
        elif lname != SYSMETA_CONTAINER.lower():
            out.append((name, value))
    if enabled:
        out.append(("X-Versions-Enabled", "True" if enabled == "true" else "False"))
    return out


def is_delete_marker(content_type: str) -> bool:
    """Whether a version's content type is a delete marker's."""
    return content_type.replace(" ", "").startswith(DELETE_MARKER_TYPE)
