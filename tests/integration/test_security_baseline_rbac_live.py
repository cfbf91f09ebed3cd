"""The security_baseline role against a real API server (kube-apiserver v1.20.2 on real etcd, TLS, RBAC; the tier of
tests/integration/kube_api.py), run the way site.yml runs cluster layers: a play on the controller with
`module_defaults` giving kubernetes.core its kubeconfig (the role has no delegate_to and no kubeconfig of its own).
Kyverno is off (its chart cannot be installed here): the role labels the namespaces and onboards the lab's tenants;
a second run and a --check --diff run report changed=0.

Then the tenants' RBAC as the API server enforces it (#16): a tenant admin (a client certificate in the group
team-a-admins) runs its namespace, delegates what it holds, but cannot raise its ResourceQuota, change its LimitRange,
delete or change its NetworkPolicies, create a Role with more than it holds (escalate), or bind a ClusterRole it does
not hold (bind). `tenant_admin_outcomes` is the proof; on the Roles of the code before #16 it lets the tenant delete
its default-deny policy and grant itself the quota."""

import json
import os
import sys
import urllib.error
import urllib.request

import pytest
import yaml

import kube_api
from ansible_env import ansible_playbook, needs_collection

pytestmark = needs_collection

SLOT = 4

PLAY = [{
    "name": "Security layer (controller)", "hosts": "m1", "gather_facts": False,
    "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, "ansible_become": False},
    "module_defaults": {"group/kubernetes.core.k8s": {"kubeconfig": "{{ k8s_kubeconfig }}"},
                        "group/kubernetes.core.helm": {"kubeconfig": "{{ k8s_kubeconfig }}"}},
    "roles": [{"role": "aiinfra.cluster.security_baseline"}]}]


@pytest.fixture(scope="module")
def api():
    yield from kube_api.running_plane(SLOT, "aiinfra-kapi-rbac-")


def run_role(api, *args):
    play = os.path.join(api.work, "security.yml")
    with open(play, "w") as f:
        yaml.safe_dump(PLAY, f)
    extra = {"k8s_kubeconfig": api.kubeconfig(), "security_baseline_kyverno_enabled": False}
    proc = ansible_playbook("-i", "inventories/lab", play, "-e", json.dumps(extra), *args)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return int(proc.stdout.split("PLAY RECAP")[1].split("changed=")[1].split()[0])


def as_user(api, cert):
    """(method, path, body, content_type) -> HTTP status, as the certificate's user."""
    ctx = api.servers[0].ssl_context(*cert)

    def call(method, path, body=None, content_type="application/json"):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(api.servers[0].url + path, data=data, method=method,
                                     headers={"Content-Type": content_type, "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code
    return call


NS = "/api/v1/namespaces/team-a"
NET = "/apis/networking.k8s.io/v1/namespaces/team-a"
RBAC = "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a"


def role(name, rules):
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": name, "namespace": "team-a"}, "rules": rules}


def binding(name, ref_kind, ref_name, user):
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": "team-a"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": ref_kind, "name": ref_name},
            "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}]}


def tenant_admin_outcomes(api, cert):
    """What a team-a admin may do, as the API server answers: {action: allowed}."""
    call = as_user(api, cert)
    merge = "application/merge-patch+json"
    return {
        "create a ConfigMap": call("POST", NS + "/configmaps", {"metadata": {"name": "app"}, "data": {"a": "b"}}) == 201,
        "read the quota": call("GET", NS + "/resourcequotas/tenant-quota") == 200,
        "read the network policies": call("GET", NET + "/networkpolicies") == 200,
        "delegate what it holds": (
            call("POST", RBAC + "/roles", role("reader", [{"apiGroups": [""], "resources": ["pods"],
                                                           "verbs": ["get", "list"]}])) == 201
            and call("POST", RBAC + "/rolebindings", binding("reader", "Role", "reader", "bob")) == 201),
        "raise its GPU quota": call("PATCH", NS + "/resourcequotas/tenant-quota",
                                    {"spec": {"hard": {"requests.nvidia.com/gpu": "8"}}}, merge) < 300,
        "change its LimitRange": call("PATCH", NS + "/limitranges/tenant-defaults",
                                      {"metadata": {"labels": {"x": "y"}}}, merge) < 300,
        "open its network": call("PATCH", NET + "/networkpolicies/default-deny",
                                 {"spec": {"policyTypes": ["Ingress"]}}, merge) < 300,
        "delete its default-deny policy": call("DELETE", NET + "/networkpolicies/default-deny") < 300,
        "grant more than it holds": call("POST", RBAC + "/roles", role("quota-writer", [
            {"apiGroups": [""], "resources": ["resourcequotas"], "verbs": ["update", "patch"]}])) < 300,
        "bind cluster-admin": call("POST", RBAC + "/rolebindings",
                                   binding("root", "ClusterRole", "cluster-admin", "bob")) < 300,
    }


ALLOWED = {"create a ConfigMap", "read the quota", "read the network policies", "delegate what it holds"}


def test_the_role_onboards_the_tenants_from_the_controller_and_converges(api):
    assert run_role(api) > 0
    assert run_role(api) == 0
    assert run_role(api, "--check", "--diff") == 0
    status, quota = api.request("GET", NS + "/resourcequotas/tenant-quota")
    assert status == 200 and quota["spec"]["hard"]["requests.nvidia.com/gpu"] == "1"
    status, ns = api.request("GET", "/api/v1/namespaces/team-a")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"


def test_a_tenant_admin_runs_its_namespace_but_cannot_lift_its_guardrails(api):
    run_role(api)  # idempotent; the tenants exist whatever ran first
    admin = api.pki.issue("team-a-admin", "carol", organizations=["team-a-admins"], client=True)
    outcomes = tenant_admin_outcomes(api, admin)
    assert {action for action, allowed in outcomes.items() if allowed} == ALLOWED, outcomes
