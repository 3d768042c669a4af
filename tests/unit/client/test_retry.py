"""The retry policy: which requests are retried, and the backoff between tries."""

import pytest

from oiofs.client.retry import NO_RETRY, RetryPolicy


def test_backoff_doubles_up_to_the_maximum():
    policy = RetryPolicy(retries=6, backoff_initial=0.5, backoff_factor=2, backoff_max=3,
                         jitter=0)
    assert [policy.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_jitter_adds_at_most_its_share():
    low = RetryPolicy(backoff_initial=1, jitter=0.5, rand=lambda: 0.0)
    high = RetryPolicy(backoff_initial=1, jitter=0.5, rand=lambda: 1.0)
    assert low.delay(1) == 1.0 and high.delay(1) == 1.5


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "POST", "get"])
def test_idempotent_methods_are_retried_up_to_the_limit(method):
    policy = RetryPolicy(retries=2)
    assert policy.may_retry(method, 1) and policy.may_retry(method, 2)
    assert not policy.may_retry(method, 3)


def test_a_body_that_cannot_be_sent_again_is_never_retried():
    assert not RetryPolicy().may_retry("PUT", 1, replayable=False)


def test_non_idempotent_methods_are_not_retried():
    assert not RetryPolicy().may_retry("PATCH", 1)


@pytest.mark.parametrize("status,retried", [(500, True), (502, True), (503, True),
                                            (504, True), (501, False), (404, False),
                                            (401, False), (409, False), (200, False)])
def test_statuses_retried(status, retried):
    assert RetryPolicy().retry_status("GET", status, 1) is retried


def test_no_retry_policy():
    assert not NO_RETRY.may_retry("GET", 1)
    assert not NO_RETRY.retry_status("GET", 503, 1)


@pytest.mark.parametrize("kwargs", [{"retries": -1}, {"backoff_factor": 0.5},
                                    {"jitter": 2}, {"backoff_initial": -1}])
def test_bad_policies_refused(kwargs):
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


def test_retries_are_numbered_from_one():
    with pytest.raises(ValueError):
        RetryPolicy().delay(0)
