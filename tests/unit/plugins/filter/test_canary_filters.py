import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.nextgen.rollout.plugins.filter.canary import FilterModule


FILTERS = FilterModule().filters()


def test_share_problem_filter_says_what_is_wrong_with_a_share():
    assert FILTERS["canary_share_problem"]("12.5") == ""
    assert "150 % is outside 0 to 100 %" in FILTERS["canary_share_problem"](150)


def test_rollback_decision_filter_turns_policy_errors_into_filter_errors():
    samples = [{"t": 0, "error_rate": 0.5}]
    assert FILTERS["rollback_decision"](samples, {"rules": {"error_rate": {"for": 0}}})["decision"] == "rollback"
    with pytest.raises(AnsibleFilterError, match="rollback_decision: rule x lacks"):
        FILTERS["rollback_decision"](samples, {"rules": {"x": {"metric": "m"}}})
    with pytest.raises(AnsibleFilterError, match="rollback_decision"):
        FILTERS["rollback_decision"]([{"error_rate": 0.5}])  # a sample without its time


def test_release_alert_rules_filter_reports_bad_input():
    made = FILTERS["release_alert_rules"]("svc", "app-01")
    assert all(rule["labels"]["host"] == "app-01" for rule in made["rules"]["groups"][0]["rules"])
    with pytest.raises(AnsibleFilterError, match="release_alert_rules: rule x lacks"):
        FILTERS["release_alert_rules"]("svc", "app-01", {"rules": {"x": {"metric": "m"}}})
