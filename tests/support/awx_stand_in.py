"""AwxStandIn: a stand-in for AWX's launcher and workflow scheduler, which need Kubernetes and cannot
run here. It launches the job templates of awx/controller.yml as AWX does - ansible-runner with a
private data directory, the survey answers checked and turned into extra vars, the limit only
where the template asks for it - and follows a workflow's success, failure and always edges, with
each job's artifacts (set_stats) passed on to the nodes after it, under the workflow's own vars."""
import itertools
import os

import ansible_runner
import yaml

from ansible_collections.nextgen.rollout.plugins.module_utils import _awx

from support.playbook import ROOT

DATA = os.path.join(ROOT, "awx", "controller.yml")


class Job(object):
    def __init__(self, template, runner, extra_vars):
        self.template = template
        self.status = runner.status
        self.rc = runner.rc
        self.extra_vars = extra_vars
        self.artifacts = {}
        for event in runner.events:
            if event.get("event") == "playbook_on_stats":
                self.artifacts = event.get("event_data", {}).get("artifact_data") or {}
        with open(runner.stdout.name) as handle:
            self.output = handle.read()

    @property
    def succeeded(self):
        return self.status == "successful"


class AwxStandIn(object):
    def __init__(self, inventory, work_dir, data_path=DATA):
        with open(data_path) as handle:
            self.data = yaml.safe_load(handle)
        self.inventory = inventory
        self.work_dir = str(work_dir)
        self.jobs = itertools.count(1)

    def template(self, name):
        return next(t for t in self.data["awx_job_templates"] if t["name"] == name)

    def launch_job(self, name, answers=None, limit=None, workflow_vars=None, artifacts=None):
        template = self.template(name)
        extra_vars = _awx.launch_vars(self.data, template, answers, workflow_vars, artifacts)
        private = os.path.join(self.work_dir, "job-%d" % next(self.jobs))
        os.makedirs(private)
        env = {"ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
               "PATH": os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ["PATH"]}
        runner = ansible_runner.run(private_data_dir=private, project_dir=ROOT, playbook=template["playbook"],
                                    inventory=self.inventory, extravars=extra_vars, envvars=env, quiet=True,
                                    limit=limit if template.get("ask_limit") else None)
        return Job(template, runner, extra_vars)

    def launch_workflow(self, name, answers=None, limit=None, approve=True):
        """Runs the workflow; returns its status ("successful" or "failed") and the nodes that ran, in
        order, each (node id, Job, or the approval's answer "approved" / "denied")."""
        workflow = next(w for w in self.data["awx_workflows"] if w["name"] == name)
        questions = self.data.get("awx_questions") or {}
        workflow_vars = dict(workflow.get("extra_vars") or {})
        workflow_vars.update(_awx.survey_answers(workflow.get("survey") or [], questions, answers or {}))
        nodes = dict((node["id"], node) for node in workflow["nodes"])
        pending = [(node_id, {}) for node_id in _awx.roots(workflow)]
        ran, unhandled_failure = [], False
        while pending:
            node_id, artifacts = pending.pop(0)
            node = nodes[node_id]
            if "approval" in node:
                succeeded, result, passed_on = bool(approve), "approved" if approve else "denied", artifacts
            else:
                job = self.launch_job(node["template"], limit=limit if workflow.get("ask_limit") else None,
                                      workflow_vars=workflow_vars, artifacts=artifacts)
                succeeded, result, passed_on = job.succeeded, job, dict(artifacts, **job.artifacts)
            ran.append((node_id, result))
            edges = (node.get("success") if succeeded else node.get("failure")) or []
            edges = edges + (node.get("always") or [])
            if not succeeded and not edges:
                unhandled_failure = True
            pending += [(child, passed_on) for child in edges]
        return ("failed" if unhandled_failure else "successful"), ran
