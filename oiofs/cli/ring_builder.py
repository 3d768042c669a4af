"""``oiofs-ring-builder <builder_file> [<verb> ...]``: manage a ring like an operator does.

Verbs::

    (none)                                   list the ring and its devices
    create <part_power> <replicas> <min_part_hours>
    add r<r>z<z>-<ip>:<port>[R<ip>:<port>]/<device>[_<meta>] <weight> [<value> <weight>...]
    add --region R --zone Z --ip IP --port P --device D --weight W [--meta M]
        [--replication-ip IP] [--replication-port P]
    search <search value>
    remove <search value> [...] [--yes]      (--yes when one value matches several devices)
    set_weight <search value> <weight> [...] [--yes]
    set_min_part_hours <hours>
    set_replicas <replicas>
    rebalance [--seed N]                     writes <name>.ring.gz beside the builder
    dispersion                               how well partitions are spread
    validate
    write_ring
    pretend_min_part_hours_passed

Exit status: 0 success, 1 warning (nothing moved, balance off...), 2 error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from oiofs.common.exceptions import RingError
from oiofs.common.ring.builder import RingBuilder
from oiofs.common.ring.devices import TIER_NAMES, format_device
from oiofs.common.ring.search import parse_add_value

EXIT_SUCCESS = 0
EXIT_WARNING = 1
EXIT_ERROR = 2
#: A rebalance leaving a device further than this (percent) from its share is a warning.
BALANCE_WARNING = 5.0


class UsageError(Exception):
    """Bad command-line input: printed with the verb's usage, exit status 2."""


def ring_path_for(builder_path: str) -> str:
    """``/etc/oiofs/object.builder`` -> ``/etc/oiofs/object.ring.gz``."""
    base = builder_path[:-len(".builder")] if builder_path.endswith(".builder") \
        else builder_path
    return base + ".ring.gz"


def _weight(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"invalid weight {text!r}: expected a number >= 0") from None
    if not value >= 0 or value == float("inf"):
        raise UsageError(f"invalid weight {text!r}: expected a number >= 0")
    return value


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"invalid {what} {text!r}: expected an integer") from None


def _pairs(args: list[str], what: str) -> list[tuple[str, str]]:
    if not args or len(args) % 2:
        raise UsageError(f"expected pairs of <{what}> <weight>")
    return list(zip(args[::2], args[1::2], strict=True))


