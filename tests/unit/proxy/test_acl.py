"""Container ACL cleaning, parsing and referrer evaluation."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oiofs.proxy.acl import ACLError, clean_acl, parse_acl, referrer_allowed


def test_clean_normalizes_referrer_designators():
    assert clean_acl("X-Container-Read", ".ref:*, .referrer:example.com,.rlistings") == \
        ".r:*,.r:example.com,.rlistings"
    assert clean_acl("X-Container-Read", ".r:-bad.com") == ".r:-bad.com"
    assert clean_acl("X-Container-Read", ".r:http://www.example.com/page") == \
        ".r:www.example.com"


@pytest.mark.parametrize("value", [".r:", ".unknown", ".r:-*", ".r:http://"])
def test_clean_refuses_bad_read_acls(value):
    with pytest.raises(ACLError):
        clean_acl("X-Container-Read", value)


@pytest.mark.parametrize("value", [".r:*", ".rlistings"])
def test_clean_refuses_referrers_in_write_acls(value):
    with pytest.raises(ACLError):
        clean_acl("X-Container-Write", value)


def test_clean_keeps_users_and_accounts():
    assert clean_acl("X-Container-Write", " test:tester3 , test2 ,,") == "test:tester3,test2"


def test_parse_splits_referrers_and_groups():
    assert parse_acl(".r:*,.rlistings,test:tester3,test2") == \
        (["*"], [".rlistings", "test:tester3", "test2"])
    assert parse_acl(None) == ([], [])
    assert parse_acl("") == ([], [])


def test_referrer_rules():
    assert referrer_allowed(None, ["*"])
    assert not referrer_allowed(None, ["example.com"])
    assert referrer_allowed("http://example.com/a", ["example.com"])
    assert referrer_allowed("http://www.example.com/a", [".example.com"])
    assert not referrer_allowed("http://example.org/a", [".example.com"])
    assert not referrer_allowed("http://www.bad.com/", ["*", "-.bad.com"])
    # later entries win
    assert referrer_allowed("http://www.bad.com/", ["-.bad.com", "*"])
    assert not referrer_allowed("http://x.com/", [])


names = st.text(alphabet=st.characters(blacklist_characters=",.:", min_codepoint=33,
                                       max_codepoint=0x2FF), min_size=1, max_size=12)


@given(st.lists(st.tuples(names, st.one_of(st.none(), names)), max_size=5))
def test_clean_then_parse_round_trips_user_grants(grants):
    items = [a if u is None else f"{a}:{u}" for a, u in grants]
    cleaned = clean_acl("X-Container-Write", ",".join(items))
    assert parse_acl(cleaned) == ([], [i.strip() for i in items if i.strip()])
