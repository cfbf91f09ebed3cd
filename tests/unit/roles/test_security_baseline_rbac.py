"""Tenant RBAC without escalation (issue #16): the rules of every Role the tenant model builds, evaluated as data for
every forbidden verb/resource pair; and the evaluator itself refuses each kind of bad rule (so a pass means something).
"""

import os

import pytest
import yaml

from ansible_collections.aiinfra.cluster.plugins.plugin_utils import tenants

from .security_baseline_rbac import forbidden_grants, roles_of

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SETTINGS = {"dns_namespace": "kube-system", "dns_labels": {"k8s-app": "kube-dns"},
            "default_limits": {"default_cpu": "500m", "default_memory": "512Mi", "request_cpu": "100m",
                               "request_memory": "128Mi"}}


def role(*rules):
    return {"kind": "Role", "metadata": {"name": "r", "namespace": "t"}, "rules": list(rules)}


@pytest.mark.parametrize("rule, message", [
    ({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate"]}, "verb 'escalate'"),
    ({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["bind"]}, "verb 'bind'"),
    ({"apiGroups": [""], "resources": ["users", "groups"], "verbs": ["impersonate"]}, "verb 'impersonate'"),
    ({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]}, "verb '*'"),
    ({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["*"], "verbs": ["get"]},
     "every resource of API group 'rbac.authorization.k8s.io'"),
    ({"apiGroups": ["networking.k8s.io"], "resources": ["*"], "verbs": ["get"]},
     "every resource of API group 'networking.k8s.io'"),
    ({"apiGroups": ["*"], "resources": ["*"], "verbs": ["get"]}, "every resource of API group '*'"),
    ({"apiGroups": [""], "resources": ["resourcequotas"], "verbs": ["get", "update"]}, "change resourcequotas (update)"),
    ({"apiGroups": [""], "resources": ["limitranges"], "verbs": ["delete"]}, "change limitranges (delete)"),
    ({"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["patch"]},
     "change networkpolicies (patch)"),
    ({"apiGroups": ["*"], "resources": ["networkpolicies"], "verbs": ["deletecollection"]},
     "change networkpolicies (deletecollection)"),
])
def test_the_evaluator_refuses_every_kind_of_forbidden_grant(rule, message):
    problems = forbidden_grants(role(rule))
    assert any(message in p for p in problems), problems


def test_the_evaluator_lets_read_access_and_ordinary_work_pass():
    assert forbidden_grants(role(
        {"apiGroups": [""], "resources": ["resourcequotas", "limitranges"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["apps"], "resources": ["*"], "verbs": ["get", "create", "delete"]},
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["create", "delete"]},
    )) == []


def lab_tenants():
    with open(os.path.join(ROOT, "inventories", "lab", "group_vars", "all.yml")) as f:
        inventory = yaml.safe_load(f)
    return inventory["k8s_tenants"]


@pytest.mark.parametrize("tenant_list", [
    [{"name": "team-a", "quota": {"gpu": 1}, "admins": ["group:a"], "developers": ["user:alice"]}],
    [{"name": "solo"}],
    lab_tenants(),
], ids=["admins-and-developers", "no-subjects", "lab"])
def test_no_tenant_role_can_escalate_or_lift_its_guardrails(tenant_list):
    roles = roles_of(tenants.all_objects(tenant_list, SETTINGS))
    assert roles, "the tenant model built no Role"
    problems = [p for r in roles for p in forbidden_grants(r)]
    assert problems == []


def test_tenant_admins_still_run_their_namespace():
    objs = tenants.all_objects([{"name": "team-a", "admins": ["group:a"]}], SETTINGS)
    admin = next(o for o in objs if o["kind"] == "Role" and o["metadata"]["name"] == "tenant-admin")

    def granted(group, resource, verb):
        return any(group in rule["apiGroups"] and (resource in rule["resources"] or "*" in rule["resources"])
                   and verb in rule["verbs"] for rule in admin["rules"])
    for wanted in [("", "pods", "create"), ("", "secrets", "update"), ("", "pods/exec", "create"),
                   ("apps", "deployments", "delete"), ("batch", "jobs", "create"),
                   ("networking.k8s.io", "ingresses", "create"), ("networking.k8s.io", "networkpolicies", "list"),
                   ("rbac.authorization.k8s.io", "rolebindings", "create"),
                   ("rbac.authorization.k8s.io", "roles", "list"), ("", "resourcequotas", "get")]:
        assert granted(*wanted), wanted