def _format_hours(seconds: int) -> str:
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Command:
    """One invocation: the builder file, its ring file and the output streams."""

    def __init__(self, builder_path: str, out=None, err=None):
        self.builder_path = builder_path
        self.ring_path = ring_path_for(builder_path)
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def say(self, text: str = "") -> None:
        """Print to standard output."""
        print(text, file=self.out)

    def load(self) -> RingBuilder:
        """The builder from its file (RingLoadError if missing or bad)."""
        return RingBuilder.load(self.builder_path)

    def save(self, builder: RingBuilder) -> None:
        """Write the builder file back, atomically."""
        builder.save(self.builder_path)

    # --- verbs ----------------------------------------------------------------------

    def cmd_create(self, args: list[str]) -> int:
        """Create a new builder file."""
        if len(args) != 3:
            raise UsageError("create <part_power> <replicas> <min_part_hours>")
        if os.path.exists(self.builder_path):
            raise UsageError(f"{self.builder_path} already exists; remove it first to "
                             "start over")
        builder = RingBuilder(_int(args[0], "part_power"), _int(args[1], "replicas"),
                              _int(args[2], "min_part_hours"))
        self.save(builder)
        self.say(f"Created {self.builder_path}: {builder.partition_count} partitions, "
                 f"{builder.replicas} replicas, min_part_hours {builder.min_part_hours}")
        return EXIT_SUCCESS

    def _add_options(self, args: list[str]) -> list[dict]:
        parser = _parser("add", "add a device by options")
        parser.add_argument("--region", type=int, default=1)
        parser.add_argument("--zone", type=int, required=True)
        parser.add_argument("--ip", required=True)
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--device", required=True)
        parser.add_argument("--weight", required=True)
        parser.add_argument("--meta", default="")
        parser.add_argument("--replication-ip", dest="replication_ip")
        parser.add_argument("--replication-port", dest="replication_port", type=int)
        parser.add_argument("--id", type=int)
        opts = parser.parse_args(args)
        dev = {key: value for key, value in vars(opts).items() if value is not None}
        dev["weight"] = _weight(opts.weight)
        return [dev]

    def cmd_add(self, args: list[str]) -> int:
        """Add one or more devices."""
        if any(arg.startswith("--") for arg in args):
            devs = self._add_options(args)
        else:
            devs = []
            for value, weight in _pairs(args, "device"):
                dev = parse_add_value(value)
                dev["weight"] = _weight(weight)
                devs.append(dev)
        builder = self.load()
        for dev in devs:
            dev_id = builder.add_dev(dev)
            added = builder.get_dev(dev_id)
            self.say(f"Device {format_device(added)} with weight "
                     f"{added['weight']:g} added with id {dev_id}")
        self.save(builder)
        return EXIT_SUCCESS

    def _pick(self, builder: RingBuilder, search: str, yes: bool) -> list[dict]:
        devs = builder.search_devs(search)
        if not devs:
            raise UsageError(f"no device matches {search!r}")
        if len(devs) > 1 and not yes:
            listing = "\n".join("    " + format_device(dev) for dev in devs)
            raise UsageError(f"{search!r} matches {len(devs)} devices:\n{listing}\n"
                             "add --yes to apply the change to all of them")
        return devs

    @staticmethod
    def _split_yes(args: list[str]) -> tuple[list[str], bool]:
        yes = "--yes" in args or "-y" in args
        return [arg for arg in args if arg not in ("--yes", "-y")], yes

    def cmd_remove(self, args: list[str]) -> int:
        """Schedule devices for removal at the next rebalance."""
        args, yes = self._split_yes(args)
        if not args:
            raise UsageError("remove <search value> [<search value> ...] [--yes]")
        builder = self.load()
        for search in args:
            for dev in self._pick(builder, search, yes):
                builder.remove_dev(dev["id"])
                self.say(f"Device {format_device(dev)} marked for removal; its partitions "
                         "move at the next rebalance")
        self.save(builder)
        return EXIT_SUCCESS

    def cmd_set_weight(self, args: list[str]) -> int:
        """Change device weights."""
        args, yes = self._split_yes(args)
        pairs = _pairs(args, "search value")
        builder = self.load()
        for search, weight_text in pairs:
            weight = _weight(weight_text)
            for dev in self._pick(builder, search, yes):
                old = dev["weight"]
                builder.set_dev_weight(dev["id"], weight)
                self.say(f"Device {format_device(dev)} weight {old:g} -> {weight:g}")
        self.save(builder)
        return EXIT_SUCCESS

    def cmd_search(self, args: list[str]) -> int:
        """List the devices matching a search value."""
        if len(args) != 1:
            raise UsageError("search <search value>")
        builder = self.load()
        devs = builder.search_devs(args[0])
        if not devs:
            self.say(f"No device matches {args[0]!r}")
            return EXIT_WARNING
        self._device_table(builder, devs)
        return EXIT_SUCCESS

    def cmd_set_min_part_hours(self, args: list[str]) -> int:
        """Change min_part_hours."""
        if len(args) != 1:
            raise UsageError("set_min_part_hours <hours>")
        builder = self.load()
        builder.set_min_part_hours(_int(args[0], "hours"))
        self.save(builder)
        self.say(f"min_part_hours is now {builder.min_part_hours}")
        return EXIT_SUCCESS

    def cmd_set_replicas(self, args: list[str]) -> int:
        """Change the replica count (applied by the next rebalance)."""
        if len(args) != 1:
            raise UsageError("set_replicas <replicas>")
        builder = self.load()
        builder.set_replicas(_int(args[0], "replicas"))
        self.save(builder)
        self.say(f"Replica count is now {builder.replicas}; rebalance to apply it")
        return EXIT_SUCCESS

    def _ring_up_to_date(self, builder: RingBuilder) -> bool | None:
        """True/False when the ring file matches/does not match; None without ring."""
        if not builder.ever_rebalanced or not os.path.exists(self.ring_path):
            return None
        try:
            with open(self.ring_path, "rb") as handle:
                current = handle.read()
            return current == builder.get_ring().to_bytes()
        except (OSError, RingError):
            return False

    def cmd_rebalance(self, args: list[str]) -> int:
        """Rebalance, then save the builder and write the ring file."""
        parser = _parser("rebalance", "place replicas after device changes")
        parser.add_argument("--seed", type=int, default=None)
        opts = parser.parse_args(args)
        builder = self.load()
        had_changes = builder.devs_changed or not builder.ever_rebalanced
        ring_missing = self._ring_up_to_date(builder) is not True
        moved, balance, removed = builder.rebalance(seed=opts.seed)
        for warning in builder.warnings:
            self.say(f"Warning: {warning}")
        if not moved and not removed and not had_changes and not ring_missing:
            self.say("No partitions could be reassigned: either none needed to move or "
                     "they moved too recently (min_part_hours).")
            left = builder.min_part_seconds_left()
            if left:
                self.say(f"Partitions may move again in {_format_hours(left)}.")
            return EXIT_WARNING
        builder.validate()
        self.save(builder)
        builder.get_ring().save(self.ring_path)
        percent = 100.0 * moved / builder.partition_count
        self.say(f"Reassigned {moved} ({percent:.2f}%) partitions. Balance is now "
                 f"{balance:.2f}. Dispersion is now {builder.get_dispersion():.2f}")
        for dev in removed:
            self.say(f"Removed device {format_device(dev)}")
        self.say(f"Wrote {self.ring_path}")
        status = EXIT_SUCCESS
        if builder.warnings:
            status = EXIT_WARNING
        if balance > BALANCE_WARNING:
            self.say(f"Warning: balance is {balance:.2f}%, above {BALANCE_WARNING:g}%. "
                     "Rebalance again once min_part_hours has passed "
                     f"({_format_hours(builder.min_part_seconds_left())} left).")
            status = EXIT_WARNING
        return status

    def cmd_dispersion(self, args: list[str]) -> int:
        """Report how well replicas are spread over regions, zones, hosts, devices."""
        if args:
            raise UsageError("dispersion takes no argument")
        builder = self.load()
        if not builder.ever_rebalanced:
            raise UsageError("the builder was never rebalanced")
        report = builder.dispersion_report()
        self.say(f"Dispersion is {report['percent']:.2f}%: {report['parts']} of "
                 f"{builder.partition_count} partitions have more replicas in one domain "
                 "than the topology requires")
        for name in TIER_NAMES:
            self.say(f"  {name:<8} {report[name]} partitions")
        return EXIT_SUCCESS if not report["parts"] else EXIT_WARNING

    def cmd_validate(self, args: list[str]) -> int:
        """Check the builder's placement."""
        builder = self.load()
        builder.validate()
        self.say("The builder is valid")
        return EXIT_SUCCESS

    def cmd_write_ring(self, args: list[str]) -> int:
        """Write the ring file from the builder's current placement."""
        builder = self.load()
        if not builder.ever_rebalanced:
            raise UsageError("the builder was never rebalanced: nothing to write")
        builder.get_ring().save(self.ring_path)
        self.say(f"Wrote {self.ring_path}")
        return EXIT_SUCCESS

    def cmd_pretend_min_part_hours_passed(self, args: list[str]) -> int:
        """Let the next rebalance move any partition."""
        builder = self.load()
        builder.pretend_min_part_hours_passed()
        self.save(builder)
        self.say("Every partition may now move at the next rebalance")
        return EXIT_SUCCESS

    # --- listing --------------------------------------------------------------------

    def cmd_list(self, args: list[str]) -> int:
        """Describe the ring and list its devices."""
        builder = self.load()
        devs = [dev for dev in builder.devs if dev is not None]
        regions = {dev["region"] for dev in devs}
        zones = {(dev["region"], dev["zone"]) for dev in devs}
        self.say(f"{self.builder_path}, build version {builder.version}")
        line = (f"{builder.partition_count} partitions, {builder.replicas} replicas, "
                f"{len(regions)} regions, {len(zones)} zones, {len(devs)} devices")
        if builder.ever_rebalanced:
            line += (f", {builder.get_balance():.2f} balance, "
                     f"{builder.get_dispersion():.2f} dispersion")
        else:
            line += ", not rebalanced yet"
        self.say(line)
        left = builder.min_part_seconds_left()
        self.say(f"A partition moved stays put at least {builder.min_part_hours} hours "
                 f"({_format_hours(left)} remaining)")
        state = self._ring_up_to_date(builder)
        ring_name = os.path.basename(self.ring_path)
        self.say({True: f"Ring file {ring_name} is up-to-date",
                  False: f"Ring file {ring_name} is obsolete",
                  None: f"Ring file {ring_name} not found"}[state])
        if devs:
            self._device_table(builder, devs)
        return EXIT_SUCCESS

    def _device_table(self, builder: RingBuilder, devs: list[dict]) -> None:
        counts = builder.dev_part_counts()
        balances = builder.dev_balances() if builder.ever_rebalanced else {}
        rows = [("id", "region", "zone", "ip address:port", "replication ip:port", "name",
                 "weight", "partitions", "balance", "flags", "meta")]
        for dev in devs:
            ip = f"[{dev['ip']}]" if ":" in dev["ip"] else dev["ip"]
            rip = dev["replication_ip"]
            rip = f"[{rip}]" if ":" in rip else rip
            rows.append((str(dev["id"]), str(dev["region"]), str(dev["zone"]),
                         f"{ip}:{dev['port']}", f"{rip}:{dev['replication_port']}",
                         dev["device"], f"{dev['weight']:.2f}", str(counts.get(dev["id"], 0)),
                         f"{balances.get(dev['id'], 0.0):.2f}",
                         "DEL" if builder.is_removing(dev["id"]) else "", dev["meta"]))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        self.say("Devices:")
        left_aligned = (3, 4, 10)  # addresses and meta read better aligned left
        for row in rows:
            cells = [cell.ljust(width) if i in left_aligned else cell.rjust(width)
                     for i, (cell, width) in enumerate(zip(row, widths, strict=True))]
            self.say(("  " + "  ".join(cells)).rstrip())


