# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""AWX objects from the collection's data (awx/controller.yml), in the shapes awx.awx takes.

The same data is read two ways: playbooks/awx-configure.yml turns it into job templates, surveys
and workflows on a controller (through the awx_* filters), and the tests launch the job templates
and follow the workflows as AWX would (``launch_vars``, ``next_nodes``), so that what is tested is
what is configured.
"""

from __future__ import annotations

import copy

QUESTION_KEYS = ("question_name", "question_description", "variable", "type", "required", "default", "min", "max",
                 "choices")
QUESTION_TYPES = ("text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect")


class AwxDataError(ValueError):
    """The data does not describe valid AWX objects, or a launch AWX would refuse."""


def question(questions, name):
    try:
        found = dict(questions[name])
    except (KeyError, TypeError):
        raise AwxDataError("survey question %r is not in awx_questions" % (name,))
    unknown = sorted(set(found) - set(QUESTION_KEYS))
    if unknown or not found.get("variable") or found.get("type") not in QUESTION_TYPES:
        raise AwxDataError("survey question %s needs a variable and a type among %s, and only the keys %s"
                           % (name, ", ".join(QUESTION_TYPES), ", ".join(QUESTION_KEYS)))
    return found


def survey_spec(names, questions, title=""):
    """The survey_spec of awx.awx.job_template / workflow_job_template for the question ``names``."""
    spec = []
    for name in names or []:
        entry = question(questions, name)
        entry.setdefault("question_description", "")
        entry.setdefault("required", False)
        if "choices" in entry:
            entry["choices"] = [str(choice) for choice in entry["choices"]]
        spec.append(entry)
    return {"name": title, "description": "", "spec": spec}


def workflow_nodes(workflow, organization):
    """The workflow_nodes of awx.awx.workflow_job_template from a workflow's nodes, checked: each
    edge leads to a node of the workflow, each node runs a job template or is an approval."""
    nodes = workflow.get("nodes") or []
    identifiers = [node.get("identifier") for node in nodes]
    if len(set(identifiers)) != len(identifiers) or not all(identifiers):
        raise AwxDataError("workflow %s: every node needs an identifier of its own" % workflow.get("name"))
    result = []
    for node in nodes:
        if bool(node.get("job_template")) == bool(node.get("approval")):
            raise AwxDataError("workflow %s, node %s: give either a job_template or an approval"
                               % (workflow.get("name"), node["identifier"]))
        related = {}
        for edge in ("success", "failure", "always"):
            targets = node.get(edge) or []
            missing = sorted(set(targets) - set(identifiers))
            if missing:
                raise AwxDataError("workflow %s, node %s: %s leads to unknown node(s) %s"
                                   % (workflow.get("name"), node["identifier"], edge, ", ".join(missing)))
            related[edge + "_nodes"] = [{"identifier": target} for target in targets]
        if node.get("job_template"):
            template = {"name": node["job_template"], "type": "job_template",
                        "organization": {"name": organization}}
        else:
            approval = node["approval"]
            template = {"name": approval["name"], "description": approval.get("description", ""),
                        "type": "workflow_approval", "timeout": int(approval.get("timeout", 0))}
        result.append({"identifier": node["identifier"], "unified_job_template": template, "related": related})
    return result


def launch_vars(template, questions, answers=None):
    """The extra vars of a launch as AWX builds them: the template's extra_vars, then the survey's
    answers (checked as AWX checks them: required, length, choices; defaults filled in)."""
    answers = dict(answers or {})
    variables = copy.deepcopy(template.get("extra_vars") or {})
    asked = [question(questions, name) for name in template.get("survey") or []]
    allowed = set(q["variable"] for q in asked)
    unasked = sorted(set(answers) - allowed)
    if unasked:
        raise AwxDataError("%s does not ask for %s (its survey asks for %s); AWX would ignore or refuse them"
                           % (template.get("name"), ", ".join(unasked), ", ".join(sorted(allowed)) or "nothing"))
    for entry in asked:
        name = entry["variable"]
        value = answers.get(name, entry.get("default"))
        if value in (None, ""):
            if entry.get("required"):
                raise AwxDataError("%s: %r is required" % (template.get("name"), entry["question_name"]))
            continue
        if entry["type"] in ("text", "textarea", "password"):
            value = str(value)
            low, high = int(entry.get("min") or 0), entry.get("max")
            if len(value) < low or (high is not None and len(value) > int(high)):
                raise AwxDataError("%s: %r must be %s to %s characters long" % (
                    template.get("name"), entry["question_name"], low, high))
        elif entry["type"] == "multiplechoice" and str(value) not in [str(c) for c in entry.get("choices") or []]:
            raise AwxDataError("%s: %r is not one of %s" % (template.get("name"), value, ", ".join(entry["choices"])))
        variables[name] = value
    return variables


def next_nodes(workflow, identifier, succeeded):
    """The nodes a workflow runs after ``identifier`` ended (``succeeded`` or not), as AWX does."""
    for node in workflow.get("nodes") or []:
        if node["identifier"] == identifier:
            return list(node.get("success" if succeeded else "failure") or []) + list(node.get("always") or [])
    raise AwxDataError("workflow %s has no node %s" % (workflow.get("name"), identifier))


def first_nodes(workflow):
    """The nodes no edge leads to: where a workflow starts."""
    targets = set()
    for node in workflow.get("nodes") or []:
        for edge in ("success", "failure", "always"):
            targets.update(node.get(edge) or [])
    return [node["identifier"] for node in workflow.get("nodes") or [] if node["identifier"] not in targets]
