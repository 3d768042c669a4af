"""Loggers: the fast access-line path and repeated warnings limited with a count."""

import io
import logging
import re

from oiofs.common.logger import RepeatLimiter, get_logger, log_info_line
from oiofs.proxy.backend import Backend
from oiofs.proxy.error_limiter import ErrorLimiter


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def capture(name):
    logger = logging.getLogger(f"oiofs.test.{name}")
    stream = io.StringIO()
    logger.handlers[:] = [logging.StreamHandler(stream)]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger, stream


def test_repeats_are_counted_and_said_once_the_interval_passed():
    clock = Clock()
    limiter = RepeatLimiter(10.0, clock=clock)
    logger, stream = capture("repeats")
    for _ in range(50):
        limiter.log(logger, logging.WARNING, "node-a", "node %s down", "a")
        limiter.log(logger, logging.WARNING, "node-b", "node %s down", "b")
        clock.now += 0.1
    clock.now += 10
    limiter.log(logger, logging.WARNING, "node-a", "node %s down", "a")
    assert stream.getvalue().splitlines() == [
        "node a down", "node b down", "node a down (repeated 49 times)"]


def test_interval_zero_lets_everything_through():
    logger, stream = capture("zero")
    limiter = RepeatLimiter(0)
    for _ in range(3):
        limiter.log(logger, logging.WARNING, "k", "again")
    assert stream.getvalue().splitlines() == ["again"] * 3


def test_the_proxy_says_a_node_is_suppressed_once_per_interval():
    clock = Clock()
    logger, stream = capture("backend")
    backend = Backend(pool=None, limiter=ErrorLimiter(clock=clock), logger=logger,
                      repeat_interval=10.0)
    backend.repeats.clock = clock
    node = {"ip": "127.0.0.1", "port": 6200, "device": "d1"}
    for _ in range(200):  # a node down under load: every request's connect is refused
        backend.node_error(node, ConnectionRefusedError("refused"), fatal=True)
        clock.now += 0.01
    clock.now += 10
    backend.node_error(node, ConnectionRefusedError("refused"), fatal=True)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("node 127.0.0.1:6200/d1 suppressed")
    assert lines[1].endswith("(repeated 199 times)")


def test_access_lines_are_written_with_the_logger_prefix(tmp_path):
    log_file = tmp_path / "server.log"
    logger = get_logger({"log_file": str(log_file), "log_name": "object-server-9"},
                        log_route="test-fast-line")
    log_info_line(logger, "127.0.0.1 - line")
    logger.info("regular")
    logger.handlers[0].flush()
    first, second = log_file.read_text().splitlines()
    prefix = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} object-server-9\[\d+\] INFO "
    assert re.fullmatch(prefix + "127.0.0.1 - line", first)
    assert re.fullmatch(prefix + "regular", second)
    logger.setLevel(logging.WARNING)
    log_info_line(logger, "silenced")
    assert "silenced" not in log_file.read_text()


def test_flush_writes_the_last_left_out_occurrence_with_its_count():
    clock = Clock()
    limiter = RepeatLimiter(10.0, clock=clock)
    logger, stream = capture("flush")
    for part in range(5):
        limiter.log(logger, logging.WARNING, "node-a", "part %d: node a down", part)
    limiter.log(logger, logging.WARNING, "node-b", "part %d: node b down", 9)
    limiter.log(logger, logging.WARNING, "node-b", "part %d: node b down", 10)
    limiter.flush()  # the interval has not passed: nothing yet
    clock.now += 5
    limiter.flush(everything=True)  # a pass run once: its counts now
    limiter.flush(everything=True)  # nothing left out since: nothing written
    limiter.log(logger, logging.WARNING, "node-a", "part %d: node a down", 6)
    limiter.log(logger, logging.WARNING, "node-a", "part %d: node a down", 7)
    clock.now += 10
    limiter.flush()  # a daemon's pass ended after the interval
    assert stream.getvalue().splitlines() == [
        "part 0: node a down", "part 9: node b down",
        "part 4: node a down (repeated 3 times)", "part 10: node b down",
        "part 7: node a down (repeated 1 times)"]
