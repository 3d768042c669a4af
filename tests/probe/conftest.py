"""The probe tests' cluster: one real all-in-one per test module, without background daemons.

Faults are made on purpose in probe tests (nodes stopped or killed, files corrupted, rings
changed), so each module gets a cluster of its own. Its daemons do not run in the
background: each pass is the one the test asks for (``cluster.aio.run_once(name)``).
"""

import pytest

from tests.support.cluster import TestCluster
from tests.support.probe import use_cluster_secret


@pytest.fixture(scope="module")
def cluster():
    """A running 4-node, 3-replica cluster (part power 4) for this module only."""
    test_cluster = TestCluster(nodes=4, replicas=3, part_power=4)
    test_cluster.aio.daemons = False  # passes only when the test runs them
    try:
        test_cluster.start()  # inside: a failed start still removes its directory
        yield test_cluster
    finally:
        test_cluster.destroy()


@pytest.fixture(autouse=True)
def _cluster_secret(cluster):
    """Hash names in the test process with the cluster's own secret."""
    use_cluster_secret(cluster)
