"""Proxy controllers: one per kind of resource (account, container, object) and /info."""
