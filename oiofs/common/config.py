"""Reading configuration: typed options and the per-server ini files.

Each server type has one PasteDeploy ini file (``etc/object-server.conf.sample`` ...), with
the server in ``[app:...]`` and its daemons in sections named after them. Servers are built
from it by :func:`load_wsgi_app`; daemons read their section by :func:`readconf`. (The
cluster file ``oiofs.conf`` is applied by :mod:`oiofs.common.cluster_config`.)

Option values are strings in the files; components turn them into typed values with the
``conf_*`` helpers here, all in one ``__init__`` per component.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from typing import Any
from wsgiref.types import WSGIApplication

from oiofs.common.exceptions import ConfigError

DEFAULT_OIOFS_DIR = "/etc/oiofs"
TRUE_VALUES = {"true", "1", "yes", "on", "t", "y"}
FALSE_VALUES = {"false", "0", "no", "off", "f", "n"}


def config_true_value(value: object) -> bool:
    """True for ``true/1/yes/on/t/y`` (any case) or ``True``; False otherwise."""
    return value is True or (isinstance(value, str) and value.strip().lower() in TRUE_VALUES)


def conf_bool(conf: Mapping[str, Any], key: str, default: bool) -> bool:
    """A boolean option; ``ConfigError`` if it is neither true-ish nor false-ish."""
    value = conf.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in TRUE_VALUES:
        return True
    if lowered in FALSE_VALUES:
        return False
    raise ConfigError(f"option {key}: {value!r} is not a boolean")


def conf_int(conf: Mapping[str, Any], key: str, default: int, minimum: int | None = None) -> int:
    """An integer option, at least ``minimum`` when given."""
    value = conf.get(key)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"option {key}: {value!r} is not an integer") from None
    if minimum is not None and number < minimum:
        raise ConfigError(f"option {key}: {number} is below {minimum}")
    return number


def conf_float(conf: Mapping[str, Any], key: str, default: float) -> float:
    """A float option."""
    value = conf.get(key)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"option {key}: {value!r} is not a number") from None


def conf_list(conf: Mapping[str, Any], key: str, default: str = "") -> list[str]:
    """A comma-separated option as a list of stripped, non-empty strings."""
    value = conf.get(key, default) or ""
    return [item.strip() for item in str(value).split(",") if item.strip()]


def oiofs_dir(conf: Mapping[str, Any]) -> str:
    """The directory holding ``oiofs.conf`` and the ring files for this component."""
    configured: str | None = conf.get("oiofs_dir")
    return configured or os.environ.get("OIOFS_DIR") or DEFAULT_OIOFS_DIR


class _CaseSensitiveParser(configparser.ConfigParser):
    """A ConfigParser that keeps option names as written, like PasteDeploy."""

    def optionxform(self, optionstr: str) -> str:
        return optionstr


def parse_ini(path: str) -> configparser.ConfigParser:
    """An ini file parsed without interpolation, option names case-sensitive.

    ``ConfigError`` if the file is missing or malformed.
    """
    parser = _CaseSensitiveParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} not found") from None
    except configparser.Error as err:
        raise ConfigError(f"cannot parse {path}: {err}") from None
    return parser


def readconf(path: str, section: str | None = None) -> dict[str, Any]:
    """Options of one section of an ini file, with ``[DEFAULT]`` merged in.

    Adds ``__file__`` (the path). Without ``section`` returns ``{section: options}``.
    """
    parser = parse_ini(path)
    if section is None:
        result = {name: dict(parser.items(name)) for name in parser.sections()}
        result["DEFAULT"] = dict(parser.defaults())
        return result
    if not parser.has_section(section):
        raise ConfigError(f"{path}: no section [{section}]")
    conf = dict(parser.items(section))
    conf["__file__"] = path
    return conf


def load_wsgi_app(conf_path: str, name: str | None = None,
                  global_conf: dict[str, str] | None = None) -> WSGIApplication:
    """Build the WSGI application (pipeline) described by a PasteDeploy file."""
    from paste.deploy import loadapp

    app: WSGIApplication = loadapp(f"config:{os.path.abspath(conf_path)}", name=name,
                                   global_conf=global_conf or {})
    return app


def load_server_conf(conf_path: str) -> dict[str, Any]:
    """The ``[DEFAULT]`` options of a server's ini file (bind address, workers...)."""
    parser = parse_ini(conf_path)
    conf = dict(parser.defaults())
    conf["__file__"] = conf_path
    return conf
