# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWX as data. awx/controller.yml says, once, which job templates, surveys and workflows run the
collection; from it come the survey specs and workflow nodes the awx.awx modules take
(playbooks/awx-configure.yml), the extra vars a launch gets from survey answers (as AWX checks
them), and the answers of a workflow's decision nodes, read from the artifacts of the jobs before."""

from __future__ import annotations

import re

QUESTION_TYPES = ("text", "textarea", "password", "integer", "float", "multiplechoice")
EDGES = ("success", "failure", "always")
# What a decision node asks of the artifacts (the `rollout` stats) of the jobs before it.
QUESTIONS = ("traffic_moved", "canary_held")


class AwxDataError(ValueError):
    """The AWX data, or an answer to a survey, is wrong; the message says where and what to do."""


def question_problems(key, question):
    problems = []
    kind = question.get("type", "text")
    where = "question %s" % key
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(question.get("variable", ""))):
        problems.append("%s: variable %r is not a variable name" % (where, question.get("variable")))
    if not question.get("question"):
        problems.append("%s: has no question text" % where)
    if kind not in QUESTION_TYPES:
        problems.append("%s: type %r is not one of %s" % (where, kind, ", ".join(QUESTION_TYPES)))
    if kind == "multiplechoice":
        choices = question.get("choices") or []
        if not choices:
            problems.append("%s: a multiplechoice question needs choices" % where)
        elif "default" in question and question["default"] not in choices:
            problems.append("%s: default %r is not one of its choices" % (where, question["default"]))
    return problems


def controller_problems(data, playbooks=None):
    """What is wrong in the AWX data (empty: nothing). ``playbooks``: the playbooks the project has."""
    problems = []
    questions = data.get("awx_questions") or {}
    for key, question in questions.items():
        problems += question_problems(key, question)
    templates = dict((t.get("name"), t) for t in data.get("awx_job_templates") or [])
    if len(templates) != len(data.get("awx_job_templates") or []):
        problems.append("awx_job_templates: two job templates have the same name")
    for name, template in templates.items():
        if playbooks is not None and template.get("playbook") not in playbooks:
            problems.append("job template %s: playbook %s is not in the project" % (name, template.get("playbook")))
        problems += ["job template %s: survey question %s is not in awx_questions" % (name, key)
                     for key in template.get("survey") or [] if key not in questions]
        question = template.get("question")
        if question is not None and question not in QUESTIONS:
            problems.append("job template %s: question %r is not one of %s" % (name, question, ", ".join(QUESTIONS)))
    for workflow in data.get("awx_workflows") or []:
        problems += workflow_problems(workflow, templates, questions)
    for schedule in data.get("awx_schedules") or []:
        if schedule.get("template") not in templates:
            problems.append("schedule %s: job template %s is not in awx_job_templates" % (schedule.get("name"), schedule.get("template")))
        if "RRULE:" not in str(schedule.get("rrule", "")):
            problems.append("schedule %s: rrule %r has no RRULE part (DTSTART:... RRULE:FREQ=...)" % (schedule.get("name"), schedule.get("rrule")))
    return problems


def workflow_problems(workflow, templates, questions):
    name = workflow.get("name")
    problems = ["workflow %s: survey question %s is not in awx_questions" % (name, key)
                for key in workflow.get("survey") or [] if key not in questions]
    nodes = workflow.get("nodes") or []
    ids = [node.get("id") for node in nodes]
    if len(set(ids)) != len(ids):
        problems.append("workflow %s: two nodes have the same id" % name)
    for node in nodes:
        where = "workflow %s node %s" % (name, node.get("id"))
        if "approval" in node:
            if not isinstance(node["approval"], dict) or not node["approval"].get("name"):
                problems.append("%s: an approval needs a name (and a timeout in seconds)" % where)
        elif node.get("template") not in templates:
            problems.append("%s: job template %s is not in awx_job_templates" % (where, node.get("template")))
        for edge in EDGES:
            problems += ["%s: its %s edge goes to %s, which is not a node" % (where, edge, child)
                         for child in node.get(edge) or [] if child not in ids]
    if nodes and not roots(workflow):
        problems.append("workflow %s: every node has a parent, so none can start" % name)
    return problems


def roots(workflow):
    """The nodes that start a workflow: those no edge leads to."""
    children = set(child for node in workflow.get("nodes") or [] for edge in EDGES for child in node.get(edge) or [])
    return [node["id"] for node in workflow.get("nodes") or [] if node.get("id") not in children]


def survey_spec(name, keys, questions):
    """The AWX survey_spec of the questions ``keys`` of awx_questions."""
    spec = []
    for key in keys:
        question = questions[key]
        item = {"question_name": question["question"], "question_description": question.get("description", ""),
                "variable": question["variable"], "type": question.get("type", "text"),
                "required": bool(question.get("required", False))}
        for field in ("default", "choices", "min", "max"):
            if field in question:
                item[field] = question[field]
        spec.append(item)
    return {"name": name, "description": "Asked at launch of %s" % name, "spec": spec}


