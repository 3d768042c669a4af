"""What a piece of work leaves that only Python's cyclic garbage collector would free."""

from __future__ import annotations

import gc


def cyclic_garbage(work) -> list:
    """The request environs ``work()`` left that only the cyclic collector would free
    (an empty list: each request's environ went as soon as it was answered)."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        work()
        gc.collect()
        return [o for o in gc.garbage if isinstance(o, dict) and "REQUEST_METHOD" in o]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
