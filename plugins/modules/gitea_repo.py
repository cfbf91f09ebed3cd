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
  description: Owner, name, description, private and default_branch after the change; null when absent.
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
    AUTH_RULES, API, FIELDS, apply_repo, check_repo_params, plan_repo, repo_path, repo_state)
from ansible_collections.aiinfra.cluster.plugins.module_utils.rest import (
    REST_SPEC, ApiError, InputError, client_or_fail, plan_result, safe_url)


def main():
    module = AnsibleModule(
        argument_spec=dict(REST_SPEC, owner=dict(type="str", required=True), name=dict(type="str", required=True),
                           description=dict(type="str"), private=dict(type="bool"),
                           auto_init=dict(type="bool", default=True), default_branch=dict(type="str"),
                           state=dict(type="str", choices=["present", "absent"], default="present")),
        supports_check_mode=True,
        **AUTH_RULES
    )
    p = module.params
    what = "Gitea repository %s/%s at %s" % (p["owner"], p["name"], safe_url(p["url"]))
    client = client_or_fail(module, what, token_scheme="token")
    try:
        check_repo_params(p)
    except InputError as exc:
        module.fail_json(msg="%s: %s. Nothing was changed." % (what, exc))
    wanted = {k: p[k] for k in ("owner", "name", "description", "private", "auto_init", "default_branch")}
    repo = None
    try:
        current = repo_state(client.get(repo_path(p["owner"], p["name"]), missing_ok=True))
        plan = plan_repo(current, wanted, p["state"])
        if plan and not module.check_mode:
            login = client.get(API + "/user")["login"] if plan[0][0] == "create" else None
            repo = apply_repo(client, wanted, plan, login)
    except ApiError as exc:
        module.fail_json(msg="%s: %s" % (what, exc),
                         status=exc.status, body=exc.body)
    if p["state"] == "absent":
        after = None
    elif repo is not None:
        after = repo_state(repo)
    elif current is not None:
        after = dict(current, **{k: wanted[k] for k in FIELDS if wanted[k] is not None})
    else:
        after = {"owner": p["owner"], "name": p["name"], "description": p["description"] or "",
                 "private": bool(p["private"]), "default_branch": p["default_branch"] or "main"}
    result = plan_result("repo", plan, current, after, module._diff)
    if repo is not None and repo.get("clone_url"):
        result["clone_url"] = repo["clone_url"]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
