"""``oiofs-admin meta0 ...``: build, repair, show and export the meta0 prefix mapping.

    oiofs-admin meta0 bootstrap --services services.json|--from-conscience container
                                [--replicas 3] [--digits 4]
                                [--min-dist 1] [--level volume] [--degradation 0] [--force]
    oiofs-admin meta0 rebalance [--services services.json|--from-conscience container]
                                [--max-loops N]
    oiofs-admin meta0 decommission SERVICE_ID [--base BASE ...]
    oiofs-admin meta0 show [--mapping]
    oiofs-admin meta0 export-ring container.ring.gz
    oiofs-admin meta0 import-ring container.ring.gz [--min-dist 1] [--force]

The mapping, the services it was built over and its settings are kept in ``--store``
(default ``<oiofs dir>/meta0.json``; ``--store directory``: by the directory service found
through ``--directory``, as the other groups find it). ``--services`` is a JSON list of service
descriptions as the conscience gives them (see :mod:`oiofs.directory.meta0`);
``--from-conscience TYPE`` takes them from the directory (``--directory URL``, else as
the other groups find it); without either, the services recorded in the store are used.
A service decommissioned whole stays out of later rebalances (recorded in the store)
until the next bootstrap. Progress goes to standard error, results to standard output.
Exit status: 0 done, 1 done but the mapping breaks a placement rule or a rebalance left
services off their share, 2 error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from oiofs.cli.admin.endpoints import NoDirectory, add_directory_option, directory_endpoints
from oiofs.cli.admin.output import emit
from oiofs.cli.output import say
from oiofs.common.exceptions import OiofsError
from oiofs.common.ring.ringdata import RingData
from oiofs.directory.locations import LEVELS
from oiofs.directory.meta0 import Meta0Client, Meta0PrefixMapping
from oiofs.directory.meta0_errors import Meta0Error
from oiofs.directory.meta0_ring import export_ring, import_ring

EXIT_OK, EXIT_WARNING, EXIT_ERROR = 0, 1, 2
#: ``--store directory``: the mapping kept by the directory service
DIRECTORY_STORE = "directory"


def add_parser(subparsers: Any) -> None:
    """Add ``meta0`` and its verbs."""
    group = subparsers.add_parser("meta0", help="the meta0 prefix mapping")
    group.add_argument("--store", default=None,
                       help="the mapping's file (default: <oiofs dir>/meta0.json), or "
                            "'directory': the directory's (see --directory)")
    add_directory_option(group)
    verbs = group.add_subparsers(dest="verb", metavar="VERB", required=True)

    boot = verbs.add_parser("bootstrap", help="assign every base from scratch")
    boot.add_argument("--services", help="JSON list of service descriptions")
    boot.add_argument("--from-conscience", metavar="TYPE",
                      help="take the services of TYPE (container, account...) from the "
                           "directory's conscience")
    boot.add_argument("--replicas", type=int, default=3)
    boot.add_argument("--digits", type=int, default=4, help="hex digits per base (0-4)")
    boot.add_argument("--min-dist", type=int, default=1,
                      help="location levels two replicas differ by (1 device .. 4 region)")
    boot.add_argument("--level", default="volume",
                      help="spread replicas over slices of: region|site, zone|rack, host, "
                           "device|volume")
    boot.add_argument("--degradation", type=int, default=0,
                      help="how many slices fewer than replicas to tolerate")
    boot.add_argument("--force", action="store_true", help="replace an existing mapping")

    reb = verbs.add_parser("rebalance", help="move bases towards every service's share")
    reb.add_argument("--services", help="JSON list of service descriptions (new services)")
    reb.add_argument("--from-conscience", metavar="TYPE",
                     help="take the services of TYPE from the directory's conscience")
    reb.add_argument("--max-loops", type=int, default=65536, help="most moves to make")

    dec = verbs.add_parser("decommission", help="move a service's bases elsewhere")
    dec.add_argument("service", help="service id")
    dec.add_argument("--base", action="append", dest="bases",
                     help="only this base (repeatable)")

    show = verbs.add_parser("show", help="services and their bases, or the whole mapping")
    show.add_argument("--mapping", action="store_true",
                      help="print the prefix -> services mapping itself")

    exp = verbs.add_parser("export-ring", help="write the mapping as a ring file")
    exp.add_argument("ring", help="ring file to write, e.g. container.ring.gz")

    imp = verbs.add_parser("import-ring", help="make a ring file the mapping")
    imp.add_argument("ring", help="ring file to read")
    imp.add_argument("--min-dist", type=int, default=1)
    imp.add_argument("--force", action="store_true", help="replace an existing mapping")


def _client(args: argparse.Namespace) -> Meta0Client:
    """The client of the store ``--store`` names: the directory's with ``directory``."""
    if args.store == DIRECTORY_STORE:
        from oiofs.directory.client import Meta0DirectoryStore

        return Meta0Client(store=Meta0DirectoryStore(endpoints=directory_endpoints(args)))
    if args.store:
        return Meta0Client({"meta0_path": str(args.store)})
    base = args.oiofs_dir or os.environ.get("OIOFS_DIR") or "/etc/oiofs"
    return Meta0Client({"meta0_path": os.path.join(base, "meta0.json")})


