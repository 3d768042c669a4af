"""The shared cluster of the functional tests: one per test session, started on first use."""

import pytest

from tests.support.cluster import TestCluster


@pytest.fixture(scope="session")
def cluster():
    """A running all-in-one cluster (4 nodes, 3 replicas, part power 6, 1 proxy worker).

    Tests that stop a node must start it again before they end (use try/finally).
    """
    test_cluster = TestCluster().start()
    try:
        yield test_cluster
    finally:
        test_cluster.destroy()
