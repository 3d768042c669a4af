"""Sans-IO listing pages: the query of each page and when the listing is over.

Swift answers at most ``limit`` entries per listing request (10000 by default); a whole
listing is read page by page, each page asking for names after the last one received
(``marker``; with ``reverse`` the server reads ``marker`` as "before"). A page shorter
than the asked ``limit`` is the last one. An entry is ``{"name": ...}`` for an object or
container, ``{"subdir": ...}`` for a pseudo-folder when listing with a ``delimiter``; both
names are valid markers.
"""

from __future__ import annotations

from dataclasses import dataclass

#: the cluster's maximum listing length (Swift's CONTAINER_LISTING_LIMIT)
MAX_PAGE = 10000


@dataclass
class ListingPager:
    """The state of one listing walked page by page.

    >>> pager = ListingPager(prefix="photos/", page_size=2)
    >>> pager.params()["marker"]
    ''
    >>> pager.feed([{"name": "photos/a"}, {"name": "photos/b"}])
    [{'name': 'photos/a'}, {'name': 'photos/b'}]
    >>> pager.params()["marker"], pager.done
    ('photos/b', False)
    >>> pager.feed([{"name": "photos/c"}]), pager.done
    ([{'name': 'photos/c'}], True)
    """

    prefix: str | None = None
    delimiter: str | None = None
    marker: str = ""
    end_marker: str | None = None
    reverse: bool = False
    page_size: int = MAX_PAGE
    limit: int | None = None
    done: bool = False
    returned: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.page_size <= MAX_PAGE:
            raise ValueError(f"page_size must be within 1..{MAX_PAGE}")
        if self.limit is not None and self.limit < 0:
            raise ValueError("limit must not be negative")
        if self.limit == 0:
            self.done = True

    def params(self) -> dict[str, str | bool | int | None]:
        """Query parameters of the next page (``format=json`` included)."""
        return {"format": "json", "limit": self._page_limit(), "marker": self.marker,
                "prefix": self.prefix, "delimiter": self.delimiter,
                "end_marker": self.end_marker, "reverse": self.reverse}

    def _page_limit(self) -> int:
        if self.limit is None:
            return self.page_size
        return min(self.page_size, self.limit - self.returned)

    def feed(self, entries: list[dict]) -> list[dict]:
        """Take one page's entries; returns the ones to hand out and moves the marker."""
        if self.done:
            return []
        asked = self._page_limit()
        if self.limit is not None:
            entries = entries[: self.limit - self.returned]
        if entries:
            last = entries[-1]
            self.marker = last.get("name", last.get("subdir", ""))
        self.returned += len(entries)
        if len(entries) < asked or not self.marker or (
                self.limit is not None and self.returned >= self.limit):
            self.done = True
        return entries
