"""``oiofs-server {account,account-service,container,directory,object,proxy} <conf>``: run
one WSGI server.

A server whose configuration names a directory (``directory_endpoints``) registers itself
in the conscience in the background (:mod:`oiofs.directory.registrar`).
"""

from __future__ import annotations

from oiofs.common.wsgi import main_server
from oiofs.directory.registrar import start_registration


def main(argv: list[str] | None = None) -> int:
    """Run the server named on the command line until SIGTERM."""
    return main_server(argv, background=start_registration)


if __name__ == "__main__":
    raise SystemExit(main())
