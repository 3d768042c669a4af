"""The access line: one line per request, in every server and the proxy, with no I/O.

The fields, in order, are Swift's proxy access-log fields (``docs/logging.md`` says what
each one holds); every field is one space-free token, ``-`` when it has no value, and
free text is percent-encoded so that a line always splits on spaces::

    client_ip remote_addr datetime method path protocol status referer user_agent
    auth_token bytes_recvd bytes_sent client_etag trans_id headers request_time source
    log_info start_time end_time policy_index

>>> line = access_line({"REMOTE_ADDR": "127.0.0.1", "REQUEST_METHOD": "GET",
...                     "PATH_INFO": "/v1/AUTH_test/c/o n", "QUERY_STRING": "",
...                     "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_USER_AGENT": "curl/8.0"},
...                    200, 0, 5, 1764928800.0, 1764928800.25, "tx1-2", "0")
>>> for start in range(0, 21, 7):
...     print(" ".join(line.split()[start:start + 7]))
127.0.0.1 127.0.0.1 05/Dec/2025/10/00/00 GET /v1/AUTH_test/c/o%20n HTTP/1.1 200
- curl/8.0 - 0 5 - tx1-2
- 0.2500 - - 1764928800.000000000 1764928800.250000000 0
>>> fields = parse_access_line(line)
>>> fields["path"], fields["status"], fields["trans_id"], fields["policy_index"]
('/v1/AUTH_test/c/o n', '200', 'tx1-2', '0')
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

#: the fields of an access line, in order
ACCESS_FIELDS = (
    "client_ip", "remote_addr", "datetime", "method", "path", "protocol", "status",
    "referer", "user_agent", "auth_token", "bytes_recvd", "bytes_sent", "client_etag",
    "trans_id", "headers", "request_time", "source", "log_info", "start_time", "end_time",
    "policy_index")

#: environ key of the proxy's transaction id (made once per client request)
TRANS_ID_KEY = "oiofs.trans_id"
#: environ key of a dict where the proxy notes what its access line needs from deeper
#: down (the policy index); a dict, so that the shallow copies of the environ that
#: middlewares pass down share it
LOG_CONTEXT_KEY = "oiofs.log_context"

# Characters left as they are in a field: printable ASCII but space, '"', '%' and '\\'.
_SAFE = "/:@!$&'()*+,;=?~[]{}<>|^`#"
_getrandbits = random.getrandbits
# True for text that is already one safe token (the common case: checked in one pass)
_PLAIN = re.compile(r"[!#$&-\[\]-~]+").fullmatch


def new_trans_id(suffix: str = "") -> str:
    """A fresh transaction id ``tx<21 hex>-<10 hex of the time>[suffix]`` (Swift's shape).

    >>> tid = new_trans_id("-east")
    >>> tid.startswith("tx") and tid.endswith("-east") and len(tid) == 39
    True
    """
    return "tx%021x-%010x%s" % (_getrandbits(84), int(time.time()), suffix)


def _field(value: object) -> str:
    """One token: ``-`` for nothing, else the value percent-encoded where needed.

    >>> _field('object-server 12'), _field('a%"b'), _field("é")
    ('object-server%2012', 'a%25%22b', '%C3%A9')
    """
    if value is None or value == "":
        return "-"
    text = str(value)
    if _PLAIN(text):
        return text
    if text.isascii() and text.isprintable():
        # the only printable ASCII characters quote() encodes with _SAFE: the same
        # result without its per-character loop (user agents hold a space)
        return text.replace("%", "%25").replace(" ", "%20").replace('"', "%22").replace(
            "\\", "%5C")
    return quote(text.encode("utf-8", "surrogateescape"), safe=_SAFE)


class _DateCache:
    """The ``dd/Mon/YYYY/HH/MM/SS`` text of a second, computed once per second."""

    second = -1
    text = ""


def _log_date(when: float) -> str:
    second = int(when)
    if second != _DateCache.second:
        _DateCache.text = time.strftime("%d/%b/%Y/%H/%M/%S", time.gmtime(second))
        _DateCache.second = second
    return _DateCache.text


def request_path(environ: Mapping[str, Any]) -> str:
    """The request target as a client sent it: ``PATH_INFO`` (WSGI text of raw bytes,
    decoded as UTF-8 where it can be) with ``?QUERY_STRING`` when there is one."""
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    try:
        path = path.encode("latin-1").decode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        pass
    query = environ.get("QUERY_STRING")
    return f"{path}?{query}" if query else path


def note_policy(environ: Mapping[str, Any], policy_index: int) -> None:
    """Note the storage policy of the request for its access line (if it has one).

    >>> environ = {LOG_CONTEXT_KEY: {}}
    >>> note_policy(dict(environ), 2)
    >>> environ[LOG_CONTEXT_KEY]
    {'policy_index': 2}
    """
    context = environ.get(LOG_CONTEXT_KEY)
    if context is not None:
        context["policy_index"] = policy_index


def client_address(environ: Mapping[str, Any]) -> str:
    """The client's address: the first ``X-Forwarded-For`` hop, else
    ``X-Cluster-Client-Ip``, else the peer address."""
    forwarded = environ.get("HTTP_X_FORWARDED_FOR")
    if forwarded:
        return str(forwarded).split(",")[0].strip()
    return str(environ.get("HTTP_X_CLUSTER_CLIENT_IP") or environ.get("REMOTE_ADDR") or "-")


def access_line(environ: Mapping[str, Any], status: int, bytes_recvd: int, bytes_sent: int,
                start: float, end: float, trans_id: str | None,
                policy_index: object = None) -> str:
    """The access line of one request (``start`` and ``end`` are ``time.time()`` values).

    The auth token is never written (``-``): a log must not hand out credentials.
    """
    return (f"{_field(client_address(environ))} {_field(environ.get('REMOTE_ADDR'))} "
            f"{_log_date(end)} {_field(environ.get('REQUEST_METHOD'))} "
            f"{_field(request_path(environ))} {_field(environ.get('SERVER_PROTOCOL'))} "
            f"{status} {_field(environ.get('HTTP_REFERER'))} "
            f"{_field(environ.get('HTTP_USER_AGENT'))} - {bytes_recvd} {bytes_sent} "
            f"{_field(environ.get('HTTP_ETAG'))} {_field(trans_id)} - {end - start:.4f} "
            f"{_field(environ.get('oiofs.source'))} - {start:.9f} {end:.9f} "
            f"{_field(policy_index)}")


def parse_access_line(line: str) -> dict[str, str | None]:
    """The fields of an access line by name, decoded (``None`` for ``-``).

    The line may carry the logger's prefix (date, name, level): the access line is taken
    as its last ``len(ACCESS_FIELDS)`` tokens. ``ValueError`` if it has fewer.
    """
    tokens = line.split()
    if len(tokens) < len(ACCESS_FIELDS):
        raise ValueError(f"not an access line: {line!r}")
    tokens = tokens[-len(ACCESS_FIELDS):]
    return {name: None if token == "-" else unquote(token)
            for name, token in zip(ACCESS_FIELDS, tokens, strict=True)}
