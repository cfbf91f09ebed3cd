#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: harbor_robot
short_description: Manage a Harbor project robot account with scoped permissions over Harbor's v2.0 API
version_added: 0.2.0
description:
  - Creates, updates (permissions, description) or deletes a project-level robot account.
  - Harbor shows a robot's secret only when it is created. The module returns it then (run the task with
    C(no_log), or set O(secret_dest) to have it written to a file with mode 0600 instead) and never again.
author:
  - aiinfra.cluster contributors (@aiinfra)
options:
  name:
    description: Short robot name; Harbor calls it C(robot$<project>+<name>).
    type: str
    required: true
  project:
    description: The project the robot may reach.
    type: str
    required: true
  actions:
    description: What the robot may do on the project's repositories.
    type: list
    elements: str
    default: [pull]
    choices: [push, pull, delete, list, read, create, stop]
  description:
    description: Description. Left as it is when not set.
    type: str
  duration:
    description: Days until the robot expires on creation; V(-1) never.
    type: int
    default: -1
  state:
    description: Whether the robot exists.
    type: str
    choices: [present, absent]
    default: present
  secret_dest:
    description:
      - File to write the secret to on creation (mode 0600), on the host the module runs on. When set, the secret
        is not returned.
    type: path
extends_documentation_fragment:
  - aiinfra.cluster.rest
attributes:
  check_mode:
    support: full
    description: Reads the robot and returns the plan and the diff; writes nothing.
  diff_mode:
    support: full
    description: Before and after of the name, description and permissions (never the secret).
"""

EXAMPLES = r"""
- name: A robot that pushes and pulls the lab project's images (secret kept on the controller)
  aiinfra.cluster.harbor_robot:
    url: http://192.168.56.11:30002
    username: admin
    password: "{{ harbor_admin_password }}"
    project: lab
    name: ci
    actions: [push, pull]
    secret_dest: "{{ inventory_dir }}/credentials/harbor-robot-lab-ci"
  delegate_to: localhost
"""

RETURN = r"""
robot:
  description: Name, description and permissions (C([project, resource, action]) triples) after the change.
  returned: always
  type: dict
secret:
  description: The robot's secret, only when the robot was just created and O(secret_dest) is not set.
  returned: when created without secret_dest
  type: str
plan:
  description: The calls made (or that would be made in check mode).
  returned: always
  type: list
  elements: list
"""


from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aiinfra.cluster.plugins.module_utils.harbor import (
    HarborError, access_set, apply_robot, find_project, find_robot, plan_robot, robot_state, wanted_permissions)
from ansible_collections.aiinfra.cluster.plugins.module_utils.rest import (
    REST_SPEC, ApiError, RestClient, plan_result, write_secret)


def main():
    module = AnsibleModule(
        argument_spec=dict(REST_SPEC, name=dict(type="str", required=True), project=dict(type="str", required=True),
                           actions=dict(type="list", elements="str", default=["pull"],
                                        choices=["push", "pull", "delete", "list", "read", "create", "stop"]),
                           description=dict(type="str"), duration=dict(type="int", default=-1),
                           state=dict(type="str", choices=["present", "absent"], default="present"),
                           secret_dest=dict(type="path", no_log=False)),
        required_together=[("username", "password")],
        supports_check_mode=True,
    )
    p = module.params
    client = RestClient.from_params(p)
    created = None
    try:
        wanted = {"name": p["name"], "description": p["description"], "duration": p["duration"],
                  "permissions": wanted_permissions(p["project"], p["actions"])}
        project = find_project(client, p["project"])
        if project is None:
            if p["state"] == "absent":
                module.exit_json(changed=False, robot=None, plan=[])
            module.fail_json(msg="Harbor project %s does not exist at %s: create it first (harbor_project)"
                             % (p["project"], p["url"]))
        robot = find_robot(client, project["project_id"], p["project"], p["name"])
        before = robot_state(robot)
        plan = plan_robot(before, wanted, p["state"])
        if plan and not module.check_mode:
            created = apply_robot(client, robot, wanted, plan)
    except (ApiError, HarborError) as exc:
        module.fail_json(msg="Harbor robot %s in project %s at %s: %s" % (p["name"], p["project"], p["url"], exc),
                         status=getattr(exc, "status", None), body=getattr(exc, "body", None))
    if p["state"] == "absent":
        after = None
    else:
        after = {"name": (created or {}).get("name") or (before or {}).get("name") or "robot$%s+%s" % (p["project"], p["name"]),
                 "description": p["description"] if p["description"] is not None else (before or {}).get("description", ""),
                 "permissions": access_set(wanted["permissions"]), "disabled": False}
    result = plan_result("robot", plan, before, after, module._diff)
    if created and created.get("secret"):
        if p["secret_dest"]:
            write_secret(p["secret_dest"], created["secret"])
        else:
            result["secret"] = created["secret"]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
