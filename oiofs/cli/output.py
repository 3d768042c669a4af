"""Printing from command-line tools that may be piped into ``head``."""

from __future__ import annotations

import os
import sys
from typing import TextIO


def say(line: str, stream: TextIO | None = None) -> None:
    """Print ``line`` (flushed); once the reader went away (``| head``), print nothing more
    instead of dying with a traceback: the command's work goes on."""
    stream = stream or sys.stdout
    try:
        print(line, file=stream, flush=True)
    except BrokenPipeError:
        devnull = open(os.devnull, "w")
        if stream is sys.stdout:
            sys.stdout = devnull
        elif stream is sys.stderr:
            sys.stderr = devnull
