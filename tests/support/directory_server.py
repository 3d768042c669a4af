"""A real directory for tests: :class:`~oiofs.directory.server.DirectoryApp` served over
HTTP on 127.0.0.1 by werkzeug, in a thread of the test process.

>>> with DirectoryThread(SqliteStore(path)) as directory:   # doctest: +SKIP
...     ConscienceClient(endpoints=[directory.url]).list_services()
"""

from __future__ import annotations

import threading

from werkzeug.serving import make_server

from oiofs.directory.server import DirectoryApp
from oiofs.directory.store import DirectoryStore


class DirectoryThread:
    """One directory instance on a free port; ``wrap(app)`` may put a WSGI layer around
    it (e.g. to record requests). Stopping closes the store."""

    def __init__(self, store: DirectoryStore, wrap=None, conf: dict | None = None):
        self.app = DirectoryApp(conf or {}, store=store)
        self.server = make_server("127.0.0.1", 0, wrap(self.app) if wrap else self.app,
                                  threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._stopped = False

    def start(self) -> DirectoryThread:
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (its port refuses connections afterwards); idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self.server.shutdown()
        self.thread.join()
        self.server.server_close()
        self.app.store.close()

    def __enter__(self) -> DirectoryThread:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
