# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.nextgen.rollout.plugins.module_utils._files import controller_file
from ansible_collections.nextgen.rollout.plugins.module_utils._nginx_site import site_setting_problems
from ansible_collections.nextgen.rollout.plugins.module_utils._service import (
    container_report, env_file_text, pinned_image, pinned_images, references_to_pull, released_images, service_projects)


class FilterModule(object):
    """The compose projects of a service's colours and accessories, the env file of its secrets,
    what is wrong with the settings of its nginx site, what a colour that did not start says, where
    a file the operator names on the controller is, and the exact images (by digest) a release runs."""

    def filters(self):
        return {"service_projects": service_projects, "env_file": env_file_text, "nginx_site_problems": site_setting_problems,
                "container_report": container_report, "controller_file": controller_file, "pinned_image": pinned_image,
                "pinned_images": pinned_images, "references_to_pull": references_to_pull,
                "released_images": released_images}
