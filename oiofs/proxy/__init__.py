"""The proxy server: Swift v1 API, placement through the rings, quorum writes, handoffs."""
