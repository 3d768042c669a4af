"""``python -m oiofs.cli.allinone``: same as ``oiofs-allinone``."""

from oiofs.cli.allinone.cluster import main

raise SystemExit(main())
