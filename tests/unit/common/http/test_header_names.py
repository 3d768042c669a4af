"""Title-casing header names without changing their non-ASCII bytes."""

from hypothesis import given
from hypothesis import strategies as st

from oiofs.common.http.header_names import title_case


def test_ascii_names_as_str_title():
    assert title_case("x-object-meta-color") == "X-Object-Meta-Color"
    assert title_case("X-OBJECT-META-COLOR") == "X-Object-Meta-Color"
    assert title_case("x-object-meta-a1b") == "X-Object-Meta-A1B"  # as str.title


def test_non_ascii_bytes_are_kept():
    # UTF-8 of U+2035 seen as latin-1: str.title() would make "\xb5" into U+039C
    name = "x-object-meta-\xe2\x80\xb5-\xff"
    assert title_case(name) == "X-Object-Meta-\xe2\x80\xb5-\xff"
    assert "\xb5".title() != "\xb5"  # the trap avoided


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xff)))
def test_latin1_stays_latin1_and_only_ascii_changes(name):
    titled = title_case(name)
    titled.encode("latin-1")
    for new, old in zip(titled, name, strict=True):
        assert new == old or (new.isascii() and new.lower() == old.lower())
