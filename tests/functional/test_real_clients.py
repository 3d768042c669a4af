"""Real clients against the all-in-one cluster: the ``swift`` CLI (python-swiftclient) and
rclone's swift backend, driven exactly as a user would drive them.

Every command runs as a subprocess with its own environment (no ``ST_*``/``OS_*`` variables
leak in, rclone gets a throw-away config path), and each test checks the data it got back
byte for byte (MD5s) against the local originals.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import uuid

import pytest

COMMAND_TIMEOUT = 60


def md5_file(path: str) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 16):
            digest.update(chunk)
    return digest.hexdigest()


def md5_tree(root: str) -> dict[str, str]:
    """``{relative path: md5}`` of every file under ``root`` (``/`` separated)."""
    found = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            found[os.path.relpath(path, root).replace(os.sep, "/")] = md5_file(path)
    return found


@pytest.fixture
def tree(tmp_path) -> str:
    """A small directory tree: nested dirs, an empty file, a file > 1 MiB, a name with a
    space and non-ASCII letters."""
    root = tmp_path / "data"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "notes.txt").write_text("hello oiofs\n")
    (root / "empty.bin").write_bytes(b"")
    (root / "big.bin").write_bytes(os.urandom(1024 * 1024 + 12345))
    (root / "sub" / "nested.txt").write_text("nested\n" * 100)
    (root / "sub" / "deeper" / "leaf.json").write_text('{"leaf": true}')
    (root / "sub" / "café au lait ünï.txt").write_text("unicode name\n")
    return str(root)


def clean_env() -> dict[str, str]:
    """The environment without anything that would point a client elsewhere."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("ST_", "OS_", "RCLONE_", "SWIFTCLIENT_"))}


def run(argv: list[str], env: dict[str, str], cwd: str | None = None,
        check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                            timeout=COMMAND_TIMEOUT)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(argv)} exited {result.returncode}\n"
                    f"stdout: {result.stdout}\nstderr: {result.stderr}")
    return result


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def cluster_info(cluster) -> dict:
    """The proxy's ``/info`` document, or ``{}`` if it does not serve one."""
    try:
        with urllib.request.urlopen(f"{cluster.proxy_url}/info", timeout=10) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, ValueError):
        return {}


# --- python-swiftclient: the ``swift`` command ------------------------------------------------


class SwiftCLI:
    """Runs ``python -m swiftclient.shell`` (the ``swift`` command) against the cluster."""

    def __init__(self, cluster, user: str = "test:tester"):
        self.base = [sys.executable, "-m", "swiftclient.shell", "-A", cluster.auth_url,
                     "-U", user, "-K", cluster.users[user]]
        self.env = clean_env()

    def __call__(self, *args: str, cwd: str | None = None,
                 check: bool = True) -> subprocess.CompletedProcess:
        return run(self.base + list(args), self.env, cwd=cwd, check=check)

    def stat_fields(self, *args: str) -> dict[str, str]:
        """``swift stat`` output as ``{field: value}``."""
        fields = {}
        for line in self("stat", *args).stdout.splitlines():
            name, sep, value = line.partition(":")
            if sep:
                fields[name.strip()] = value.strip()
        return fields


@pytest.fixture
def swift(cluster) -> SwiftCLI:
    return SwiftCLI(cluster)


def test_swift_cli_upload_list_download_post_delete(swift, tree, tmp_path):
    assert swift.stat_fields()["Account"] == "AUTH_test"
    container = unique("cli")
    originals = md5_tree(tree)
    parent = os.path.dirname(tree)

    swift("upload", container, "data", cwd=parent)  # object names: data/<relative path>
    expected = sorted(f"data/{name}" for name in originals)
    assert swift("list", container).stdout.splitlines() == expected
    assert swift("list", container, "--prefix", "data/sub/").stdout.splitlines() == [
        name for name in expected if name.startswith("data/sub/")]
    assert container in swift("list").stdout.splitlines()

    out = tmp_path / "download"
    swift("download", container, "-D", str(out))
    assert md5_tree(str(out / "data")) == originals

    swift("post", container, "-m", "Color:blue")
    swift("post", container, "data/notes.txt", "-m", "Mood:happy")
    assert swift.stat_fields(container)["Meta Color"] == "blue"
    object_stat = swift.stat_fields(container, "data/notes.txt")
    assert object_stat["Meta Mood"] == "happy"
    # Swift sends plain objects' ETags bare, RFC 7232 quotes them: clients accept both.
    assert object_stat["ETag"].strip('"') == originals["notes.txt"]
    assert object_stat["Content Length"] == str(len("hello oiofs\n"))

    swift("delete", container)
    assert swift("stat", container, check=False).returncode != 0
    assert container not in swift("list").stdout.splitlines()


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    """A 60 MB file of random bytes (written in pieces: never whole in memory)."""
    path = tmp_path_factory.mktemp("big") / "big.bin"
    with open(path, "wb") as handle:
        for _ in range(60):
            handle.write(os.urandom(1000 * 1000))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["dlo", "slo"])
