"""Header names: the canonical spelling of a name taken from a WSGI environ key.

WSGI gives header names as ``HTTP_X_OBJECT_META_COLOR``; servers store and send them back
title-cased (``X-Object-Meta-Color``), as Swift does. ``str.title`` would also change
non-ASCII characters, and some latin-1 characters (the bytes of UTF-8 sequences, as WSGI
strings carry them) become characters outside latin-1 that can no longer be sent on the
wire (``'\\xb5'.title()`` is ``'\\u039c'``). :func:`title_case` only touches ASCII letters.

>>> title_case('x-object-meta-color')
'X-Object-Meta-Color'
>>> title_case('x-object-meta-\\xe2\\x80\\xb5') == 'X-Object-Meta-\\xe2\\x80\\xb5'
True
"""

from __future__ import annotations


def title_case(name: str) -> str:
    """``name`` with each ASCII word capitalised as ``str.title`` would; other bytes kept."""
    if name.isascii():
        return name.title()
    out = []
    previous_cased = False
    for char in name:
        if char.isascii() and char.isalpha():
            out.append(char.lower() if previous_cased else char.upper())
            previous_cased = True
        else:
            out.append(char)
            previous_cased = char.isalpha()
    return "".join(out)
