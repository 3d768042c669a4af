"""Logging for servers and daemons: one configured ``logging.Logger`` per component.

Options (in the component's section or ``[DEFAULT]``): ``log_name``, ``log_level``
(DEBUG, INFO, WARNING, ERROR; default INFO) and ``log_file`` (default: standard error).
Access lines go through the same logger at INFO, so ``log_level = WARNING`` silences them.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

# The names of the loggers get_logger has set up (a logger lives as long as the process).
_configured: set[str] = set()


def get_logger(conf: dict[str, Any] | None, name: str | None = None,
               log_route: str | None = None) -> logging.Logger:
    """The logger described by ``conf``, set up once per ``log_route`` (or name)."""
    conf = conf or {}
    name = conf.get("log_name") or name or "oiofs"
    route = log_route or name
    logger = logging.getLogger(f"oiofs.{route}")
    if logger.name in _configured:
        return logger
    level = str(conf.get("log_level", "INFO")).upper()
    logger.setLevel(getattr(logging, level, logging.INFO))
    log_file = conf.get("log_file")
    if log_file:
        os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
        handler: logging.Handler = logging.FileHandler(log_file)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(
        f"%(asctime)s {name}[%(process)d] %(levelname)s %(message)s"))
    logger.handlers[:] = [handler]
    logger.propagate = False
    _configured.add(logger.name)
    return logger
