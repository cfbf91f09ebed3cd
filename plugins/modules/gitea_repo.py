#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gitea_repo
short_description: Manage a Gitea repository over Gitea's v1 API
version_added: 0.2.0
description:
  - Creates a repository (initialised with a README on its default branch, so it can be cloned and pushed to at
    once), updates its description, visibility and default branch where they differ, or deletes it.
  - The owner is the token's (or user's) own account or an organization.
  - The repository after the change is predicted before anything is written; check mode returns that prediction,
    and after a change the module reads the repository back and returns what Gitea reports.
author:
  - aiinfra.cluster contributors (@aiinfra)
options:
  owner:
    description: User or organization that owns the repository.
    type: str
    required: true
  name:
    description: Repository name.
    type: str
    required: true
  description:
    description: Description. Left as it is when not set.
    type: str
  private:
    description: Private repository. Left as it is when not set (public on creation).
    type: bool
  auto_init:
    description: Create the first commit (README) on creation.
    type: bool
    default: true
  default_branch:
    description: Default branch. Left as it is when not set (V(main) on creation).
    type: str
  state:
    description: Whether the repository exists.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - aiinfra.cluster.rest
attributes:
  check_mode:
    support: full
    description: Reads the repository and returns the plan and the diff; writes nothing.
  diff_mode:
    support: full
    description: Before and after of description, private and default_branch.
"""

EXAMPLES = r"""
- name: The demo application's code repository
  aiinfra.cluster.gitea_repo:
    url: http://192.168.56.11:30300
    token: "{{ gitea_admin_token }}"
    owner: platform
    name: demo-app
    description: Demo app built by Jenkins with Kaniko
    default_branch: main
  delegate_to: localhost
"""

RETURN = r"""
repo:
  description:
    - Owner, name, description, private and default_branch after the change, read back from Gitea (in check mode
      the predicted state); null when absent.
  returned: always
  type: dict
clone_url:
  description: HTTP clone URL of the repository.
  returned: when present and not in check mode
  type: str
plan:
  description: The calls made (or that would be made in check mode).
  returned: always
  type: list
  elements: list
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aiinfra.cluster.plugins.module_utils.gitea import (
    API, apply_repo, check_repo_params, predict_repo, repo_path, repo_state)
from ansible_collections.aiinfra.cluster.plugins.module_utils.rest import (
    REST_SPEC, ApiError, InputError, auth_module_rules, client_or_fail, predicted_result, safe_url)


def main():
    module = AnsibleModule(
        argument_spec=dict(REST_SPEC, owner=dict(type="str", required=True), name=dict(type="str", required=True),
                           description=dict(type="str"), private=dict(type="bool"),
                           auto_init=dict(type="bool", default=True), default_branch=dict(type="str"),
                           state=dict(type="str", choices=["present", "absent"], default="present")),
        supports_check_mode=True,
        **auth_module_rules("gitea")
    )
    p = module.params
    what = "Gitea repository %s/%s at %s" % (p["owner"], p["name"], safe_url(p["url"]))
    client = client_or_fail(module, what, "gitea")
    try:
        check_repo_params(p)
    except InputError as exc:
        module.fail_json(msg="%s: %s. Nothing was changed." % (what, exc))
    wanted = {k: p[k] for k in ("owner", "name", "description", "private", "auto_init", "default_branch")}
    seen = {}  # the repository record last read from Gitea (its clone_url is returned)
    try:
        seen["repo"] = client.get(repo_path(p["owner"], p["name"]), missing_ok=True)
        current = repo_state(seen["repo"])
        login = client.get(API + "/user")["login"] if current is None and p["state"] == "present" else None
        pred = predict_repo(current, wanted, p["state"], login)
        if pred["plan"] and not module.check_mode:
            apply_repo(client, wanted, pred["plan"], login)

        def read_back():
            seen["repo"] = client.get(repo_path(p["owner"], p["name"]), missing_ok=True)
            return repo_state(seen["repo"])
        result = predicted_result(module, "repo", pred, read_back)
    except ApiError as exc:
        module.fail_json(msg="%s: %s" % (what, exc),
                         status=exc.status, body=exc.body)
    if p["state"] == "present" and not module.check_mode and (seen["repo"] or {}).get("clone_url"):
        result["clone_url"] = seen["repo"]["clone_url"]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
