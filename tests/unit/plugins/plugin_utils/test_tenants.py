import pytest

from ansible_collections.aiinfra.cluster.plugins.plugin_utils import tenants
from ansible_collections.aiinfra.cluster.plugins.module_utils.address_pools import check_pools, parse_range

SETTINGS = {"dns_namespace": "kube-system", "dns_labels": {"k8s-app": "kube-dns"},
            "default_limits": {"default_cpu": "500m", "default_memory": "512Mi", "request_cpu": "100m",
                               "request_memory": "128Mi"}}
TEAM = {"name": "team-a", "quota": {"cpu": "8", "memory": "32Gi", "gpu": 2, "pods": 50},
        "admins": ["group:team-a-admins"], "developers": ["user:alice", "serviceaccount:ci:builder"]}


def by_kind(objs):
    out = {}
    for o in objs:
        out.setdefault(o["kind"], []).append(o)
    return out


def test_a_tenant_gets_every_object():
    objs = by_kind(tenants.all_objects([TEAM], SETTINGS, ["monitoring"]))
    ns = objs["Namespace"][0]["metadata"]
    assert ns["name"] == "team-a"
    assert ns["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    assert ns["labels"]["pod-security.kubernetes.io/warn"] == ns["labels"]["pod-security.kubernetes.io/audit"] == "restricted"
    assert objs["ResourceQuota"][0]["spec"]["hard"] == {"requests.cpu": "8", "requests.memory": "32Gi",
                                                        "requests.nvidia.com/gpu": "2", "pods": "50"}
    limits = objs["LimitRange"][0]["spec"]["limits"][0]
    assert limits["default"] == {"cpu": "500m", "memory": "512Mi"}
    assert limits["defaultRequest"] == {"cpu": "100m", "memory": "128Mi"}
    policies = {p["metadata"]["name"]: p["spec"] for p in objs["NetworkPolicy"]}
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert policies["allow-same-namespace"]["ingress"] == [{"from": [{"podSelector": {}}]}]
    dns = policies["allow-dns"]["egress"][0]
    assert dns["to"][0]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}
    assert {"protocol": "UDP", "port": 53} in dns["ports"] and {"protocol": "TCP", "port": 53} in dns["ports"]
    assert sorted(r["metadata"]["name"] for r in objs["Role"]) == ["developer", "tenant-admin"]
    bindings = {b["metadata"]["name"]: b["subjects"] for b in objs["RoleBinding"]}
    assert bindings["tenant-admin"] == [{"kind": "Group", "name": "team-a-admins", "apiGroup": "rbac.authorization.k8s.io"}]
    assert bindings["developer"][1] == {"kind": "ServiceAccount", "name": "builder", "namespace": "ci"}
    dev = next(r for r in objs["Role"] if r["metadata"]["name"] == "developer")
    assert all("secrets" not in rule["resources"] for rule in dev["rules"])  # developers do not read Secrets
    assert all(o["metadata"].get("namespace", "team-a") == "team-a" for group in objs.values() for o in group)


def test_no_quota_no_bindings_when_not_asked():
    objs = by_kind(tenants.all_objects([{"name": "lab"}], SETTINGS))
    assert "ResourceQuota" not in objs and "RoleBinding" not in objs
    assert len(objs["Role"]) == 2 and len(objs["NetworkPolicy"]) == 3


