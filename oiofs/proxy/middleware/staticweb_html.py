"""The HTML staticweb generates (sans-IO): directory listings, with every name escaped.

A listing is one page per pseudo-directory: a parent link (below the container root), the
subdirectories, then the objects with their size and date, styled by the container's
``Web-Listings-CSS`` (a link, relative to the container root unless absolute) or by a
small default style.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator
from urllib.parse import quote

DEFAULT_CSS = """\
  <style type="text/css">
   h1 {font-size: 1em; font-weight: bold;}
   th {text-align: left; padding: 0px 1em 0px 1em;}
   td {padding: 0px 1em 0px 1em;}
   a {text-decoration: none;}
  </style>
"""


def human_size(size: int) -> str:
    """A size as a listing shows it.

    >>> human_size(512), human_size(2048), human_size(50 * 1024 ** 3)
    ('512', '2.0K', '50G')
    """
    value = float(size)
    for unit in ("", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            return f"{value:.1f}{unit}" if unit and value < 10 else f"{value:.0f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")


def css_link(css: str, prefix: str) -> str:
    """The ``<link>`` (or default ``<style>``) of a listing page of ``prefix``."""
    if not css:
        return DEFAULT_CSS
    if not (css.startswith("/") or "://" in css):
        css = "../" * prefix.count("/") + css
    href = html.escape(quote(css, safe="/:?=&#%"))
    return f'  <link rel="stylesheet" type="text/css" href="{href}" />\n'


def listing_head(title_path: str, prefix: str, css: str) -> str:
    """The start of a listing page of ``prefix`` (``""`` at the container root)."""
    title = html.escape(f"Listing of {title_path}")
    out = ['<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" '
           '"http://www.w3.org/TR/html4/loose.dtd">\n<html>\n <head>\n',
           f"  <title>{title}</title>\n", css_link(css, prefix),
           f' </head>\n <body>\n  <h1 id="title">{title}</h1>\n',
           '  <table id="listing">\n   <tr id="heading"><th class="colname">Name</th>'
           '<th class="colsize">Size</th><th class="coldate">Date</th></tr>\n']
    if prefix:
        out.append('   <tr id="parent" class="item"><td class="colname">'
                   '<a href="../">../</a></td><td class="colsize">&nbsp;</td>'
                   '<td class="coldate">&nbsp;</td></tr>\n')
    return "".join(out)


LISTING_TAIL = "  </table>\n </body>\n</html>\n"


def listing_rows(entries: Iterable[dict], prefix: str) -> Iterator[str]:
    """One table row per entry of a JSON container listing (``subdir`` or object)."""
    for entry in entries:
        if "subdir" in entry:
            name = entry["subdir"][len(prefix):]
            link = html.escape(quote(name))
            yield (f'   <tr class="item subdir"><td class="colname"><a href="{link}">'
                   f"{html.escape(name)}</a></td><td class=\"colsize\">&nbsp;</td>"
                   f'<td class="coldate">&nbsp;</td></tr>\n')
            continue
        name = entry["name"][len(prefix):]
        ctype = entry.get("content_type", "").split(";")[0]
        classes = " ".join("type-" + html.escape(part.replace(" ", "-"))
                           for part in ctype.split("/") if part)
        date = html.escape(entry.get("last_modified", "")[:19].replace("T", " "))
        yield (f'   <tr class="item {classes}"><td class="colname">'
               f'<a href="{html.escape(quote(name))}">{html.escape(name)}</a></td>'
               f'<td class="colsize">{human_size(int(entry.get("bytes", 0)))}</td>'
               f'<td class="coldate">{date}</td></tr>\n')
