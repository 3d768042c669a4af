"""``oiofs-daemon <name> <conf> [--once]``: run one background daemon."""

from __future__ import annotations

from oiofs.common.daemon import DAEMONS, main_daemon

__all__ = ["DAEMONS", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the named daemon (one pass with ``--once``)."""
    return main_daemon(argv)


if __name__ == "__main__":
    raise SystemExit(main())
