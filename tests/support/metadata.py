"""Object metadata for the metadata and object-file tests."""

from oiofs.common.constraints import LIMITS

BASE = {"X-Timestamp": "1700000000.00000", "Content-Type": "text/plain",
        "ETag": "d41d8cd98f00b204e9800998ecf8427e", "Content-Length": "5", "name": "/a/c/o"}


def limits_metadata() -> dict[str, str]:
    """Metadata at the API's limits: max count and total size, 1 KiB name, long type."""
    meta = dict(BASE)
    meta["name"] = ("/" + "a" * 256 + "/" + "c" * 256 + "/"
                    + "é" * (LIMITS.max_object_name_length // 2))
    meta["Content-Type"] = "application/x-" + "t" * 4000
    per_item = LIMITS.max_meta_overall_size // LIMITS.max_meta_count
    for i in range(LIMITS.max_meta_count):
        key = f"{i:03d}"
        meta["X-Object-Meta-" + key] = "ü" * ((per_item - len(key)) // 2)
    meta["X-Object-Sysmeta-Slo"] = "s" * 2000
    return meta
