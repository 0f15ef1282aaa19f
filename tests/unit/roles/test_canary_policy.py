"""The canary role's policy as the analysis receives it: the operator's canary_policy merged over the
canary's own (the role's defaults and vars rendered by Ansible's templar), then over the seeds' triggers."""
import os

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.nextgen.rollout.plugins.module_utils._decision import effective_policy

ROLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "roles", "canary")
COMPARISONS = {"error_rate_vs_baseline", "p95_vs_baseline"}


def policy_in_force(canary_policy):
    loader, variables = DataLoader(), {}
    for part in ("defaults", "vars"):
        variables.update(loader.load_from_file(os.path.join(ROLE, part, "main.yml"), trusted_as_template=True))
    variables["canary_policy"] = canary_policy
    rendered = Templar(loader=loader, variables=variables).template(trust_as_template("{{ canary_policy_in_force }}"))
    return effective_policy(rendered)


def test_by_default_the_canary_compares_with_stable_on_100_requests_with_a_2_s_latency_limit():
    policy = policy_in_force({})
    assert policy["min_requests"] == 100
    assert COMPARISONS <= set(policy["rules"])
    assert policy["rules"]["latency_p95"]["threshold"] == 2.0


@pytest.mark.parametrize("empty", [{}, None])
def test_an_empty_policy_is_the_canary_s_own(empty):
    assert policy_in_force(empty) == policy_in_force({})


def test_lowering_min_requests_keeps_every_rule():
    policy = policy_in_force({"min_requests": 20})
    assert policy["min_requests"] == 20
    assert policy["rules"] == policy_in_force({})["rules"]


def test_a_rule_s_keys_replace_only_those_keys_and_null_drops_a_rule():
    policy = policy_in_force({"rules": {"p95_vs_baseline": {"for": "30s"}, "error_rate_vs_baseline": None}})
    assert policy["rules"]["p95_vs_baseline"]["for_s"] == 30
    assert policy["rules"]["p95_vs_baseline"]["threshold"] == 0.1
    assert "error_rate_vs_baseline" not in policy["rules"]
    assert policy["rules"]["latency_p95"]["threshold"] == 2.0
