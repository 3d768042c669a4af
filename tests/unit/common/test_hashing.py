import hashlib

import pytest

from oiofs.common.hashing import get_hash_path_secret, hash_path, set_hash_path_secret


def test_hash_is_keyed_md5_of_path():
    expected = hashlib.md5(b"test-prefix/a/c/o" + b"test-suffix").hexdigest()
    assert hash_path("a", "c", "o") == expected
    assert hash_path("a", "c", "o", raw_digest=True) == bytes.fromhex(expected)


def test_secret_changes_placement():
    before = hash_path("a", "c")
    set_hash_path_secret("other", "secret")
    try:
        assert get_hash_path_secret() == (b"other", b"secret")
        assert hash_path("a", "c") != before
    finally:
        set_hash_path_secret("test-prefix", "test-suffix")


def test_unicode_names_hash_as_utf8():
    expected = hashlib.md5("test-prefix/a/c/\u00e9".encode() + b"test-suffix").hexdigest()
    assert hash_path("a", "c", "\u00e9") == expected


def test_object_needs_container():
    with pytest.raises(ValueError):
        hash_path("a", obj="o")
