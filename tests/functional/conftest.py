"""The shared cluster of the functional tests: one per test session, started on first use.

``OIOFS_TEST_ACCOUNT_BACKEND=redis`` runs the whole session on a cluster whose accounts
are in Redis (the all-in-one starts its own redis-server): the same tests, the other
account backend.
"""

import os

import pytest

from tests.support.cluster import TestCluster
from tests.support.proxy_client import Client


@pytest.fixture(scope="session")
def cluster():
    """A running all-in-one cluster (4 nodes, 3 replicas, part power 6, 1 proxy worker).

    Tests that stop a node must start it again before they end (use try/finally).
    """
    backend = os.environ.get("OIOFS_TEST_ACCOUNT_BACKEND", "sqlite")
    test_cluster = TestCluster(account_backend=backend).start()
    try:
        yield test_cluster
    finally:
        test_cluster.destroy()


@pytest.fixture(scope="module")
def client(cluster):
    """A keep-alive client of the cluster's proxy, logged in as test:tester (one per
    module; closed at its end)."""
    c = Client(cluster)
    yield c
    c.close()
