"""oiofs: a clustered object store with rings, replicas and self-healing daemons.

The public surface for programs is deliberately small; see ``oiofs.client`` for the
HTTP client library once it lands. Everything else is organised in layers (see
``docs/architecture.md``): ``oiofs.common`` at the bottom, the storage servers above it,
the proxy above them.
"""

__version__ = "0.1.0"
