"""What the bulk filter says and reads, apart from any I/O (sans-IO).

The answer to an archive extraction or a bulk delete is one document in the format the
client's ``Accept`` asks for (``text/plain`` by default, ``application/json``,
``application/xml`` or ``text/xml``), as Swift writes it: the counts and the request's
real outcome (``Response Status``/``Response Body``, since the HTTP status, ``200``, is
sent before the work starts) and the failures as ``[quoted path, status]`` pairs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

ACCEPTABLE_FORMATS = ("text/plain", "application/json", "application/xml", "text/xml")
#: ``?extract-archive=`` value -> the ``tarfile`` stream mode that reads it
ARCHIVE_MODES = {"tar": "r|", "tar.gz": "r|gz", "tar.bz2": "r|bz2"}


def output_format(accept: str | None) -> str | None:
    """The answer's content type for an ``Accept`` header (``None``: none acceptable).

    >>> output_format(None), output_format("application/json"), output_format("image/png")
    ('text/plain', 'application/json', None)
    """
    if not accept:
        return "text/plain"
    return parse_accept_header(accept, MIMEAccept).best_match(ACCEPTABLE_FORMATS)


def result_body(fmt: str, root: str, counts: dict[str, object],
                errors: list[list[str]]) -> bytes:
    """The result document: ``counts`` (with ``Response Status``/``Response Body``) and
    ``errors`` in format ``fmt``; ``root`` names the XML element (``extract``/``delete``).

    >>> print(result_body("text/plain", "delete", {"Number Deleted": 1,
    ...       "Response Status": "400 Bad Request"}, [["/c/o", "409 Conflict"]]).decode())
    Number Deleted: 1
    Response Status: 400 Bad Request
    Errors:
    /c/o, 409 Conflict
    <BLANKLINE>
    """
    if fmt == "application/json":
        return json.dumps(dict(counts, Errors=errors)).encode("ascii")
    if fmt.endswith("/xml"):
        out = ['<?xml version="1.0" encoding="UTF-8"?>\n', f"<{root}>\n"]
        for key in sorted(counts):
            tag = key.replace(" ", "_").lower()
            out.append(f"<{tag}>{escape(str(counts[key]))}</{tag}>\n")
        out.append("<errors>\n")
        out.extend(f"<object><name>{escape(name)}</name><status>{escape(status)}"
                   f"</status></object>\n" for name, status in errors)
        out.append(f"</errors>\n</{root}>\n")
        return "".join(out).encode("utf-8")
    lines = [f"{key}: {counts[key]}\n" for key in sorted(counts)]
    lines.append("Errors:\n")
    lines.extend(f"{name}, {status}\n" for name, status in errors)
    return "".join(lines).encode("utf-8")


def outcome_status(failed: list[list[str]], done: int, default: str) -> str:
    """The ``Response Status`` of a run: ``default`` (201/200) when something was done
    and nothing failed, else ``502 Bad Gateway`` if a failure was the cluster's (5xx),
    else ``400 Bad Request``."""
    if failed:
        if any(status[:1] == "5" for _name, status in failed):
            return "502 Bad Gateway"
        return "400 Bad Request"
    return default if done else "400 Bad Request"


def quoted(path: str) -> str:
    """A name as the error list shows it (percent-encoded, ``/`` kept; bytes that were
    not UTF-8, surrogate-escaped, shown as they came).

    >>> quoted("/c/a b")
    '/c/a%20b'
    """
    return quote(path, safe="/", errors="surrogateescape")


def member_path(base: str, name: str) -> str | None:
    """Where archive member ``name`` goes below the upload path ``base`` (``""``: the
    account, ``"c"`` or ``"c/prefix"``): ``"container/object"``, or ``None`` for a file
    that names no container (a base-level file uploaded to an account is ignored, as in
    Swift).

    >>> member_path("", "./photos/a.jpg"), member_path("c/dir", "a/b"), member_path("", "x")
    ('photos/a.jpg', 'c/dir/a/b', None)
    """
    while name.startswith("./"):
        name = name[2:]
    name = name.lstrip("/")
    if base:
        name = f"{base}/{name}"
    if "/" not in name or not name.split("/", 1)[1]:
        return None
    return name


def delete_names(lines: Iterable[bytes]) -> Iterator[str]:
    """The names a bulk-delete body lists (one URL-encoded ``/container[/object]`` a
    line; blank lines skipped), as text; a name that is not UTF-8 is kept as the
    percent-encoded line so that it can be reported."""
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        text = line.decode("utf-8", "surrogateescape")
        yield unquote(text, errors="surrogateescape").lstrip("/")