def _progress(verb: str, what: str) -> Any:
    def report(done: int, total: int) -> None:
        say(f"{verb}: {done}/{total} {what}", sys.stderr)
    return report


def _read_services(path: str) -> list[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as handle:
            services = json.load(handle)
    except (OSError, ValueError) as err:
        raise Meta0Error(f"cannot read the services from {path}: {err}") from None
    if not isinstance(services, list) or not all(isinstance(s, dict) for s in services):
        raise Meta0Error(f"{path}: expected a JSON list of service descriptions")
    return services


def _given_services(args: argparse.Namespace) -> list[dict[str, Any]] | None:
    """The services ``--services`` or ``--from-conscience`` name, else None."""
    if getattr(args, "services", None):
        return _read_services(args.services)
    if getattr(args, "from_conscience", None):
        from oiofs.directory.client import ConscienceClient

        client = ConscienceClient(endpoints=directory_endpoints(args))
        return client.list_services(args.from_conscience)
    return None


def _settings(mapping: Meta0PrefixMapping) -> dict[str, Any]:
    return {"replicas": mapping.replicas, "digits": mapping.digits,
            "min_dist": mapping.min_dist, "level": LEVELS[mapping.level],
            "degradation": mapping.degradation,
            "decommissioned": sorted(mapping.decommissioned)}


def _load(client: Meta0Client,
          services: list[dict[str, Any]] | None = None) -> Meta0PrefixMapping:
    """The stored mapping over the stored (or given) services."""
    doc = client.store.read()  # one read of the whole document
    settings = doc["settings"]
    if not settings or not doc["mapping"]:
        raise Meta0Error("no mapping in the store: run bootstrap or import-ring first")
    services = doc["services"] if services is None else services
    mapping = Meta0PrefixMapping(client, replicas=settings["replicas"],
                                 digits=settings["digits"], min_dist=settings["min_dist"],
                                 services=services)
    mapping.level = LEVELS.index(settings.get("level", "device"))
    mapping.degradation = int(settings.get("degradation", 0))
    mapping.load_meta0(doc["mapping"])
    mapping.decommissioned.update(settings.get("decommissioned", []))
    return mapping


def _save(client: Meta0Client, mapping: Meta0PrefixMapping) -> None:
    client.force_all(mapping.to_dict(), mapping.services.values(), _settings(mapping))


def _refuse_overwrite(client: Meta0Client, force: bool) -> None:
    if client.list() and not force:
        raise Meta0Error("the store already holds a mapping: use --force to replace it "
                         "(rebalance moves fewer bases)")


def _summary(mapping: Meta0PrefixMapping, **extra: Any) -> dict[str, Any]:
    counts = mapping.count_pfx_by_svc()
    held = [c for s, c in counts.items() if mapping.get_score(s) > 0] or [0]
    problems = mapping.problems()
    return dict(extra, bases=mapping.num_bases(), replicas=mapping.replicas,
                digits=mapping.digits, min_dist=mapping.min_dist,
                services=len(mapping.services), min_bases=min(held), max_bases=max(held),
                problems=len(problems))


def _status(summary: dict[str, Any], mapping: Meta0PrefixMapping) -> int:
    if summary["problems"]:
        return EXIT_WARNING
    counts = mapping.count_pfx_by_svc()
    off = [s for s, t in mapping.targets().items() if abs(counts[s] - t) > 1 + 1e-9]
    return EXIT_WARNING if off else EXIT_OK


def _bootstrap(args: argparse.Namespace, client: Meta0Client) -> int:
    _refuse_overwrite(client, args.force)
    services = _given_services(args)
    if services is None:
        services = client.list_services()
    if not services:
        raise Meta0Error("no services: give --services FILE or --from-conscience TYPE")
    mapping = Meta0PrefixMapping(client, replicas=args.replicas, digits=args.digits,
                                 min_dist=args.min_dist, services=services)
    mapping.bootstrap(args.level, args.degradation,
                      progress=_progress("bootstrap", "bases assigned"))
    _save(client, mapping)
    summary = _summary(mapping)
    emit(summary, args.format)
    return _status(summary, mapping)


def _rebalance(args: argparse.Namespace, client: Meta0Client) -> int:
    mapping = _load(client, _given_services(args))
    moved = mapping.rebalance(args.max_loops, progress=_progress("rebalance", "moves"))
    _save(client, mapping)
    summary = _summary(mapping, moved=len(moved))
    emit(summary, args.format)
    return _status(summary, mapping)


def _decommission(args: argparse.Namespace, client: Meta0Client) -> int:
    mapping = _load(client)
    if args.service not in mapping.count_pfx_by_svc():
        raise Meta0Error(f"service {args.service} is not in the mapping")
    moved = mapping.decommission(args.service, args.bases,
                                 progress=_progress("decommission", "bases"))
    _save(client, mapping)
    summary = _summary(mapping, moved=len(moved), service=args.service,
                       left=len(mapping.get_managed_bases(args.service)))
    emit(summary, args.format)
    return EXIT_WARNING if summary["problems"] else EXIT_OK


def _show(args: argparse.Namespace, client: Meta0Client) -> int:
    mapping = _load(client)
    if args.mapping:
        emit(mapping.to_dict() if args.format == "json" else
             [{"base": b, "services": " ".join(s)}
              for b, s in sorted(mapping.raw_services_by_base.items())], args.format)
        return EXIT_OK
    targets = mapping.targets()
    rows = [{"id": sid, "addr": svc.get("addr", ""), "location": mapping.get_loc(sid),
             "score": mapping.get_score(sid), "bases": count,
             "share": round(targets.get(sid, 0.0), 1)}
            for sid, count in sorted(mapping.count_pfx_by_svc().items())
            for svc in [mapping.services.get(sid, {})]]
    problems = mapping.problems()
    if args.format == "json":
        emit({"settings": _settings(mapping), "services": rows, "problems": problems},
             "json")
    else:
        emit(rows, "table", ["id", "addr", "location", "score", "bases", "share"])
        for problem in problems[:20]:
            say(f"problem: {problem}", sys.stderr)
    return EXIT_WARNING if problems else EXIT_OK


def _export(args: argparse.Namespace, client: Meta0Client) -> int:
    mapping = _load(client)
    ring = export_ring(mapping)
    ring.save(args.ring)
    emit({"ring": args.ring, "part_power": ring.part_power,
          "replicas": ring.replica_count, "devices": len(ring.devs)}, args.format)
    return EXIT_OK


def _import(args: argparse.Namespace, client: Meta0Client) -> int:
    _refuse_overwrite(client, args.force)
    mapping = import_ring(RingData.load(args.ring), client, min_dist=args.min_dist)
    _save(client, mapping)
    summary = _summary(mapping, ring=args.ring)
    emit(summary, args.format)
    return EXIT_WARNING if summary["problems"] else EXIT_OK


VERBS = {"bootstrap": _bootstrap, "rebalance": _rebalance, "decommission": _decommission,
         "show": _show, "export-ring": _export, "import-ring": _import}


def run(args: argparse.Namespace) -> int:
    """Run one ``meta0`` verb; errors go to standard error with exit status 2."""
    try:
        return VERBS[args.verb](args, _client(args))
    except (OiofsError, OSError, ValueError, NoDirectory) as err:
        say(f"Error: {err}", sys.stderr)
        return EXIT_ERROR
