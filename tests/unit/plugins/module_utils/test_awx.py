"""AWX as data: the data file is sound, surveys and workflow nodes come out as awx.awx takes them,
answers are checked as AWX checks them, and the decision and rollback nodes read the artifacts."""
import copy
import os

import pytest
import yaml

from ansible_collections.nextgen.rollout.plugins.module_utils import _awx

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


@pytest.fixture(scope="module")
def data():
    with open(os.path.join(ROOT, "awx", "controller.yml")) as handle:
        return yaml.safe_load(handle)


def project_playbooks():
    return ["playbooks/" + name for name in os.listdir(os.path.join(ROOT, "playbooks"))]


def test_the_shipped_data_is_sound_and_covers_every_operation(data):
    assert _awx.controller_problems(data, project_playbooks()) == []
    playbooks = set(t["playbook"] for t in data["awx_job_templates"])
    for name in ("blue-green-deploy", "rollback", "backup", "restore", "logging-rollout", "status", "maintenance"):
        assert "playbooks/%s.yml" % name in playbooks
    actions = [t.get("extra_vars", {}).get("canary_action") for t in data["awx_job_templates"]]
    assert "resume" in actions and "abort" in actions
    # The rollback node of every workflow is reached only through the traffic question.
    for workflow in data["awx_workflows"]:
        parents = [n for n in workflow["nodes"] if "rollback" in (n.get("success") or []) + (n.get("failure") or [])]
        assert [n["template"] for n in parents] == ["nextgen.rollout did traffic move"]


@pytest.mark.parametrize("change, problem", [
    (lambda d: d["awx_job_templates"][0].update(playbook="playbooks/nope.yml"), "playbook playbooks/nope.yml is not in the project"),
    (lambda d: d["awx_job_templates"][0]["survey"].append("colour"), "survey question colour is not in awx_questions"),
    (lambda d: d["awx_questions"]["strategy"].update(choices=[]), "a multiplechoice question needs choices"),
    (lambda d: d["awx_questions"]["strategy"].update(default="rainbow"), "default 'rainbow' is not one of its choices"),
    (lambda d: d["awx_questions"]["target_version"].update(type="date"), "type 'date' is not one of"),
    (lambda d: d["awx_workflows"][0]["nodes"][0].update(failure=["nowhere"]), "its failure edge goes to nowhere, which is not a node"),
    (lambda d: d["awx_workflows"][0]["nodes"][0].update(template="nextgen.rollout nothing"), "job template nextgen.rollout nothing is not"),
    (lambda d: d["awx_workflows"][0]["nodes"][2].update(success=["deploy"]), "every node has a parent"),
    (lambda d: d["awx_workflows"][1]["nodes"][2].update(approval={"timeout": 5}), "an approval needs a name"),
    (lambda d: d["awx_schedules"][0].update(template="nope"), "schedule nextgen.rollout weekly maintenance: job template nope"),
    (lambda d: d["awx_schedules"][0].update(rrule="weekly"), "has no RRULE part"),
])
def test_a_mistake_in_the_data_is_named(data, change, problem):
    broken = copy.deepcopy(data)
    change(broken)
    assert any(problem in said for said in _awx.controller_problems(broken, project_playbooks())), \
        _awx.controller_problems(broken, project_playbooks())


def test_survey_spec_is_what_the_awx_api_takes(data):
    spec = _awx.survey_spec("deploy", ["target_version", "strategy"], data["awx_questions"])
    assert spec["name"] == "deploy"
    version, strategy = spec["spec"]
    assert version == {"question_name": "Version to deploy", "question_description": version["question_description"],
                       "variable": "target_version", "type": "text", "required": True, "min": 1, "max": 128}
    assert strategy["choices"] == ["blue-green", "canary"] and strategy["default"] == "blue-green"


def test_workflow_nodes_carry_edges_and_approvals(data):
    canary = next(w for w in data["awx_workflows"] if "approval" in w["name"])
    nodes = dict((n["identifier"], n) for n in _awx.workflow_nodes(canary, "Ops"))
    assert nodes["approve"]["unified_job_template"] == {
        "name": "Promote the canary?", "type": "workflow_approval", "timeout": 3600,
        "description": nodes["approve"]["unified_job_template"]["description"]}
    assert nodes["approve"]["related"]["success_nodes"] == [{"identifier": "resume"}]
    assert nodes["approve"]["related"]["failure_nodes"] == [{"identifier": "abort"}]
    assert nodes["canary"]["unified_job_template"] == {"name": "nextgen.rollout deploy", "type": "job_template",
                                                       "organization": {"name": "Ops"}}
    assert _awx.roots(canary) == ["canary"]


