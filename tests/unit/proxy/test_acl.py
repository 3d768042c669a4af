"""Container ACL cleaning, parsing and referrer evaluation; account ACL checks and levels."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oiofs.proxy.acl import (
    ACLError,
    account_acl_grant,
    check_account_acl,
    clean_acl,
    format_account_acl,
    parse_account_acl,
    parse_acl,
    referrer_allowed,
)


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


# --- account ACLs ---------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "", "{}", '{"admin": []}', '{"read-only": ["test:tester3", "test2"]}',
    '{"admin": ["a"], "read-write": ["b"], "read-only": ["c"]}',
])
def test_check_account_acl_accepts(value):
    check_account_acl(value)


@pytest.mark.parametrize("value, reason", [
    ("not json", "Syntax error in input ('not json')"),
    ("[]", "Syntax error in input ('[]')"),
    ("null", "Syntax error in input ('null')"),
    ('{"owner": ["a"]}', 'Key "owner" not recognized'),
    ('{"admin": "a"}', 'Value for key "admin" must be a list'),
    ('{"read-only": {"a": 1}}', 'Value for key "read-only" must be a list'),
    ('{"read-write": ["a", 3]}', 'Elements of "read-write" list must be strings'),
])
def test_check_account_acl_refuses_with_a_reason(value, reason):
    with pytest.raises(ACLError) as err:
        check_account_acl(value)
    assert str(err.value) == reason


def test_parse_account_acl_fills_levels_and_drops_empty_ones():
    assert parse_account_acl(None) is None
    assert parse_account_acl("") is None
    assert parse_account_acl("{}") is None
    assert parse_account_acl('{"admin": []}') is None  # grants nothing
    assert parse_account_acl("garbage") is None
    assert parse_account_acl('{"read-only": ["x"]}') == {
        "admin": [], "read-write": [], "read-only": ["x"]}


def test_format_account_acl_is_compact_sorted_json():
    acl = parse_account_acl('{"read-only": ["x"], "admin": ["y"], "read-write": []}')
    assert format_account_acl(acl) == '{"admin":["y"],"read-only":["x"]}'


USER = ["test", "test:tester3"]


@pytest.mark.parametrize("level, container, method, expected", [
    ("admin", None, "POST", "admin"),
    ("admin", None, "PUT", "admin"),
    ("admin", "c", "DELETE", "admin"),
    ("read-write", None, "GET", "read-write"),
    ("read-write", None, "HEAD", "read-write"),
    ("read-write", None, "POST", None),      # no account metadata
    ("read-write", "c", "PUT", "read-write"),
    ("read-write", "c", "POST", "read-write"),
    ("read-write", "c", "DELETE", "read-write"),
    ("read-only", None, "GET", "read-only"),
    ("read-only", "c", "HEAD", "read-only"),
    ("read-only", "c", "PUT", None),
    ("read-only", "c", "POST", None),
    ("read-only", "c", "DELETE", None),
])
def test_account_acl_grant_levels(level, container, method, expected):
    acl = parse_account_acl(json.dumps({level: ["test:tester3"]}))
    assert account_acl_grant(acl, USER, container, method) == expected


def test_account_acl_grant_matches_any_group_and_nobody_else():
    acl = parse_account_acl('{"read-only": ["test"]}')  # the whole account
    assert account_acl_grant(acl, USER, "c", "GET") == "read-only"
    assert account_acl_grant(acl, ["test2", "test2:tester2"], "c", "GET") is None
    assert account_acl_grant(acl, [], "c", "GET") is None  # anonymous
    assert account_acl_grant(None, USER, "c", "GET") is None
