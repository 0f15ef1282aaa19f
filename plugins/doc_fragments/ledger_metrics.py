# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    # Where the modules that save a ledger also write its figures for Prometheus.
    DOCUMENTATION = r"""
options:
  metrics_dir:
    description:
      - Where each ledger change also writes C(<service>.prom), readable by all, for node_exporter's textfile
        collector (Debian's prometheus-node-exporter reads V(/var/lib/prometheus/node-exporter)) - its
        C(deployment_failures_total) by version, which seed 002's C(DeploymentFailed) alert reads,
        C(nextgen_release_live_info) (the live version and colour) and C(nextgen_release_live_since_seconds)
        (when the live version got the traffic). An empty value writes none.
    type: path
    default: /var/lib/prometheus/node-exporter
"""
