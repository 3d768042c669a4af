"""PasteDeploy filters of the proxy pipeline (docs/middleware.md)."""
