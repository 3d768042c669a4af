"""Running a WSGI server: bind, fork workers, serve with keep-alive, stop gracefully.

:func:`run_wsgi` is what ``oiofs-server <type> <conf>`` calls. It reads the ``[DEFAULT]``
options of the server's PasteDeploy file:

``bind_ip`` (127.0.0.1), ``bind_port`` (required), ``workers`` (1; 0 serves in the parent
process), ``backlog`` (4096), ``client_timeout`` (60 s, idle keep-alive and body reads),
``max_clients`` (1024 concurrent requests per worker), ``graceful_timeout`` (10 s to let
in-flight requests end after SIGTERM), ``oiofs_dir`` (cluster config and rings).
The logging and metrics options are read here too, once per server: every request goes
through :class:`~oiofs.common.request_log.RequestLog` (access line, transaction id,
metrics, ``/metrics``).

The parent binds the socket once, forks the workers, restarts a worker that dies, and on
SIGTERM or SIGINT passes the signal on and waits for them. A worker that gets SIGTERM stops
accepting, finishes its requests in flight (up to ``graceful_timeout``) and exits.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any
from wsgiref.types import WSGIApplication

from oiofs.common import runtime
from oiofs.common.cluster_config import load_cluster_config
from oiofs.common.config import (
    conf_int,
    load_server_conf,
    load_wsgi_app,
    oiofs_dir,
)
from oiofs.common.logger import get_logger
from oiofs.common.metrics import Metrics, get_metrics, prune_dead_files
from oiofs.common.request_log import RequestLog

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class _SilentLog:
    """A file-like sink for eventlet's own server log (we log access lines ourselves)."""

    def __init__(self, logger: logging.Logger):
        self.logger = logger

    def write(self, data: str) -> None:
        data = data.strip()
        if data and ("Traceback" in data or "Error" in data):
            self.logger.error("wsgi: %s", data)

    def info(self, *args: object) -> None:
        pass

    debug = info

    def error(self, msg: str, *args: object) -> None:
        self.logger.error(msg, *args)


def bind_socket(conf: dict[str, Any]) -> socket.socket:
    """A listening green socket on ``bind_ip:bind_port`` (retrying while the port is busy).

    It is eventlet's ``GreenSocket``, typed as the ``socket.socket`` whose methods it has.
    """
    ip: str = conf.get("bind_ip", "127.0.0.1")
    port = conf_int(conf, "bind_port", 0)
    backlog = conf_int(conf, "backlog", 4096)
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    deadline = time.time() + 30
    while True:
        try:
            # No SO_REUSEPORT (eventlet's default): with it a second server, or a restarted
            # one whose killed predecessor has not quite died, binds the same port and the
            # kernel splits connections between them. Wait for the port instead.
            sock: socket.socket = runtime.listen((ip, port), family=family,
                                                 backlog=backlog, reuse_port=False)
            break
        except OSError as err:
            if err.errno != errno.EADDRINUSE or time.time() > deadline:
                raise
            time.sleep(0.1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def serve(sock: socket.socket, app: WSGIApplication, conf: dict[str, Any],
          logger: logging.Logger, metrics: Metrics | None = None,
          background: Callable[[], object] | None = None) -> None:
    """Serve ``app`` on ``sock`` in this process until SIGTERM/SIGINT, then drain.

    ``metrics`` (when enabled) are flushed to their shared files every second.
    ``background`` is called once, before serving, to start the server's own green
    threads (registration in the directory).
    """
    if metrics is not None and metrics.prometheus_dir:
        runtime.spawn_n(_flush_forever, metrics)
    if background is not None:
        background()
    pool = runtime.GreenPool(conf_int(conf, "max_clients", 1024, minimum=1))
    server = runtime.spawn(
        # runtime.HttpProtocol sends no body where HTTP forbids one
        runtime.wsgi_server, sock, app, log=_SilentLog(logger),
        custom_pool=pool, keepalive=True, log_output=False,
        socket_timeout=conf_int(conf, "client_timeout", 60), minimum_chunk_size=4096,
        debug=False, capitalize_response_headers=False, protocol=runtime.HttpProtocol)
    graceful = conf_int(conf, "graceful_timeout", 10)
    # Stopping must not wait for the hub's next wake-up: an idle hub may sleep in epoll for
    # as long as no socket stirs (an idle keep-alive client is enough), and once real
    # threads exist (real_threads, for fsync) the kernel may deliver the signal to one of them, so
    # the Python-level handler runs only when the main thread wakes. The C-level wakeup fd
    # is written at once whichever thread takes the signal; the hub watches its other end
    # and a green thread there does the stopping.
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)

    def stopper() -> None:
        runtime.wait_readable(wake_read)
        # Only the first signal counts: a second kill would cut the drain short (the
        # parent passes on the SIGTERM that a process-group kill already delivered).
        runtime.spawn_after(graceful, os._exit, 0)
        server.kill(SystemExit)

    runtime.spawn_n(stopper)
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda signum, frame: None)  # the wakeup fd does the work
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # blocked by a forking parent
    try:
        server.wait()
    except SystemExit:
        pass


