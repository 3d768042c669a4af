"""Command-line entry points (top layer): servers, daemons, ring tools, all-in-one."""
