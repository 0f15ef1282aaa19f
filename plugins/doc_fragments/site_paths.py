# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    # Where a service's nginx site and route file are, for the modules that move its traffic.
    DOCUMENTATION = r"""
options:
  route_dir:
    description: Directory of the route files (C(<service>.json)), which say where nginx sends each service's traffic.
    type: path
    default: /etc/nginx/nextgen-rollout/routes
  site_conf_dir:
    description: Directory of the nginx sites (C(<service>.conf)).
    type: path
    default: /etc/nginx/conf.d
"""
