"""Errors of the meta0 prefix mapping, its store and its ring export."""

from __future__ import annotations

from oiofs.common.exceptions import OiofsError


class Meta0Error(OiofsError):
    """A mapping, prefix or service description that cannot be used (a message for an
    operator says why)."""


class Meta0PlacementError(Meta0Error):
    """The services cannot hold the bases under the placement constraints asked for
    (too few services, locations or slices for the replicas and ``min_dist``)."""
