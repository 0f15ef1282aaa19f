# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""Canary shares and plans as an operator writes them: a share is a percentage with two decimals at
most (the route's hash space has 10,000 slices), a plan is SHARE:PAUSE[:hold] steps on one line."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from ansible.module_utils.parsing.convert_bool import boolean

HUNDRED = Decimal("100")


def share_value(share):
    """The percentage a share is written as (10, "12.5", "25%"); InvalidOperation if it is none."""
    return Decimal(str(share).strip().rstrip("%"))


def share_problem(share):
    """Why ``share`` is not a valid canary share (0 to 100 %, at most two decimals); "" if it is."""
    if isinstance(share, bool) or share is None:
        return "canary share %r is not a number: give a percentage from 0 to 100, e.g. 10 or 12.5" % (share,)
    try:
        value = share_value(share)
    except InvalidOperation:
        return "canary share %r is not a number: give a percentage from 0 to 100, e.g. 10 or 12.5" % (share,)
    if not value.is_finite() or value < 0 or value > HUNDRED:
        return "canary share %s %% is outside 0 to 100 %%" % (share,)
    if value != value.quantize(Decimal("0.01")):
        return "canary share %s %% has more than two decimals, finer than the 10,000 slices the route splits clients into" % (share,)
    return ""


PLAN_LINE_HELP = "write the plan as SHARE:PAUSE[:hold] steps separated by commas, e.g. 10:300,50:300:hold,100"


def plan_line(line):
    """The canary steps of a one-line plan (what a survey field can hold): "10:300,50:300:hold,100"
    is 10 % for 300 s, 50 % for 300 s then hold for promotion, then 100 %. Returns (steps, problem)."""
    steps = []
    for number, text in enumerate(str(line).split(","), 1):
        fields = [field.strip() for field in text.split(":")]
        if not fields[0] or len(fields) > 3 or (len(fields) == 3 and fields[2] != "hold"):
            return [], "canary plan %r: step %d (%r) is not SHARE:PAUSE[:hold]; %s" % (line, number, text.strip(), PLAN_LINE_HELP)
        problem = share_problem(fields[0])
        if problem:
            return [], "canary plan %r: step %d: %s" % (line, number, problem)
        pause = fields[1] if len(fields) > 1 and fields[1] else "0"
        problem = pause_problem(pause)
        if problem:
            return [], "canary plan %r: step %d: %s; %s" % (line, number, problem, PLAN_LINE_HELP)
        share = share_value(fields[0])
        step = {"share": int(share) if share == share.to_integral_value() else float(share),
                "pause": int(float(pause)) if float(pause).is_integer() else float(pause)}
        if len(fields) == 3:
            step["hold"] = True
        steps.append(step)
    return steps, ""


STEPS_HELP = ("give canary_steps as a list of {share: PERCENT, pause: SECONDS} (hold: true to wait for a resume), "
              "e.g. [{share: 10, pause: 300}, {share: 100, pause: 0}], or the plan on one line: rollout_canary_plan=10:300,100")
STEP_KEYS = frozenset(("share", "pause", "hold"))


def pause_problem(pause):
    """Why ``pause`` is not a number of seconds a step is watched (0 or more); "" if it is."""
    if not isinstance(pause, bool):
        try:
            seconds = float(str(pause).strip())
        except ValueError:
            seconds = None
        if seconds is not None and seconds >= 0 and seconds != float("inf"):
            return ""
    return "pause %r is not a number of seconds (0 or more)" % (pause,)


def hold_problem(hold):
    """Why ``hold`` is not a boolean as Ansible reads one (true, "yes", "on", 1...); "" if it is."""
    try:
        boolean(hold, strict=True)
    except TypeError:
        return "hold %r is not true or false" % (hold,)
    return ""


def steps_problems(steps):
    """Why canary steps, as a list of {share, pause[, hold]}, cannot run: each problem says which step and
    what to write instead (the shape, the share, the pause, shares that do not rise); [] when they can run.
    Checked here rather than by the argument spec so that a list of bare shares, say, gets a message
    that says how to write the steps."""
    if not isinstance(steps, list):
        return ["canary_steps %r is not a list; %s" % (steps, STEPS_HELP)]
    if not steps:
        return ["canary_steps is empty; " + STEPS_HELP]
    problems, shares = [], []
    for number, step in enumerate(steps, 1):
        if not isinstance(step, dict) or "share" not in step or "pause" not in step or set(step) - STEP_KEYS:
            problems.append("canary_steps step %d (%r) is not {share: PERCENT, pause: SECONDS[, hold: true]}; %s"
                            % (number, step, STEPS_HELP))
            continue
        step_problems = [share_problem(step["share"]), pause_problem(step["pause"]), hold_problem(step.get("hold", False))]
        problems.extend("canary_steps step %d: %s" % (number, problem) for problem in step_problems if problem)
        if not step_problems[0]:
            shares.append(share_value(step["share"]))
    if shares != sorted(shares):
        problems.append("canary shares must rise from step to step")
    return problems
