"""Packaging shim: the metadata of oiofs is in pyproject.toml (PEP 621)."""

from setuptools import setup

setup()
