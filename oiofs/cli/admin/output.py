"""How ``oiofs-admin`` prints a result: a JSON document or a human table."""

from __future__ import annotations

import json
from typing import Any

from oiofs.cli.output import say


def emit(result: Any, fmt: str, columns: list[str] | None = None) -> None:
    """Print ``result``. ``fmt`` is ``json`` (the document as is) or ``table``: a list of
    dicts becomes one row per dict (``columns`` gives their order, else the first row's
    keys), a dict becomes ``key  value`` lines, anything else is printed as text."""
    if fmt == "json":
        say(json.dumps(result, indent=2, sort_keys=True, default=str))
        return
    if isinstance(result, list) and result and all(isinstance(r, dict) for r in result):
        cols = columns or list(result[0])
        rows = [[_cell(r.get(c)) for c in cols] for r in result]
        widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(cols)]
        say("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip())
        for row in rows:
            say("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    elif isinstance(result, dict):
        width = max((len(str(k)) for k in result), default=0)
        for key, value in result.items():
            say(f"{str(key).ljust(width)}  {_cell(value)}")
    elif isinstance(result, list) and not result:
        say("(none)")
    else:
        say(str(result))


def _cell(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return "" if value is None else str(value)
