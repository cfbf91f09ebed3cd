#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gitea_file
short_description: Keep a file in a Gitea repository with the given content (one commit per change)
version_added: 0.2.0
description:
  - Reads the file through Gitea's contents API and commits only when its content differs (create, update or
    delete), so a second run makes no commit. No git client or clone is needed on the host running the module.
  - The content after the change is predicted before anything is committed; check mode returns that prediction as
    the diff, and after a commit the module reads the file back and returns what Gitea holds.
author:
  - aiinfra.cluster contributors (@aiinfra)
options:
  path:
    description: Path of the file in the repository, for example V(apps/demo/deployment.yaml).
    type: str
    required: true
  content:
    description: The file's content (text). Required with O(state=present).
    type: str
  branch:
    description: Branch to read and commit to. Defaults to the repository's default branch.
    type: str
  commit_message:
    description: Commit message. Defaults to a message naming the path and the change.
    type: str
  force:
    description:
      - Replace the file's content when it differs. With V(false) the file is only created when missing and then left
        to others, for example a deployment manifest whose image tag a CI pipeline commits.
    type: bool
    default: true
  state:
    description: Whether the file exists.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - aiinfra.cluster.rest
  - aiinfra.cluster.gitea_repository
attributes:
  check_mode:
    support: full
    description: Reads the file and returns the plan and the diff; commits nothing.
  diff_mode:
    support: full
    description: The file's content before and after.
"""

EXAMPLES = r"""
- name: The demo application's Dockerfile
  aiinfra.cluster.gitea_file:
    url: http://192.168.56.11:30310
    username: gitea_admin
    password: "{{ gitea_admin_password }}"
    owner: gitea_admin
    repo: demo-app
    path: Dockerfile
    content: "{{ lookup('ansible.builtin.template', 'Dockerfile.j2') }}"
  delegate_to: localhost
"""

RETURN = r"""
file:
  description: Owner, repo, path, branch and whether the file exists (C(present)) after the change.
  returned: always
  type: dict
plan:
  description: The commits made (or that would be made in check mode) - create, update or delete.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aiinfra.cluster.plugins.module_utils.gitea import (
    apply_file, check_file_params, contents_path, file_state, predict_file)
from ansible_collections.aiinfra.cluster.plugins.module_utils.rest import (
    REST_SPEC, ApiError, InputError, auth_module_rules, client_or_fail, safe_url)


def main():
    module = AnsibleModule(
        argument_spec=dict(REST_SPEC, owner=dict(type="str", required=True), repo=dict(type="str", required=True),
                           path=dict(type="str", required=True), content=dict(type="str"), branch=dict(type="str"),
                           commit_message=dict(type="str"), force=dict(type="bool", default=True),
                           state=dict(type="str", choices=["present", "absent"], default="present")),
        required_if=[("state", "present", ["content"])],
        supports_check_mode=True,
        **auth_module_rules("gitea")
    )
    p = module.params
    target = "%s/%s:%s" % (p["owner"], p["repo"], p["path"])
    what = "Gitea file %s at %s" % (target, safe_url(p["url"]))
    client = client_or_fail(module, what, "gitea")
    try:
        check_file_params(p)
    except InputError as exc:
        module.fail_json(msg="%s: %s. Nothing was changed." % (what, exc))
    wanted = dict((k, p[k]) for k in ("owner", "repo", "path", "content", "branch"))
    query = {"ref": p["branch"]} if p["branch"] else None
    path = contents_path(p["owner"], p["repo"], p["path"])
    try:
        current, sha = file_state(client.get(path, query, missing_ok=True))
        pred = predict_file(current, wanted, p["state"], p["force"])
        after = pred["after"]
        if pred["plan"] and not module.check_mode:
            wanted["message"] = p["commit_message"] or "%s %s (aiinfra.cluster)" % (
                pred["plan"][0].capitalize(), p["path"])
            apply_file(client, wanted, pred["plan"], sha)
            after = file_state(client.get(path, query, missing_ok=True))[0]
            if after != pred["after"]:
                module.warn("Gitea file %s holds other content after the commit than the module committed" % target)
    except ApiError as exc:
        module.fail_json(msg="%s: %s" % (what, exc), status=exc.status, body=exc.body)
    except ValueError as exc:
        module.fail_json(msg="%s: %s; choose another path." % (what, exc))
    result = dict(changed=pred["changed"], plan=pred["plan"],
                  file={"owner": p["owner"], "repo": p["repo"], "path": p["path"], "branch": p["branch"],
                        "present": after is not None})
    if module._diff:
        result["diff"] = {"before": current if current is not None else "", "after": after if after is not None else "",
                          "before_header": target, "after_header": target}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