VERBS: dict[str, Callable[[Command, list[str]], int]] = {
    "create": Command.cmd_create, "add": Command.cmd_add, "remove": Command.cmd_remove,
    "set_weight": Command.cmd_set_weight, "search": Command.cmd_search,
    "set_min_part_hours": Command.cmd_set_min_part_hours,
    "set_replicas": Command.cmd_set_replicas, "rebalance": Command.cmd_rebalance,
    "dispersion": Command.cmd_dispersion, "validate": Command.cmd_validate,
    "write_ring": Command.cmd_write_ring,
    "pretend_min_part_hours_passed": Command.cmd_pretend_min_part_hours_passed,
    "list": Command.cmd_list,
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}")


def _parser(verb: str, description: str) -> argparse.ArgumentParser:
    return _Parser(prog=f"oiofs-ring-builder <builder_file> {verb}",
                   description=description)


def main(argv: list[str] | None = None) -> int:
    """Run one ring-builder command; returns the exit status (0, 1 warning, 2 error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.split("\n", 1)[1].strip("\n"), file=sys.stdout if argv else sys.stderr)
        return EXIT_SUCCESS if argv else EXIT_ERROR
    command = Command(argv[0])
    verb = argv[1] if len(argv) > 1 else "list"
    handler = VERBS.get(verb)
    if handler is None:
        print(f"Error: unknown verb {verb!r}; verbs: {', '.join(sorted(VERBS))}",
              file=sys.stderr)
        return EXIT_ERROR
    try:
        return handler(command, argv[2:])
    except (UsageError, RingError) as err:
        print(f"Error: {err}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
