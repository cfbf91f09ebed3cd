#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gitea_collaborator
short_description: Give a Gitea user read, write or admin access to a repository as a collaborator, or take it away
version_added: 0.3.0
description:
  - Adds O(user) to the repository's collaborators with O(permission), changes the permission where it differs, or
    removes the user from the collaborators.
  - The permission compared is the one Gitea reports for the user on the repository. A user who also gets access
    through a team of an organization may be reported with the higher of the two.
  - The module also returns C(access), the permission Gitea reports for the user on the repository whatever it
    comes from (collaborator entry, team, or a public repository), so a play can assert that a user has no more
    than it should.
  - The collaborator after the change is predicted before anything is written; check mode returns that prediction,
    and after a change the module reads it back and returns what Gitea reports.
  - In check mode a repository or user that does not exist yet (an earlier task would create it) is reported as a
    collaborator to add, with a warning; otherwise a missing repository or user fails the task, naming it.
author:
  - aiinfra.cluster contributors (@aiinfra)
options:
  user:
    description: The user given access.
    type: str
    required: true
  permission:
    description: What the user may do in the repository.
    type: str
    choices: [read, write, admin]
    default: read
  state:
    description: Whether the user is a collaborator of the repository.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - aiinfra.cluster.rest
  - aiinfra.cluster.gitea_repository
attributes:
  check_mode:
    support: full
    description: Reads the collaborator entry and the user's permission and returns the plan and the predicted diff;
      writes nothing.
  diff_mode:
    support: full
    description: Before and after of the user and its permission (null when it is not a collaborator).
"""

EXAMPLES = r"""
- name: Jenkins may read the code repository
  aiinfra.cluster.gitea_collaborator:
    url: https://gitea.example:30300
    username: gitea_admin
    password: "{{ gitea_admin_password }}"
    owner: gitea_admin
    repo: demo-app
    user: jenkins
    permission: read

- name: Jenkins is no collaborator of the GitOps repository
  aiinfra.cluster.gitea_collaborator:
    url: https://gitea.example:30300
    token: "{{ gitea_admin_token }}"
    owner: gitea_admin
    repo: gitops
    user: jenkins
    state: absent
"""

RETURN = r"""
collaborator:
  description:
    - User and permission after the change, read back from Gitea (in check mode the predicted state); null when the
      user is not a collaborator.
  returned: always
  type: dict
  sample: {user: jenkins, permission: read}
access:
  description:
    - The permission Gitea reports for the user on the repository (V(none), V(read), V(write), V(admin) or
      V(owner)), from any source; read after the change, in check mode as it is before it.
  returned: always
  type: str
  sample: read
plan:
  description: The steps made (or that would be made in check mode) - C(add), C(update) or C(remove).
  returned: always
  type: list
  elements: list
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aiinfra.cluster.plugins.module_utils.gitea import (
    PERMISSIONS, apply_collaborator, check_collaborator_params, predict_collaborator, read_collaborator, repo_path,
    user_path)
from ansible_collections.aiinfra.cluster.plugins.module_utils.rest import (
    REST_SPEC, ApiError, InputError, auth_module_rules, client_or_fail, predicted_result, safe_url)


def main():
    module = AnsibleModule(
        argument_spec=dict(REST_SPEC, owner=dict(type="str", required=True), repo=dict(type="str", required=True),
                           user=dict(type="str", required=True),
                           permission=dict(type="str", choices=list(PERMISSIONS), default="read"),
                           state=dict(type="str", choices=["present", "absent"], default="present")),
        supports_check_mode=True,
        **auth_module_rules("gitea")
    )
    p = module.params
    what = "Gitea collaborator %s of %s/%s at %s" % (p["user"], p["owner"], p["repo"], safe_url(p["url"]))
    client = client_or_fail(module, what, "gitea")
    try:
        check_collaborator_params(p)
    except InputError as exc:
        module.fail_json(msg="%s: %s. Nothing was changed." % (what, exc))
    wanted = dict((k, p[k]) for k in ("owner", "repo", "user", "permission"))
    seen = {}
    try:
        needed = (("repository %s/%s" % (p["owner"], p["repo"]), repo_path(p["owner"], p["repo"])),
                  ("user %s" % p["user"], user_path(p["user"])))
        missing = [name for name, path in needed if not client.exists(path)]
        if missing and p["state"] == "absent":
            module.exit_json(changed=False, plan=[], collaborator=None, access="none")
        if missing and not module.check_mode:
            module.fail_json(msg="%s: the %s does not exist; create it first (gitea_repo, gitea_user). Nothing was "
                                 "changed." % (what, " and the ".join(missing)))
        if missing:
            module.warn("%s: the %s does not exist yet; check mode assumes an earlier task creates it"
                        % (what, " and the ".join(missing)))
            current, seen["access"] = None, "none"
        else:
            current, seen["access"] = read_collaborator(client, p["owner"], p["repo"], p["user"])
        pred = predict_collaborator(current, wanted, p["state"])
        if pred["plan"] and not module.check_mode:
            apply_collaborator(client, wanted, pred["plan"])

        def read_back():
            after, seen["access"] = read_collaborator(client, p["owner"], p["repo"], p["user"])
            return after
        result = predicted_result(module, "collaborator", pred, read_back)
    except ApiError as exc:
        module.fail_json(msg="%s: %s" % (what, exc), status=exc.status, body=exc.body)
    result["access"] = seen["access"]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
