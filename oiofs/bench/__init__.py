"""The engine of ``oiofs-bench``: a standard-library benchmark client for Swift v1 endpoints.

Modules, one concept each:

- :mod:`~oiofs.bench.errors`: what can go wrong, as exception classes.
- :mod:`~oiofs.bench.config`: the knobs of a run and the size parser.
- :mod:`~oiofs.bench.target`: URL parsing and the loopback-only guard.
- :mod:`~oiofs.bench.client`: tempauth v1 and one keep-alive connection per worker.
- :mod:`~oiofs.bench.payload`: object bodies generated in chunks, with their MD5.
- :mod:`~oiofs.bench.stats`: percentiles and per-phase results.
- :mod:`~oiofs.bench.cpu`: server CPU time from ``/proc/<pid>/stat``.
- :mod:`~oiofs.bench.runner`: a pool of worker threads bounded in count and time.
- :mod:`~oiofs.bench.workload`: the phases (small objects, large objects, listing).
- :mod:`~oiofs.bench.report`: the table and the JSON document.
"""
