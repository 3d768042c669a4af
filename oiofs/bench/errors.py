"""Exceptions of the benchmark client, rooted at :class:`~oiofs.common.exceptions.OiofsError`."""

from __future__ import annotations

from oiofs.common.exceptions import OiofsError


class BenchError(OiofsError):
    """Base of every error ``oiofs-bench`` raises on purpose."""


class TargetRefused(BenchError):
    """The URL is malformed, or its host is (or resolves to) a non-loopback address."""


class AuthFailed(BenchError):
    """Tempauth did not answer 2xx with a storage URL and a token."""


class SetupFailed(BenchError):
    """The endpoint refused something the benchmark needs (e.g. creating its container)."""


class UnexpectedStatus(BenchError):
    """A request was answered with a status the operation does not accept (a request error)."""


class VerificationFailed(BenchError):
    """A response was well-formed but wrong: body MD5, length, ETag or listing differ."""
