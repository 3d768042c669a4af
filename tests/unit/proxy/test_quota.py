"""The quota decisions (sans-IO) and the account quota headers."""

import pytest

from oiofs.common.exceptions import HTTPBadRequest, HTTPRequestEntityTooLarge
from oiofs.common.storage_policy import POLICIES
from oiofs.proxy.container_info import AccountInfo, ContainerInfo
from oiofs.proxy.middleware.account_quotas import quota_settings, shown_policy_quotas
from oiofs.proxy.middleware.container_quotas import check_container_headers
from oiofs.proxy.middleware.quota import (
    account_has_quota,
    account_over_quota,
    add_quota_check,
    container_has_quota,
    container_over_quota,
    run_quota_checks,
)


def container(bytes_used=0, count=0, **meta):
    return ContainerInfo(200, object_count=count, bytes_used=bytes_used,
                         meta={k.replace("_", "-"): v for k, v in meta.items()})


def test_container_bytes_quota_is_reached_exactly():
    info = container(90, quota_bytes="100")
    assert not container_over_quota(info, 10)
    assert container_over_quota(info, 11)
    assert container_has_quota(info)


def test_container_count_quota_counts_the_new_object():
    assert not container_over_quota(container(0, 2, quota_count="3"), 0)
    assert container_over_quota(container(0, 3, quota_count="3"), 0)


@pytest.mark.parametrize("value", ["", "-1", "abc", "1.5"])
def test_bad_stored_quota_is_no_quota(value):
    info = container(10 ** 9, 10 ** 6, quota_bytes=value, quota_count=value)
    assert not container_has_quota(info)
    assert not container_over_quota(info, 10 ** 9)


@pytest.mark.parametrize("key", ["HTTP_X_CONTAINER_META_QUOTA_BYTES",
                                 "HTTP_X_CONTAINER_META_QUOTA_COUNT"])
def test_container_quota_values_are_checked(key):
    check_container_headers({key: "10"})
    check_container_headers({key: ""})
    with pytest.raises(HTTPBadRequest):
        check_container_headers({key: "ten"})


def test_account_quota_overall_and_per_policy():
    policy = next(iter(POLICIES))
    info = AccountInfo(200, bytes_used=50, meta={"quota-bytes": "100"},
                       sysmeta={f"quota-bytes-policy-{policy.idx}": "60"},
                       policy_bytes={policy.name.lower(): 50})
    assert account_has_quota(info)
    assert not account_over_quota(info, 10, policy.idx, policy.name)
    assert account_over_quota(info, 11, policy.idx, policy.name)  # the policy's 60
    assert not account_over_quota(info, 11, None, None)           # overall 100 only
    assert account_over_quota(info, 51, None, None)
    assert not account_has_quota(AccountInfo(200, bytes_used=10 ** 9))


def test_account_quota_headers_become_sysmeta():
    policy = next(iter(POLICIES))
    key = "HTTP_X_ACCOUNT_QUOTA_BYTES_POLICY_" + policy.name.upper().replace("-", "_")
    asks, sysmeta = quota_settings({key: "123", "HTTP_X_ACCOUNT_META_COLOR": "x"})
    assert asks
    assert sysmeta == {f"X-Account-Sysmeta-Quota-Bytes-Policy-{policy.idx}": "123"}
    shown = shown_policy_quotas({f"quota-bytes-policy-{policy.idx}": "123"})
    assert shown == [(f"X-Account-Quota-Bytes-Policy-{policy.name}", "123")]
    assert quota_settings({"HTTP_X_REMOVE_ACCOUNT_META_QUOTA_BYTES": "x"}) == (True, {})
    assert quota_settings({"HTTP_X_ACCOUNT_META_COLOR": "x"}) == (False, {})


@pytest.mark.parametrize("environ", [
    {"HTTP_X_ACCOUNT_META_QUOTA_BYTES": "lots"},
    {"HTTP_X_ACCOUNT_QUOTA_BYTES_POLICY_NO_SUCH_POLICY": "1"},
])
def test_bad_account_quota_headers(environ):
    with pytest.raises(HTTPBadRequest):
        quota_settings(environ)


def test_late_quota_checks_run_in_order():
    environ: dict = {}
    seen = []
    add_quota_check(environ, seen.append)

    def refuse(size):
        if size > 5:
            raise HTTPRequestEntityTooLarge("over")

    add_quota_check(environ, refuse)
    run_quota_checks(environ, 5)
    with pytest.raises(HTTPRequestEntityTooLarge):
        run_quota_checks(environ, 6)
    assert seen == [5, 6]
    run_quota_checks({}, 10 ** 12)  # no quota filter: nothing to do
