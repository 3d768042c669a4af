"""Tiny WSGI apps for testing the server runner itself (PasteDeploy ``call:`` factories)."""

import os
import time


def echo_app_factory(global_conf, **local_conf):
    """An app answering ``<pid> <path>``; ``/slow`` takes ``slow_seconds`` (graceful stop)."""
    slow = float(local_conf.get("slow_seconds", "1.0"))

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/slow":
            time.sleep(slow)
        body = f"{os.getpid()} {path}".encode()
        start_response("200 OK", [("Content-Length", str(len(body))),
                                  ("Content-Type", "text/plain")])
        return [body]

    return app


def tpool_app_factory(global_conf, **local_conf):
    """Like the echo app, but each request runs a call in a real thread (as fsync does)."""
    from oiofs.common.real_threads import run_in_thread

    inner = echo_app_factory(global_conf, **local_conf)

    def app(environ, start_response):
        run_in_thread(os.getpid)
        return inner(environ, start_response)

    return app
