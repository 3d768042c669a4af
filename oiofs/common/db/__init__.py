"""The sqlite database layer of the account and container servers.

Brokers (:mod:`.broker`) over sqlite connections (:mod:`.connection`) and pending files
(:mod:`.pending`); listing rules (:mod:`.listing`) and formats (:mod:`.listing_format`); the
base of the db servers (:mod:`.server`); replication of whole databases between nodes
(:mod:`.replication_walk`, :mod:`.replication_rpc`, :mod:`.replication_client`,
:mod:`.replicator`) and the database auditor (:mod:`.auditor`). See
``docs/container-server.md`` and ``docs/db-replication.md``.
"""
