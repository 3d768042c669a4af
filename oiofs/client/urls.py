"""Sans-IO URL handling: storage URLs, quoted paths, query strings, metadata headers.

Nothing here touches the network, so every rule can be tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

from oiofs.client.errors import ConfigurationError


@dataclass(frozen=True)
class StorageURL:
    """A parsed ``http://host:port/v1/AUTH_account`` (the ``path`` keeps its quoting)."""

    scheme: str
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str) -> StorageURL:
        """Split ``url``; :class:`ConfigurationError` unless it is a plain ``http://`` URL.

        HTTPS is refused rather than silently sent in clear: the library does not speak
        TLS yet (docs/client.md).
        """
        parts = urlsplit(url)
        if parts.scheme != "http":
            raise ConfigurationError(
                f"unsupported URL {url!r}: oiofs.client speaks plain http:// only")
        if not parts.hostname:
            raise ConfigurationError(f"no host in URL {url!r}")
        try:
            port = parts.port or 80
        except ValueError:
            raise ConfigurationError(f"bad port in URL {url!r}") from None
        return cls("http", parts.hostname, port, parts.path.rstrip("/"))

    @property
    def netloc(self) -> str:
        """``host:port`` as sent in the ``Host`` header."""
        return f"{self.host}:{self.port}"

    def url(self, path: str = "") -> str:
        """The absolute URL of ``path`` (already quoted) on this server."""
        return f"{self.scheme}://{self.netloc}{path}"


def _name(value: str, kind: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{kind} name must be a non-empty string, not {value!r}")
    return value


def quote_path(base: str, container: str | None = None, obj: str | None = None) -> str:
    """``base[/container[/object]]`` with the names percent-encoded as UTF-8.

    The container is quoted whole (a ``/`` in it would name another path); an object name
    keeps its ``/`` (pseudo-folders). ``obj`` without ``container`` is a ``ValueError``.
    """
    path = base
    if container is not None:
        path += "/" + quote(_name(container, "container"), safe="")
    if obj is not None:
        if container is None:
            raise ValueError("an object needs a container")
        path += "/" + quote(_name(obj, "object"), safe="/")
    return path


def query_string(params: dict[str, str | int | bool | None] | None) -> str:
    """``?a=1&b=x`` from ``params`` (``None`` values dropped, booleans as ``true``).

    A value ``""`` is kept as a bare flag (``?multipart-manifest``-style keys are
    written ``key=``). Empty when nothing remains.
    """
    if not params:
        return ""
    items = []
    for key, value in params.items():
        if value is None or value is False:
            continue
        if value is True:
            value = "true"
        items.append((key, str(value)))
    return "?" + urlencode(items, quote_via=quote, safe="") if items else ""


def metadata_headers(kind: str, metadata: dict[str, str] | None,
                     remove: list[str] | tuple[str, ...] = ()) -> dict[str, str]:
    """Headers setting ``metadata`` on an ``account``, ``container`` or ``object``.

    ``{"color": "blue"}`` becomes ``X-Object-Meta-Color: blue``; names in ``remove``
    become ``X-Remove-Object-Meta-<name>`` (account and container only; on objects a POST
    replaces all metadata, so leave the name out instead).
    """
    if kind not in ("account", "container", "object"):
        raise ValueError(f"kind must be account, container or object, not {kind!r}")
    prefix = f"X-{kind.capitalize()}-Meta-"
    out = {}
    for name, value in (metadata or {}).items():
        if not name or any(c in name for c in ":\r\n"):
            raise ValueError(f"bad metadata name {name!r}")
        if any(c in str(value) for c in "\r\n"):
            raise ValueError(f"metadata value of {name!r} contains a line break")
        out[prefix + name] = str(value)
    if remove:
        if kind == "object":
            raise ValueError("object metadata cannot be removed by name: POST the rest")
        for name in remove:
            out[f"X-Remove-{kind.capitalize()}-Meta-{name}"] = "x"
    return out


def metadata_of(kind: str, headers: dict[str, str]) -> dict[str, str]:
    """The user metadata in ``headers`` (lower-case names), keyed by lower-case name."""
    prefix = f"x-{kind}-meta-"
    return {k[len(prefix):]: v for k, v in headers.items() if k.startswith(prefix)}
