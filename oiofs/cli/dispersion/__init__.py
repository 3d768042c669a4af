"""Dispersion: a sample of containers and objects spread over the ring's partitions, and a
report of how many of their copies are where the ring says (``swift-dispersion-*``).

``oiofs-dispersion-populate`` (:mod:`.populate`) creates them through the proxy with the
client library; ``oiofs-dispersion-report`` (:mod:`.report`) asks every primary node of each
directly (backend protocol) whether it holds its copy. Both read ``dispersion.conf``
(:mod:`.conf`).
"""
