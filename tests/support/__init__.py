"""Helpers shared by the test suites: real server processes, cluster configs, free ports."""