def test_swift_cli_segmented_upload(cluster, swift, big_file, tmp_path, kind):
    """``swift upload --segment-size 5M`` with ``--use-dlo`` and ``--use-slo`` of 60 MB:
    12 segments, downloaded back byte for byte; ``swift delete`` takes the segments."""
    info = cluster_info(cluster)
    assert kind in info, f"/info does not advertise {kind} (keys: {sorted(info)})"
    container = unique(f"segmented-{kind}")
    # this swiftclient makes an SLO by default when /info offers it: ask for a DLO by name
    args = ["--segment-size", "5M", "--use-slo" if kind == "slo" else "--use-dlo"]
    swift("upload", container, big_file.name, *args, cwd=str(big_file.parent))
    segments = swift("list", f"{container}_segments").stdout.splitlines()
    assert len(segments) == 12
    manifest = swift.stat_fields(container, big_file.name)
    assert manifest["Content Length"] == str(big_file.stat().st_size)
    if kind == "dlo":
        assert manifest.get("Manifest", "").startswith(f"{container}_segments/"), str(manifest)
    else:
        assert manifest.get("X-Static-Large-Object") == "True", str(manifest)

    out = tmp_path / "out"
    swift("download", container, big_file.name, "-o", str(out))
    assert md5_file(str(out)) == md5_file(str(big_file))

    swift("delete", container)  # a manifest's delete takes its segments along
    assert container not in swift("list").stdout.splitlines()
    assert swift("list", f"{container}_segments", check=False).stdout.strip() == ""
    swift("delete", f"{container}_segments", check=False)


# --- rclone's swift backend ---------------------------------------------------------------------


class Rclone:
    """Runs ``rclone`` with a remote ``oio:`` configured only through the environment."""

    FLAGS = ["--low-level-retries", "1", "--retries", "1"]

    def __init__(self, cluster, config_path: str):
        self.env = clean_env()
        self.env.update({
            "RCLONE_CONFIG": config_path,  # never the user's own config file
            "RCLONE_CONFIG_OIO_TYPE": "swift",
            "RCLONE_CONFIG_OIO_AUTH": cluster.auth_url,
            "RCLONE_CONFIG_OIO_USER": "test:tester",
            "RCLONE_CONFIG_OIO_KEY": cluster.users["test:tester"],
            "RCLONE_CONFIG_OIO_AUTH_VERSION": "1",
        })

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run(["rclone", *args, *self.FLAGS], self.env, check=check)

    def md5sums(self, remote: str) -> dict[str, str]:
        """``{path: md5}`` as rclone lists the remote (its hashes come from the ETags)."""
        sums = {}
        for line in self("md5sum", remote).stdout.splitlines():
            digest, _, path = line.partition("  ")
            sums[path] = digest
        return sums


@pytest.fixture
def rclone(cluster, tmp_path) -> Rclone:
    if shutil.which("rclone") is None:
        pytest.skip("rclone is not on PATH (install.sh --with-tests installs it)")
    return Rclone(cluster, str(tmp_path / "rclone.conf"))


def test_rclone_copy_check_sync(rclone, tree):
    remote = f"oio:{unique('rclone')}"
    rclone("copy", tree, remote)
    rclone("check", tree, remote, "--checksum")
    assert rclone.md5sums(remote) == md5_tree(tree)

    # Change the local side: modify, add, delete; sync; the remote must follow exactly.
    with open(os.path.join(tree, "notes.txt"), "a") as handle:
        handle.write("one more line\n")
    with open(os.path.join(tree, "sub", "added.txt"), "w") as handle:
        handle.write("new file\n")
    os.unlink(os.path.join(tree, "sub", "deeper", "leaf.json"))
    rclone("sync", tree, remote, "--checksum")
    rclone("check", tree, remote, "--checksum")
    assert rclone.md5sums(remote) == md5_tree(tree)

    # A difference rclone check must notice (the check can fail): change one file again.
    with open(os.path.join(tree, "notes.txt"), "a") as handle:
        handle.write("not synced\n")
    assert rclone("check", tree, remote, "--checksum", check=False).returncode != 0

    rclone("purge", remote)
    assert remote.split(":", 1)[1] not in rclone("lsd", "oio:").stdout
