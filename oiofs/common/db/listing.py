"""The listing rules shared by container (objects) and account (containers) databases.

A listing returns names in order starting after ``marker`` and before ``end_marker``, up to
``limit`` entries; with ``reverse`` the order is descending and ``marker`` is the *upper*
bound, ``end_marker`` the lower one. Only names starting with ``prefix`` are listed.

With a ``delimiter`` (one or more characters), a name that has the delimiter somewhere
after the prefix is not listed itself: it is rolled up into one *subdir* entry
``name[:i + len(delimiter)]`` (``i`` where the first delimiter after the prefix starts),
listed where its first member would be. A subdir equal to the
lower bound (the ``marker`` a client paging through subdirs sends back) is not repeated.

``path=p`` means ``prefix=p.rstrip('/') + '/'`` with delimiter ``/``, but the deeper names
are skipped instead of rolled up, and the name equal to the prefix itself is not listed.

The work is done with range queries on the name index: each subdir costs one query that
jumps past all of its members, never a scan of them. The module is pure logic: a broker
supplies :data:`Fetch`, the one query.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

#: ``fetch(lower, lower_inclusive, upper, count, reverse)``: at most ``count`` rows whose
#: first column is the name, with ``lower < name`` (``<=`` if inclusive, no bound if
#: ``None``) and ``name < upper`` (no bound if ``None``), ordered by name.
#: one listing row: the name first, then whatever the listing shows
Row: TypeAlias = Sequence[Any]
Fetch = Callable[[str | None, bool, str | None, int, bool], Sequence[Row]]

_MAX_CHAR = 0x10FFFF


def prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix``.

    ``None`` when there is none (the prefix is empty or only U+10FFFF characters).
    """
    while prefix and ord(prefix[-1]) == _MAX_CHAR:
        prefix = prefix[:-1]
    if not prefix:
        return None
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def list_with_rules(fetch: Fetch, limit: int, marker: str | None, end_marker: str | None,
                    prefix: str | None, delimiter: str | None, path: str | None,
                    reverse: bool, subdir_row: Callable[[str], Row]) -> list[Row]:
    """Apply the listing rules above; rows as ``fetch`` returns them, subdirs by ``subdir_row``.

    ``delimiter`` may be several characters long.
    """
    if limit <= 0:
        return []
    marker = marker or ""
    end_marker = end_marker or ""
    if reverse:
        # from here on, marker is the lower bound and end_marker the upper one
        marker, end_marker = end_marker, marker
    if path is not None:
        prefix = path.rstrip("/") + "/" if path else ""
        path = prefix
        delimiter = "/"
    elif delimiter and not prefix:
        prefix = ""
    end_prefix = prefix_upper_bound(prefix) if prefix else None
    lower_marker = marker
    results: list[Row] = []
    force_inclusive = False
    upper: str | None
    while len(results) < limit:
        if end_marker and (end_prefix is None or end_marker < end_prefix):
            upper = end_marker
        else:
            upper = end_prefix
        if force_inclusive:
            lower, inclusive = marker, True
            force_inclusive = False
        elif marker and (not prefix or marker >= prefix):
            lower, inclusive = marker, False
        elif prefix:
            lower, inclusive = prefix, True
        else:
            lower, inclusive = None, False
        wanted = limit - len(results)
        rows = fetch(lower, inclusive, upper, wanted, reverse)
        if prefix is None or not delimiter:
            return list(rows)
        if not rows:
            break
        jumped = False
        for row in rows:
            name = row[0]
            if reverse:
                end_marker = name
            else:
                marker = name
            end = name.find(delimiter, len(prefix))
            if path is not None:
                if name == path:
                    continue
                if end >= 0 and len(name) > end + 1:
                    # a deeper name under path: skip its whole subtree in one jump
                    if reverse:
                        # NUL never appears in names: this keeps ``name[:end + 1]`` itself
                        end_marker = name[:end + 1] + "\x00"
                    else:
                        marker = prefix_upper_bound(name[:end + 1]) or ""
                        force_inclusive = True
                    jumped = True
                    break
            elif end >= 0:
                dir_name = name[:end + len(delimiter)]
                if reverse:
                    end_marker = dir_name
                else:
                    # past every member: the delimiter's last character bumped by one
                    # (``a/`` -> ``a0``, ``a--`` -> ``a-.``)
                    marker = prefix_upper_bound(dir_name)
                    force_inclusive = True
                if dir_name != lower_marker:
                    results.append(subdir_row(dir_name))
                if marker is None:
                    return results  # the subdir's names end the name space
                jumped = True
                break
            results.append(row)
            if len(results) >= limit:
                return results
        if not jumped and len(rows) < wanted:
            break  # the range is exhausted: no need for one more empty query
    return results
