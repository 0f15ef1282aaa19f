# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.nextgen.rollout.plugins.module_utils import _awx


def awx_survey_spec(keys, name, questions):
    try:
        return _awx.survey_spec(name, keys or [], questions)
    except KeyError as exc:
        raise AnsibleFilterError("awx_survey_spec: survey question %s is not in awx_questions" % exc)


def awx_workflow_nodes(workflow, organization):
    return _awx.workflow_nodes(workflow, organization)


def awx_controller_problems(data, playbooks=None):
    return _awx.controller_problems(data, playbooks)


def awx_artifact_answer(outcomes, question):
    try:
        return _awx.artifact_answer(outcomes, question)
    except _awx.AwxDataError as exc:
        raise AnsibleFilterError("awx_artifact_answer: %s" % exc)


def rollback_target(outcomes, host, target_version=""):
    return _awx.rollback_target(outcomes, host, target_version)


class FilterModule(object):
    """AWX as data (awx/controller.yml): survey specs, workflow nodes, checks, and the answers a
    workflow's decision and rollback nodes read from the artifacts of the deploy before them."""

    def filters(self):
        return {
            "awx_survey_spec": awx_survey_spec,
            "awx_workflow_nodes": awx_workflow_nodes,
            "awx_controller_problems": awx_controller_problems,
            "awx_artifact_answer": awx_artifact_answer,
            "rollback_target": rollback_target,
        }
