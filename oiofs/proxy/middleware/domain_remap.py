"""domain_remap: accounts and containers named by the host, for virtual-host URLs.

With ``storage_domain = example.com``, a request to ``AUTH-test.example.com/c/o`` is
served as ``/v1/AUTH_test/c/o`` and one to ``c.AUTH-test.example.com/o`` as
``/v1/AUTH_test/c/o`` (so a static site, say, gets a host of its own). The account label
must start with a reseller prefix (``-`` or ``_`` after it; DNS labels cannot hold
``_``); a label without one gets ``default_reseller_prefix`` if that is set, else the
request is left alone. Hosts outside the storage domains are never touched.

Configuration (``[filter:domain_remap]``), Swift's options and defaults::

    storage_domain = example.com        # several, comma-separated
    path_root = v1
    reseller_prefixes = AUTH
    default_reseller_prefix =
    mangle_client_paths = false         # strip a /v1 the client put in front itself

Requests cost one lookup of the ``Host`` header and a suffix comparison. The original
path is kept in ``environ[ORIGINAL_PATH_KEY]`` (staticweb's redirects use it).
"""

from __future__ import annotations

from oiofs.common.config import config_true_value
from oiofs.proxy.controllers.info import register_info

#: environ key: the path the client sent, before the host was folded into it
ORIGINAL_PATH_KEY = "oiofs.original_path"


class RemapConfig:
    """The filter's settings, normalised."""

    def __init__(self, conf: dict):
        domains = conf.get("storage_domain") or "example.com"
        self.domains = tuple("." + d.strip().lower().strip(".")
                             for d in domains.split(",") if d.strip())
        self.path_root = (conf.get("path_root") or "v1").strip("/")
        prefixes = conf.get("reseller_prefixes") or "AUTH"
        self.prefixes = tuple(p.strip().rstrip("_") for p in prefixes.split(",")
                              if p.strip())
        self.default_prefix = (conf.get("default_reseller_prefix") or "").strip().rstrip("_")
        self.mangle = config_true_value(conf.get("mangle_client_paths") or "")


def account_of(label: str, config: RemapConfig) -> str | None:
    """The account a host label names, or ``None`` (not one of ours).

    >>> config = RemapConfig({"reseller_prefixes": "AUTH, SERVICE"})
    >>> account_of("auth-test", config), account_of("SERVICE_x", config)
    ('AUTH_test', 'SERVICE_x')
    >>> account_of("test", config) is None
    True
    """
    lower = label.lower()
    for prefix in config.prefixes:
        plen = len(prefix)
        if lower.startswith(prefix.lower()) and label[plen:plen + 1] in ("-", "_") and \
                label[plen + 1:]:
            return f"{prefix}_{label[plen + 1:]}"
    if config.default_prefix and label:
        return f"{config.default_prefix}_{label}"
    return None


def remap(host: str, path: str, config: RemapConfig) -> str | None:
    """The path ``host`` + ``path`` mean, or ``None`` when the host is not remapped.

    >>> config = RemapConfig({"storage_domain": "example.com"})
    >>> remap("c.auth-a.example.com:8080", "/o", config)
    '/v1/AUTH_a/c/o'
    >>> remap("auth-a.example.com", "/c/o", config), remap("other.org", "/x", config)
    ('/v1/AUTH_a/c/o', None)
    """
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.lower().rstrip(".")
    for domain in config.domains:
        if name.endswith(domain):
            labels = host.rsplit(":", 1)[0].rstrip(".")[:-len(domain)].split(".")
            break
    else:
        return None
    if len(labels) > 2 or not all(labels):
        return None
    account = account_of(labels[-1], config)
    if account is None:
        return None
    root = "/" + config.path_root
    if config.mangle and (path == root or path.startswith(root + "/")):
        path = path[len(root):]
    new = f"{root}/{account}"
    if len(labels) == 2:
        new += "/" + labels[0]
    return new + path


class DomainRemap:
    """The domain_remap filter."""

    def __init__(self, app, conf: dict):
        self.app = app
        self.config = RemapConfig(conf)
        register_info("domain_remap", {"default_reseller_prefix":
                                       self.config.default_prefix or None})

    def __call__(self, environ, start_response):
        host = environ.get("HTTP_HOST")
        if host and host.lower().rstrip(".").rsplit(":", 1)[0].endswith(
                self.config.domains):
            path = environ.get("PATH_INFO", "")
            new = remap(host, path, self.config)
            if new is not None:
                environ[ORIGINAL_PATH_KEY] = path
                environ["PATH_INFO"] = new
        return self.app(environ, start_response)


def filter_factory(global_conf: dict, **local_conf):
    """PasteDeploy entry point ``egg:oiofs#domain_remap``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return lambda app: DomainRemap(app, conf)
