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
  - With O(secret_dest), the secret goes first to a temporary file (mode 0600) in the same directory, opened before
    Harbor is asked for it and renamed over O(secret_dest) once it is written. When the robot exists and
    O(secret_dest) is missing or empty (a lost file, or an earlier run that could not write it), the module has
    Harbor generate a new secret for the robot (C(PATCH /api/v2.0/robots/{id})) and writes that one; the old secret
    stops working.
  - The robot after the change is predicted before anything is written; check mode returns that prediction, and
    after a change the module reads the robot back and returns what Harbor reports (with a warning if it differs).
  - Harbor's API takes basic authentication only (O(username) and O(password)); O(token) is not used.
  - Options are checked before any call (an http or https O(url), names as Harbor accepts them, O(secret_dest) a
    file in a writable directory); a bad one fails the task and changes nothing.
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
    description: Days until the robot expires on creation; V(-1) never, V(0) Harbor's default.
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
      - When the robot exists and this file is missing or empty, the robot's secret is regenerated and written here.
      - Its directory must exist. Left alone with O(state=absent).
    type: path
extends_documentation_fragment:
  - aiinfra.cluster.rest
attributes:
  check_mode:
    support: full
    description: Reads the robot and O(secret_dest) and returns the plan and the diff (a secret to regenerate is the
      step C(refresh)); writes nothing.
  diff_mode:
    support: full
    description: Before and after of the name, description, permissions and, with O(secret_dest), whether the file
      holds the secret (never the secret).
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
  description:
    - Name, description and permissions (C([project, resource, action]) triples) after the change, read back from
      Harbor (in check mode the predicted state); with O(secret_dest) also C(secret_stored). Null when absent.
  returned: always
  type: dict
secret:
  description: The robot's secret, only when the robot was just created and O(secret_dest) is not set.
  returned: when created without secret_dest
  type: str
plan:
  description:
    - The calls made (or that would be made in check mode) - C(create), C(update), C(delete), C(refresh) (a new
      secret for an existing robot whose O(secret_dest) is missing).
  returned: always
  type: list
  elements: list
"""

from contextlib import nullcontext

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aiinfra.cluster.plugins.module_utils.harbor import (
    HarborError, apply_robot, check_duration, check_name, find_project, find_robot, plan_gives_secret, predict_robot,
    robot_state, wanted_permissions)
from ansible_collections.aiinfra.cluster.plugins.module_utils.rest import (
    REST_SPEC, ApiError, InputError, SecretWriteError, StagedSecret, auth_module_rules, check_secret_dest,
    client_or_fail, predicted_result, read_secret, safe_url)


def main():
    module = AnsibleModule(
        argument_spec=dict(REST_SPEC, name=dict(type="str", required=True), project=dict(type="str", required=True),
                           actions=dict(type="list", elements="str", default=["pull"],
                                        choices=["push", "pull", "delete", "list", "read", "create", "stop"]),
                           description=dict(type="str"), duration=dict(type="int", default=-1),
                           state=dict(type="str", choices=["present", "absent"], default="present"),
                           secret_dest=dict(type="path", no_log=False)),
        supports_check_mode=True,
        **auth_module_rules("harbor")
    )
    p = module.params
    what = "Harbor robot %s in project %s at %s" % (p["name"], p["project"], safe_url(p["url"]))
    client = client_or_fail(module, what, "harbor")
    dest = p["secret_dest"] if p["state"] == "present" else None
    done = None
    try:
        check_name(p["name"], "name")
        check_name(p["project"], "project")
        check_duration(p["duration"])
        wanted = {"name": p["name"], "description": p["description"], "duration": p["duration"],
                  "permissions": wanted_permissions(p["project"], p["actions"])}
        if dest is not None:
            check_secret_dest(dest, "secret_dest", module.check_mode)
        stored = read_secret(dest, "secret_dest") if dest is not None else None
    except (InputError, HarborError) as exc:
        module.fail_json(msg="%s: %s. Nothing was changed." % (what, exc))

    def read_back():
        after = robot_state(find_robot(client, project["project_id"], p["project"], p["name"]))
        if after is not None and dest is not None:
            after["secret_stored"] = bool(read_secret(dest, "secret_dest"))
        return after

    try:
        project = find_project(client, p["project"])
        if project is None:
            if p["state"] == "absent":
                module.exit_json(changed=False, robot=None, plan=[])
            module.fail_json(msg="Harbor project %s does not exist at %s: create it first (harbor_project)"
                             % (p["project"], safe_url(p["url"])))
        robot = find_robot(client, project["project_id"], p["project"], p["name"])
        pred = predict_robot(robot, wanted, p["state"], p["project"], dest, stored)
        plan = pred["plan"]
        if plan and not module.check_mode:
            # The file the secret goes to is opened before Harbor makes the secret, and renamed into place after.
            with StagedSecret(dest, "secret_dest") if dest and plan_gives_secret(plan) else nullcontext() as staged:
                done = apply_robot(client, robot, wanted, plan)
                if done is not None and staged is not None:
                    staged.commit(done["secret"])
        result = predicted_result(module, "robot", pred, read_back)
    except InputError as exc:
        module.fail_json(msg="%s: %s. Nothing was changed." % (what, exc))
    except SecretWriteError as exc:
        module.fail_json(msg="%s: the robot's new secret was made in Harbor but %s. Fix secret_dest and run again: "
                             "the robot is kept and gets a new secret, written then." % (what, exc))
    except (ApiError, HarborError) as exc:
        module.fail_json(msg="%s: %s" % (what, exc),
                         status=getattr(exc, "status", None), body=getattr(exc, "body", None))
    if done is not None and dest is None:
        result["secret"] = done["secret"]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
