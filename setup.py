"""Packaging of oiofs: console scripts and PasteDeploy factories."""

from setuptools import find_packages, setup

with open("requirements.txt") as handle:
    REQUIRES = [line.strip() for line in handle if line.strip() and not line.startswith("#")]

setup(
    name="oiofs",
    version="0.1.0",
    description="A clustered object store: rings, replicas, self-healing daemons",
    packages=find_packages(exclude=["tests", "tests.*"]),
    python_requires=">=3.11",
    install_requires=REQUIRES,
    entry_points={
        "console_scripts": [
            "oiofs-server = oiofs.cli.server:main",
            "oiofs-daemon = oiofs.cli.daemon:main",
            "oiofs-ring-builder = oiofs.cli.ring_builder:main",
            "oiofs-get-nodes = oiofs.cli.get_nodes:main",
            "oiofs-allinone = oiofs.cli.allinone.cluster:main",
            "oiofs-bench = oiofs.cli.bench:main",
        ],
        "paste.app_factory": [
            "object = oiofs.obj.server:app_factory",
            "container = oiofs.container.server:app_factory",
            "account = oiofs.account.server:app_factory",
            "proxy = oiofs.proxy.server:app_factory",
        ],
        "paste.filter_factory": [
            "healthcheck = oiofs.proxy.middleware.healthcheck:filter_factory",
            "tempauth = oiofs.proxy.middleware.tempauth:filter_factory",
        ],
    },
)
