"""The listing rules (markers, prefix, delimiter, path, reverse) stated the simple way.

``listing_model`` filters everything, rolls up, sorts and cuts; the real algorithm
(``oiofs.common.db.listing``) works with range queries. The listing tests and the broker
tests (container, account) check the real thing against this model.
"""

ALPHABET = "a/0.b"  # "0" follows "/", "." precedes it: the boundaries of every jump


def listing_model(names, limit, marker, end_marker, prefix, delimiter, path=None,
                  reverse=False):
    """The listing as ``[(name, is_subdir)]``, computed the obvious (slow) way."""
    names = sorted(set(names))
    marker, end_marker = marker or "", end_marker or ""
    lower, upper = (end_marker, marker) if reverse else (marker, end_marker)

    def in_range(name):
        return (not lower or name > lower) and (not upper or name < upper)

    entries = {}
    if path is not None:
        base = path.rstrip("/") + "/" if path else ""
        for name in names:
            if not name.startswith(base) or name == base or not in_range(name):
                continue
            slash = name.find("/", len(base))
            if slash < 0 or slash == len(name) - 1:
                entries[name] = False
    else:
        base = prefix or ""
        for name in names:
            if not name.startswith(base) or not in_range(name):
                continue
            cut = name.find(delimiter, len(base)) if delimiter else -1
            if cut < 0:
                entries[name] = False
            elif name[:cut + len(delimiter)] != lower:
                entries[name[:cut + len(delimiter)]] = True
    ordered = sorted(entries.items(), reverse=reverse)
    return ordered[:max(limit, 0)]