def workflow_nodes(workflow, organization):
    """The workflow_nodes of awx.awx.workflow_job_template for one workflow of the data."""
    nodes = []
    for node in workflow["nodes"]:
        if "approval" in node:
            unified = {"name": node["approval"]["name"], "type": "workflow_approval",
                       "description": node["approval"].get("description", ""),
                       "timeout": int(node["approval"].get("timeout", 0))}
        else:
            unified = {"name": node["template"], "type": "job_template", "organization": {"name": organization}}
        nodes.append({"identifier": node["id"], "unified_job_template": unified,
                      "related": dict(("%s_nodes" % edge, [{"identifier": child} for child in node.get(edge) or []])
                                      for edge in EDGES)})
    return nodes


def _as_number(kind, value, label):
    try:
        return int(value) if kind == "integer" else float(value)
    except (TypeError, ValueError):
        raise AwxDataError("%s: %r is not a%s number" % (label, value, "n integer" if kind == "integer" else ""))


def survey_answers(keys, questions, answers):
    """The extra vars a survey gives, checked as AWX checks answers before it launches: required,
    choices, length of text, bounds of numbers; a missing answer takes the default."""
    extra = {}
    for key in keys:
        question = questions[key]
        variable, kind = question["variable"], question.get("type", "text")
        label = "survey question %r (%s)" % (question["question"], variable)
        value = answers.get(variable, question.get("default"))
        if value is None or value == "":
            if question.get("required"):
                raise AwxDataError("%s needs an answer" % label)
            if value is None:
                continue
        elif kind == "multiplechoice":
            if value not in question["choices"]:
                raise AwxDataError("%s: %r is not one of %s" % (label, value, ", ".join(question["choices"])))
        elif kind in ("integer", "float"):
            value = _as_number(kind, value, label)
            if ("min" in question and value < question["min"]) or ("max" in question and value > question["max"]):
                raise AwxDataError("%s: %s is not between %s and %s" % (label, value, question.get("min"), question.get("max")))
        else:
            if ("min" in question and len(str(value)) < int(question["min"])) or \
                    ("max" in question and len(str(value)) > int(question["max"])):
                raise AwxDataError("%s: %d characters, not between %s and %s" % (
                    label, len(str(value)), question.get("min", 0), question.get("max", "any")))
        extra[variable] = value
    return extra


def launch_vars(data, template, answers=None, workflow_vars=None, artifacts=None):
    """The extra vars a job of ``template`` gets, in AWX's order of precedence (lowest first): the
    common job vars, the template's extra_vars, the artifacts of the jobs before it in a workflow,
    its own survey's answers, then the workflow's extra vars (its survey's answers)."""
    questions = data.get("awx_questions") or {}
    merged = dict(data.get("awx_job_extra_vars") or {})
    merged.update(template.get("extra_vars") or {})
    merged.update(artifacts or {})
    if workflow_vars is None:
        merged.update(survey_answers(template.get("survey") or [], questions, answers or {}))
    else:
        merged.update(workflow_vars)
    return merged


def artifact_answer(outcomes, question):
    """Yes or no to a decision node's question about the ``rollout`` artifact (the outcome of each
    host of the job before): did traffic move on any host, or does a canary hold on any host."""
    if question not in QUESTIONS:
        raise AwxDataError("question %r is not one of %s" % (question, ", ".join(QUESTIONS)))
    if not isinstance(outcomes, dict):
        return {"answer": False, "hosts": [], "message": "no rollout artifact from the job before: nothing moved"}
    if question == "traffic_moved":
        hosts = sorted(host for host, outcome in outcomes.items()
                       if isinstance(outcome, dict) and outcome.get("traffic_switched"))
        said = "traffic moved to the new version on %s" if hosts else "traffic did not move on any host%s"
    else:
        hosts = sorted(host for host, outcome in outcomes.items()
                       if isinstance(outcome, dict) and outcome.get("result") == "held")
        said = "a canary holds on %s, waiting for promotion" if hosts else "no canary holds%s"
    return {"answer": bool(hosts), "hosts": hosts, "message": said % (", ".join(hosts) if hosts else "")}


def rollback_target(outcomes, host, target_version):
    """What a rollback after a deploy goes back to on ``host`` when the deploy's artifact (the
    ``rollout`` stats a workflow passes on) is there: the version live before it, and only while
    the deployed version is live (a host where traffic never moved is left as it is). The workflow's
    target_version is then the version that failed, not the one to go back to."""
    outcome = outcomes.get(host) if isinstance(outcomes, dict) else None
    if isinstance(outcome, dict) and outcome.get("action") in ("deploy", "canary", "blue-green") and outcome.get("version"):
        return {"version": outcome.get("from_version") or "", "if_live": outcome["version"]}
    return {"version": target_version or "", "if_live": ""}
