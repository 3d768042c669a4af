"""Shared library of oiofs: imports nothing from the server packages above it."""