@pytest.mark.parametrize("tenant, message", [
    ({"name": "Team_A"}, "tenant 'Team_A': a namespace name must be a DNS label"),
    ({"name": "a" * 64}, "must be a DNS label"),
    ({"name": "-team"}, "must be a DNS label"),
    ({"name": "kube-system"}, "tenant 'kube-system': kube-system is reserved for Kubernetes itself"),
    ({"name": "kube-team"}, "reserved for Kubernetes itself"),
    ({"name": "default"}, "reserved for Kubernetes itself"),
    ({"name": "monitoring"}, "tenant 'monitoring': monitoring is a platform namespace"),
    ({"name": "t", "quota": {"memory": "32GB"}}, "quota memory='32GB' is not a Kubernetes quantity (e.g. 500m, 4, 16Gi)"),
    ({"name": "t", "quota": {"cpu": "-1"}}, "quota cpu='-1' is not a Kubernetes quantity"),
    ({"name": "t", "quota": {"gpu": "1.5"}}, "quota gpu must be a whole number, not '1.5'"),
    ({"name": "t", "quota": {"gpu": "500m"}}, "quota gpu must be a whole number"),
    ({"name": "t", "quota": {"gpus": 1}}, "unknown quota 'gpus'"),
    ({"name": "t", "limits": {"default_cpu": "lots"}}, "limit default_cpu='lots' is not a Kubernetes quantity"),
    ({"name": "t", "admins": ["alice"]}, "admins entry 'alice' must be user:<name>, group:<name> or"),
    ({"name": "t", "quotas": {}}, "unknown settings quotas"),
    ({"quota": {}}, "tenant #1 has no name"),
])
def test_bad_tenants_are_refused_with_a_clear_message(tenant, message):
    problems = tenants.validate([tenant], ["monitoring"])
    assert any(message in p for p in problems), problems
    with pytest.raises(tenants.TenantError):
        tenants.all_objects([tenant], SETTINGS, ["monitoring"])


def test_duplicates_and_good_quantities():
    assert tenants.validate([{"name": "a"}, {"name": "a"}]) == ["tenant 'a' is listed twice"]
    good = {"name": "t", "quota": {"cpu": "500m", "memory": "1.5Gi", "storage": "1T", "gpu": 0, "pods": "10"}}
    assert tenants.validate([good]) == []
    assert tenants.validate("team-a") == ["k8s_tenants must be a list of tenants, not str"]


NODES = ["192.168.56.11", "192.168.56.12", "192.168.56.13", "192.168.56.10"]


def test_pools_inside_the_subnet_and_clear_of_nodes_pass():
    pools = [{"name": "lab", "addresses": ["192.168.56.200-192.168.56.220", "192.168.56.240/29"]}]
    assert check_pools(pools, "192.168.56.0/24", NODES) == []
    assert parse_range("192.168.56.240/29")[1].exploded == "192.168.56.247"


@pytest.mark.parametrize("pools, message", [
    ([{"name": "a", "addresses": ["192.168.56.200-192.168.56.220"]},
      {"name": "b", "addresses": ["192.168.56.210-192.168.56.230"]}],
     "MetalLB pool 'b': 192.168.56.210-192.168.56.230 overlaps 192.168.56.200-192.168.56.220 of pool 'a'"),
    ([{"name": "a", "addresses": ["192.168.56.10/30"]}],
     "MetalLB pool 'a': 192.168.56.10/30 is not an address range or CIDR"),
    ([{"name": "a", "addresses": ["192.168.56.8/29"]}],
     "MetalLB pool 'a': 192.168.56.8/29 contains 192.168.56.11, which is already in use (a node or the API VIP)"),
    ([{"name": "a", "addresses": ["10.0.0.1-10.0.0.9"]}],
     "MetalLB pool 'a': 10.0.0.1-10.0.0.9 is not inside the node subnet 192.168.56.0/24"),
    ([{"name": "a", "addresses": ["192.168.56.220-192.168.56.200"]}], "the first address must not come after the last"),
    ([{"name": "A", "addresses": ["192.168.56.200/32"]}], "MetalLB pool 'A': the name must be a DNS label"),
    ([{"name": "a", "addresses": []}], "MetalLB pool 'a' has no addresses"),
    ([{"name": "a", "addresses": ["192.168.56.200/32"]}, {"name": "a", "addresses": ["192.168.56.201/32"]}],
     "MetalLB pool 'a' is listed twice"),
])
def test_bad_pools_are_named(pools, message):
    problems = check_pools(pools, "192.168.56.0/24", NODES)
    assert any(message in p for p in problems), problems


def test_a_bad_subnet_is_reported():
    assert check_pools([], "lab", []) == ["the node subnet 'lab' is not a network (set k8s_node_subnet, e.g. 192.168.56.0/24)"]
