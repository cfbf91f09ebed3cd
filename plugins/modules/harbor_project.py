#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: harbor_project
short_description: Manage a Harbor project (public flag, Trivy scan on push, storage quota) over Harbor's v2.0 API
version_added: 0.2.0
description:
  - Creates, updates or deletes a Harbor project. Reads the project and its quota first and writes only what differs.
  - The state after the change is predicted before anything is written; check mode returns that prediction, and
    after a change the module reads the project back and returns what Harbor reports (with a warning if it differs).
  - Harbor's API takes basic authentication only (O(username) and O(password)); O(token) is not used.
author:
  - aiinfra.cluster contributors (@aiinfra)
options:
  name:
    description: Project name.
    type: str
    required: true
  state:
    description: Whether the project exists.
    type: str
    choices: [present, absent]
    default: present
  public:
    description: Anyone may pull from a public project. Left as it is when not set (private on creation).
    type: bool
  auto_scan:
    description:
      - Scan every pushed image with Harbor's scanner (Trivy). Left as it is when not set (off on creation).
    type: bool
    version_added: 0.2.0
  storage_limit:
    description: Storage quota, for example V(10Gi), V(500M), or V(-1) for no limit. Left as it is when not set.
    type: str
extends_documentation_fragment:
  - aiinfra.cluster.rest
attributes:
  check_mode:
    support: full
    description: Reads the project and returns the plan and the diff; writes nothing.
  diff_mode:
    support: full
    description: Before and after of name, public, auto_scan and storage_limit.
"""

EXAMPLES = r"""
- name: A private project for the lab's images, 20Gi at most
  aiinfra.cluster.harbor_project:
    url: http://192.168.56.11:30002
    username: admin
    password: "{{ lookup('ansible.builtin.file', 'credentials/harbor-admin-password') }}"
    name: lab
    public: false
    auto_scan: true
    storage_limit: 20Gi
  delegate_to: localhost
"""

RETURN = r"""
project:
  description:
    - The project after the change (name, public, auto_scan, storage_limit in bytes, -1 for none), read back from
      Harbor; in check mode the predicted state. Null when absent.
  returned: always
  type: dict
plan:
  description: The steps made (or that would be made in check mode), for example V([["create", null]]).
  returned: always
  type: list
  elements: list
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aiinfra.cluster.plugins.module_utils.harbor import (
    HarborError, apply_project, check_name, find_project, parse_size, predict_project, project_quota, read_project)
from ansible_collections.aiinfra.cluster.plugins.module_utils.rest import (
    REST_SPEC, ApiError, auth_module_rules, client_or_fail, predicted_result, safe_url)


def main():
    module = AnsibleModule(
        argument_spec=dict(REST_SPEC, name=dict(type="str", required=True),
                           state=dict(type="str", choices=["present", "absent"], default="present"),
                           public=dict(type="bool"), auto_scan=dict(type="bool"),
                           storage_limit=dict(type="str")),
        supports_check_mode=True,
        **auth_module_rules("harbor")
    )
    p = module.params
    what = "Harbor project %s at %s" % (p["name"], safe_url(p["url"]))
    client = client_or_fail(module, what, "harbor")
    try:
        check_name(p["name"], "name")
        wanted = {"name": p["name"], "public": p["public"], "auto_scan": p["auto_scan"],
                  "storage_limit": parse_size(p["storage_limit"]) if p["storage_limit"] is not None else None}
    except HarborError as exc:
        module.fail_json(msg="%s: %s. Nothing was changed." % (what, exc))
    try:
        project = find_project(client, p["name"])
        quota = project_quota(client, project)
        pred = predict_project(project, quota, wanted, p["state"])
        if pred["plan"] and not module.check_mode:
            apply_project(client, project, quota, wanted, pred["plan"])
        result = predicted_result(module, "project", pred, lambda: read_project(client, p["name"]))
    except (ApiError, HarborError) as exc:
        module.fail_json(msg="%s: %s" % (what, exc),
                         status=getattr(exc, "status", None), body=getattr(exc, "body", None))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
