#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gitea_webhook
short_description: Manage a Gitea repository webhook, matched by its target URL
version_added: 0.2.0
description:
  - Creates the webhook when no hook of the repository posts to O(hook_url), updates its events, content type,
    branch filter and active flag where they differ, or deletes it.
  - Gitea never returns a hook's secret, so O(secret) is set when the hook is created and not compared afterwards.
  - The hook after the change is predicted before anything is written; check mode returns that prediction, and
    after a change the module reads the hooks back and returns what Gitea reports.
  - Gitea refuses to deliver to private addresses (in-cluster Services) unless its C(webhook.ALLOWED_HOST_LIST)
    allows them; the C(aiinfra.cluster.gitea) role sets it to C(private).
author:
  - aiinfra.cluster contributors (@aiinfra)
options:
  hook_url:
    description: The URL Gitea posts to, for example Jenkins' V(http://jenkins.jenkins.svc:8080/gitea-webhook/post).
    type: str
    required: true
  type:
    description: Payload format.
    type: str
    choices: [gitea, gogs, slack, discord, dingtalk, telegram, msteams, feishu, matrix, wechatwork, packagist]
    default: gitea
  content_type:
    description: Body encoding.
    type: str
    choices: [json, form]
    default: json
  events:
    description: Events that trigger the hook.
    type: list
    elements: str
    default: [push]
  branch_filter:
    description: Glob of the branches whose pushes trigger the hook.
    type: str
    default: "*"
  active:
    description: Whether the hook delivers.
    type: bool
    default: true
  secret:
    description: Shared secret Gitea signs deliveries with; set at creation only (never logged).
    type: str
  state:
    description: Whether the hook exists.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - aiinfra.cluster.rest
  - aiinfra.cluster.gitea_repository
attributes:
  check_mode:
    support: full
    description: Reads the hooks and returns the plan and the diff; writes nothing.
  diff_mode:
    support: full
    description: Before and after of the hook's URL, type, content type, events, branch filter and active flag.
"""

EXAMPLES = r"""
- name: Tell Jenkins about every push to the demo application
  aiinfra.cluster.gitea_webhook:
    url: http://192.168.56.11:30310
    username: gitea_admin
    password: "{{ gitea_admin_password }}"
    owner: gitea_admin
    repo: demo-app
    hook_url: http://jenkins.jenkins.svc.cluster.local:8080/gitea-webhook/post
    events: [push]
  delegate_to: localhost
"""

RETURN = r"""
hook:
  description: URL, type, content_type, events, branch_filter and active after the change; null when absent.
  returned: always
  type: dict
plan:
  description: The calls made (or that would be made in check mode).
  returned: always
  type: list
  elements: list
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aiinfra.cluster.plugins.module_utils.gitea import (
    HOOK_FIELDS, apply_hook, check_hook_params, find_hook, hooks_path, predict_hook)
from ansible_collections.aiinfra.cluster.plugins.module_utils.rest import (
    REST_SPEC, ApiError, InputError, auth_module_rules, client_or_fail, predicted_result, safe_url)

TYPES = ["gitea", "gogs", "slack", "discord", "dingtalk", "telegram", "msteams", "feishu", "matrix", "wechatwork",
         "packagist"]


def main():
    module = AnsibleModule(
        argument_spec=dict(REST_SPEC, owner=dict(type="str", required=True), repo=dict(type="str", required=True),
                           hook_url=dict(type="str", required=True),
                           type=dict(type="str", choices=TYPES, default="gitea"),
                           content_type=dict(type="str", choices=["json", "form"], default="json"),
                           events=dict(type="list", elements="str", default=["push"]),
                           branch_filter=dict(type="str", default="*"), active=dict(type="bool", default=True),
                           secret=dict(type="str", no_log=True),
                           state=dict(type="str", choices=["present", "absent"], default="present")),
        supports_check_mode=True,
        **auth_module_rules("gitea")
    )
    p = module.params
    what = "Gitea webhook of %s/%s to %s at %s" % (
        p["owner"], p["repo"], safe_url(p["hook_url"]), safe_url(p["url"]))
    client = client_or_fail(module, what, "gitea")
    try:
        check_hook_params(p)
    except InputError as exc:
        module.fail_json(msg="%s: %s. Nothing was changed." % (what, exc))
    wanted = dict((k, p[k]) for k in ("owner", "repo", "type", "content_type", "active", "branch_filter", "secret"))
    wanted.update(url=p["hook_url"], events=sorted(p["events"]))

    def read_hook():
        return find_hook(client.get(hooks_path(p["owner"], p["repo"]), {"limit": 50}), p["hook_url"])

    def read_back():
        hook = read_hook()
        return None if hook is None else dict((k, hook[k]) for k in ("url",) + HOOK_FIELDS)

    try:
        current = read_hook()
        pred = predict_hook(current, wanted, p["state"])
        if pred["plan"] and not module.check_mode:
            apply_hook(client, wanted, current, pred["plan"])
        result = predicted_result(module, "hook", pred, read_back)
    except ApiError as exc:
        module.fail_json(msg="%s: %s" % (what, exc),
                         status=exc.status, body=exc.body)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
