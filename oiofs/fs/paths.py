"""Absolute filesystem paths as the stores take them: ``/``, ``/a``, ``/a/b.txt``.

Stores never see relative paths, ``.``/``..`` components, empty components or NUL bytes;
:func:`check` refuses them with :class:`InvalidPathValueError`, so no store can be led
outside its root.
"""

from __future__ import annotations

from oiofs.fs.errors import InvalidPathValueError


def check(path: str) -> str:
    """Return ``path`` if it is absolute and normalised (no trailing ``/`` but the root)."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidPathValueError(f"not an absolute path: {path!r}")
    if path == "/":
        return path
    if "//" not in path and "/." not in path and "\x00" not in path and path[-1] != "/":
        return path     # the usual case, checked without splitting (every FUSE call)
    if "\x00" in path or path.endswith("/"):
        raise InvalidPathValueError(f"invalid path: {path!r}")
    for part in path[1:].split("/"):
        if part in ("", ".", ".."):
            raise InvalidPathValueError(f"invalid path: {path!r}")
    return path


def parent(path: str) -> str:
    """The directory holding ``path`` (``/`` for ``/`` itself)."""
    head = path.rsplit("/", 1)[0]
    return head or "/"


def name(path: str) -> str:
    """The last component of ``path`` (empty for ``/``)."""
    return path.rsplit("/", 1)[1]


def join(directory: str, child: str) -> str:
    """``directory`` + ``/`` + ``child`` without a doubled slash at the root."""
    return directory.rstrip("/") + "/" + child


def is_under(path: str, directory: str) -> bool:
    """True when ``path`` is ``directory`` itself or inside it."""
    if directory == "/":
        return True
    return path == directory or path.startswith(directory + "/")


def rebase(path: str, old: str, new: str) -> str:
    """``path`` (inside ``old``) moved to the same place inside ``new``."""
    if path == old:
        return new
    return join(new, path[len(old) + 1:]) if old != "/" else join(new, path[1:])