def test_answers_are_checked_as_awx_checks_them(data):
    questions = data["awx_questions"]
    keys = ["target_version", "strategy", "canary_plan", "break_lock"]
    assert _awx.survey_answers(keys, questions, {"target_version": "1.2.0"}) == {
        "target_version": "1.2.0", "rollout_strategy": "blue-green", "rollout_break_lock": "false"}
    with pytest.raises(_awx.AwxDataError, match="'Version to deploy' .target_version. needs an answer"):
        _awx.survey_answers(keys, questions, {})
    with pytest.raises(_awx.AwxDataError, match="'rainbow' is not one of blue-green, canary"):
        _awx.survey_answers(keys, questions, {"target_version": "1", "rollout_strategy": "rainbow"})
    with pytest.raises(_awx.AwxDataError, match="129 characters, not between 1 and 128"):
        _awx.survey_answers(keys, questions, {"target_version": "1" * 129})
    numbers = {"n": {"question": "How many", "variable": "n", "type": "integer", "min": 1, "max": 5}}
    assert _awx.survey_answers(["n"], numbers, {"n": "3"}) == {"n": 3}
    with pytest.raises(_awx.AwxDataError, match="not between 1 and 5"):
        _awx.survey_answers(["n"], numbers, {"n": 9})
    with pytest.raises(_awx.AwxDataError, match="not an integer number"):
        _awx.survey_answers(["n"], numbers, {"n": "many"})


def test_launch_vars_follow_awx_precedence(data):
    deploy = next(t for t in data["awx_job_templates"] if t["name"] == "nextgen.rollout deploy")
    resume = next(t for t in data["awx_job_templates"] if t["name"] == "nextgen.rollout canary resume")
    alone = _awx.launch_vars(data, deploy, {"target_version": "2.0.0"})
    assert alone["rollout_controller_dir"] == "/var/lib/nextgen-rollout-controller"
    assert alone["target_version"] == "2.0.0"
    # In a workflow: artifacts over the template's vars, the workflow's vars over everything.
    merged = _awx.launch_vars(data, resume, workflow_vars={"target_version": "2.0.0", "rollout_strategy": "canary"},
                              artifacts={"rollout": {"h": {}}, "canary_action": "start", "target_version": "x"})
    assert merged["canary_action"] == "start" and merged["target_version"] == "2.0.0" and merged["rollout"] == {"h": {}}


def test_decision_nodes_read_the_rollout_artifact():
    moved = {"h1": {"result": "failed", "traffic_switched": True}, "h2": {"result": "failed", "traffic_switched": False}}
    assert _awx.artifact_answer(moved, "traffic_moved") == {
        "answer": True, "hosts": ["h1"], "message": "traffic moved to the new version on h1"}
    assert not _awx.artifact_answer({"h2": moved["h2"]}, "traffic_moved")["answer"]
    assert not _awx.artifact_answer(None, "traffic_moved")["answer"]
    assert _awx.artifact_answer({"h1": {"result": "held"}}, "canary_held")["hosts"] == ["h1"]
    with pytest.raises(_awx.AwxDataError):
        _awx.artifact_answer(moved, "colour")


def test_a_rollback_after_a_deploy_goes_back_to_what_it_replaced():
    artifact = {"h1": {"action": "deploy", "result": "failed", "version": "2.0.0", "from_version": "1.0.0",
                       "traffic_switched": True},
                "h2": {"action": "deploy", "result": "failed", "version": "2.0.0", "from_version": "1.0.0",
                       "traffic_switched": False}}
    # The workflow's target_version is the version that failed: the artifact wins.
    assert _awx.rollback_target(artifact, "h1", "2.0.0") == {"version": "1.0.0", "if_live": "2.0.0"}
    assert _awx.rollback_target(artifact, "h2", "2.0.0") == {"version": "1.0.0", "if_live": "2.0.0"}
    assert _awx.rollback_target(None, "h1", "1.5.0") == {"version": "1.5.0", "if_live": ""}
    assert _awx.rollback_target({"h1": {"action": "rollback", "version": "1.0.0"}}, "h1", "") == {"version": "", "if_live": ""}
