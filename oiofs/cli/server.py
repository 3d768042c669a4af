"""``oiofs-server {account,account-service,container,object,proxy} <conf>``: run one WSGI
server."""

from __future__ import annotations

from oiofs.common.wsgi import main_server


def main(argv: list[str] | None = None) -> int:
    """Run the server named on the command line until SIGTERM."""
    return main_server(argv)


if __name__ == "__main__":
    raise SystemExit(main())
