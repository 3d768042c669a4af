"""The rule that picks one storage policy for a container whose replicas disagree."""

from hypothesis import given
from hypothesis import strategies as st

from oiofs.common.policy_choice import best_policy, remote_policy_wins, state_from_headers
from oiofs.common.timestamp import Timestamp


def state(put, delete=0, changed=None, count=0, policy=0):
    return {"put_timestamp": Timestamp(put).internal,
            "delete_timestamp": Timestamp(delete).internal,
            "status_changed_at": Timestamp(changed or put).internal, "count": count,
            "storage_policy_index": policy}


def test_first_created_live_recreated_and_ties():
    first, second = state(10, policy=1), state(20, policy=0)
    assert remote_policy_wins(second, first) and not remote_policy_wins(first, second)
    deleted = state(5, delete=30, changed=30, policy=1)
    assert remote_policy_wins(deleted, second) and not remote_policy_wins(second, deleted)
    recreated = state(40, delete=30, changed=40, policy=1)
    assert remote_policy_wins(state(10, policy=0), recreated)
    assert not remote_policy_wins(recreated, state(10, policy=0))
    assert remote_policy_wins(state(10, policy=1), state(10, policy=0))  # tie: lower index
    assert not remote_policy_wins(state(10, policy=0), state(10, policy=1))
    assert not remote_policy_wins(first, dict(first))  # same policy: nothing to take


def test_best_policy_of_answers():
    first, second = state(10, policy=1), state(20, policy=0)
    deleted = state(5, delete=30, changed=30, policy=2)
    assert best_policy([second, deleted, first]) == 1
    assert best_policy([first, second, deleted]) == 1
    assert best_policy([]) is None


def test_state_from_container_head_headers():
    headers = {"x-backend-put-timestamp": Timestamp(5).internal,
               "x-backend-delete-timestamp": Timestamp(0).internal,
               "x-backend-status-changed-at": Timestamp(5).internal,
               "x-backend-storage-policy-index": "1", "x-container-object-count": "3"}
    assert state_from_headers(headers)["storage_policy_index"] == 1
    assert state_from_headers(headers)["count"] == 3
    assert state_from_headers({}) is None
    assert state_from_headers(dict(headers, **{"x-backend-storage-policy-index": "x"})) is None


times = st.integers(0, 4)
states = st.builds(lambda put, delete, changed, count, policy: state(
    put, delete, changed or None, count, policy), times, times, times, st.integers(0, 1),
    st.integers(0, 2))


@given(states, states)
def test_of_two_policies_exactly_one_wins_whichever_side_looks(a, b):
    if a["storage_policy_index"] == b["storage_policy_index"]:
        assert not remote_policy_wins(a, b) and not remote_policy_wins(b, a)
    else:
        assert remote_policy_wins(a, b) != remote_policy_wins(b, a)