def metrics_name(server_type: str) -> str:
    """The statsd prefix and Prometheus label of a server type (Swift's names).

    >>> metrics_name("object"), metrics_name("account-service")
    ('object-server', 'account-service')
    """
    return server_type if "-" in server_type else f"{server_type}-server"


def _flush_forever(metrics: Metrics) -> None:
    while True:
        time.sleep(1.0)
        metrics.flush()


#: ``background(conf, server_type, logger)``: what a server starts beside serving, once
#: per server (not per worker)
BackgroundHook = Callable[[dict[str, Any], str, logging.Logger], object]


def run_wsgi(conf_path: str, app_name: str | None = None, server_type: str = "",
             background: BackgroundHook | None = None) -> int:
    """Run the server described by ``conf_path`` until it is told to stop; exit status.

    ``server_type`` (``object``, ``proxy``...) names it in metrics; empty: from the
    configuration file's name (``object-server.conf``). ``background`` runs once per
    server: in its only process (``workers = 0``) or in its first worker (and again in
    the worker that replaces it), never in every worker.
    """
    runtime.monkey_patch()
    conf = load_server_conf(conf_path)
    server_type = server_type or os.path.basename(conf_path).split(".")[0].removesuffix(
        "-server")
    logger = get_logger(conf, conf.get("log_name") or os.path.basename(conf_path))
    metrics = get_metrics(conf, metrics_name(server_type))
    if metrics.prometheus_dir:
        prune_dead_files(metrics.prometheus_dir)
    load_cluster_config(oiofs_dir(conf))
    global_conf = {"oiofs_dir": oiofs_dir(conf)}
    app = RequestLog(load_wsgi_app(conf_path, name=app_name, global_conf=global_conf),
                     conf, logger, metrics, server_type)
    sock = bind_socket(conf)
    workers = conf_int(conf, "workers", 1, minimum=0)
    logger.info("listening on %s:%s with %d worker(s)", *sock.getsockname()[:2], workers)
    hook = None if background is None else functools.partial(background, conf, server_type,
                                                             logger)
    try:
        if workers == 0:
            serve(sock, app, conf, logger, metrics, hook)
            return 0
        return _run_workers(sock, app, conf, logger, workers, metrics, hook)
    finally:
        metrics.close()


def _run_workers(sock: socket.socket, app: WSGIApplication, conf: dict[str, Any],
                 logger: logging.Logger, workers: int, metrics: Metrics,
                 background: Callable[[], object] | None = None) -> int:
    # pid -> worker index; worker 0 runs ``background`` (and so does its replacement)
    children: dict[int, int] = {}
    stopping = False

    def spawn_worker(index: int) -> None:
        # Signals stay blocked across the fork: a SIGTERM landing in the child before it
        # set its own handlers would run the parent's handler there and leave the worker
        # running. The child unblocks them once its handlers are set (in serve); the
        # parent once the child is in ``children``, so a pending stop reaches it too.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        pid = os.fork()
        if pid == 0:
            try:
                serve(sock, app, conf, logger, metrics, background if index == 0 else None)
            finally:
                os._exit(0)
        children[pid] = index
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                children.pop(pid, None)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for slot in range(workers):
        spawn_worker(slot)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid not in children:
            continue
        slot = children.pop(pid)
        if not stopping:
            logger.error("worker %d exited with status %d; starting another", pid, status)
            time.sleep(0.1)
            spawn_worker(slot)
    sock.close()
    return 0


def main_server(argv: list[str] | None = None,
                background: BackgroundHook | None = None) -> int:
    """Entry point of ``oiofs-server <type> <conf>`` (``background``: see
    :func:`run_wsgi`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 2 or argv[0] in ("-h", "--help"):
        print("usage: oiofs-server {account,account-service,container,directory,object,proxy} "
              "<conf-file>", file=sys.stderr)
        return 2
    server_type, conf_path = argv
    if not os.path.exists(conf_path):
        print(f"oiofs-server: {conf_path} not found", file=sys.stderr)
        return 2
    return run_wsgi(conf_path, server_type=server_type, background=background)
