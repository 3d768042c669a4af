"""PasteDeploy filters of the proxy pipeline (``healthcheck tempauth proxy-server``)."""
