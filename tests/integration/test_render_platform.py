"""The security and observability layers rendered for the lab: every manifest validates (render harness), every
alert rule group passes `promtool check rules` and behaves under `promtool test rules`, the Alertmanager
configuration passes `amtool check-config` (Debian's prometheus and prometheus-alertmanager packages), for the lab's
receivers and for every receiver type; bad receivers and bad tenants stop the play with a clear message."""

import importlib.util
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from ansible_env import (ROOT, ansible_playbook, lab, needs_collection, only_roles, promtool_check_rules, render_charts,
                         validate_manifests, yaml_docs)

# The RBAC evaluator of the unit tests (rules as data: every forbidden verb/resource pair), loaded from its file.
_spec = importlib.util.spec_from_file_location(
    "security_baseline_rbac", os.path.join(ROOT, "tests", "unit", "roles", "security_baseline_rbac.py"))
rbac = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rbac)

pytestmark = [
    needs_collection,
    pytest.mark.skipif((shutil.which("promtool") is None or shutil.which("amtool") is None) and not os.environ.get("CI"),
                       reason="needs Debian's prometheus and prometheus-alertmanager (CI always runs it)"),
]


def playbook(*args, ok=True):
    proc = ansible_playbook(*args)
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def render():
    return lab().out  # the lab render shared by the render tests (validated in test_render_charts.py)


def test_rule_groups_pass_promtool(render, tmp_path):
    rules = yaml_docs(render / "observability" / "alert-rules.yaml")
    want = ["aiinfra-node", "aiinfra-etcd", "aiinfra-longhorn", "aiinfra-cilium", "aiinfra-gpu"]
    assert [r["metadata"]["name"] for r in rules] == want
    assert promtool_check_rules(rules, tmp_path) == 5


PROMTOOL_TESTS = """
rule_files: [%(files)s]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'up{job="kube-etcd", instance="m1"}'
        values: '1x10'
      - series: 'up{job="kube-etcd", instance="m2"}'
        values: '1 1 0x8'
      - series: 'up{job="kube-etcd", instance="m3"}'
        values: '1 1 0x8'
      - series: 'DCGM_FI_DEV_XID_ERRORS{gpu="0", Hostname="g1"}'
        values: '0 0 79 79'
      - series: 'longhorn_volume_robustness{volume="pvc-1"}'
        values: '1 2x15'
      - series: 'kube_node_status_condition{condition="Ready", status="true", node="w1"}'
        values: '1x10'
    alert_rule_test:
      - eval_time: 1m
        alertname: EtcdInsufficientMembers
        exp_alerts: []
      - eval_time: 6m
        alertname: EtcdInsufficientMembers
        exp_alerts:
          - exp_labels: {severity: critical}
            exp_annotations:
              summary: etcd has lost quorum
              description: "Fewer than a majority of etcd members answer: the API server cannot write. Restore members or playbooks/restore.yml."
      - eval_time: 2m
        alertname: GPUXidError
        exp_alerts:
          - exp_labels: {severity: critical, gpu: "0", Hostname: g1}
            exp_annotations:
              summary: GPU 0 on g1 reported Xid 79
              description: An Xid error usually needs the workload restarted and, for some codes, a GPU reset.
      - eval_time: 5m
        alertname: LonghornVolumeDegraded
        exp_alerts: []
      - eval_time: 12m
        alertname: LonghornVolumeDegraded
        exp_alerts:
          - exp_labels: {severity: warning, volume: pvc-1}
            exp_annotations:
              summary: Longhorn volume pvc-1 is degraded
              description: pvc-1 runs with fewer healthy replicas than configured.
      - eval_time: 10m
        alertname: NodeNotReady
        exp_alerts: []
"""


def test_alerts_fire_when_they_should(render, tmp_path):
    names = []
    for r in yaml_docs(render / "observability" / "alert-rules.yaml"):
        f = tmp_path / ("%s.rules.yml" % r["metadata"]["name"])
        f.write_text(yaml.safe_dump(r["spec"]))
        names.append(f.name)
    (tmp_path / "tests.yml").write_text(PROMTOOL_TESTS % {"files": ", ".join(names)})
    out = subprocess.run(["promtool", "test", "rules", "tests.yml"], cwd=tmp_path, capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def amtool(config, tmp_path):
    f = tmp_path / "alertmanager.yml"
    f.write_text(yaml.safe_dump(config))
    return subprocess.run(["amtool", "check-config", str(f)], capture_output=True, text=True, check=False)


def test_lab_alertmanager_config_passes_amtool(render, tmp_path):
    values = yaml_docs(render / "observability" / "values" / "kube-prometheus-stack.yaml")[0]
    config = values["alertmanager"]["config"]
    out = amtool(config, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert [r["name"] for r in config["receivers"]] == ["null", "platform-webhook", "oncall-email"]
    assert config["route"]["routes"][1] == {"receiver": "oncall-email", "matchers": ['severity="critical"'],
                                            "continue": False}
    # the SMTP password is a mounted Secret, never in the configuration
    assert config["receivers"][2]["email_configs"][0]["auth_password_file"] == \
        "/etc/alertmanager/secrets/alertmanager-smtp/password"
    assert values["alertmanager"]["alertmanagerSpec"]["secrets"] == ["alertmanager-smtp"]
    assert values["grafana"]["admin"]["existingSecret"] == "grafana-admin"
    assert "adminPassword" not in values["grafana"]


RECEIVERS_PLAY = """
- hosts: cp
  gather_facts: false
  connection: local
  tasks:
    - ansible.builtin.include_role:
        name: aiinfra.cluster.observability
        tasks_from: check
    - ansible.builtin.copy:
        dest: %(out)s
        content: "{{ observability_alertmanager_config | to_nice_yaml }}"
        mode: "0644"
"""


def receivers_inventory(tmp_path, receivers, default, routes=()):
    inv = {"k8s_cluster": {"children": {"k8s_control_plane": {"hosts": {"cp": {
        "ansible_python_interpreter": sys.executable, "ansible_host": "10.0.0.11",
        "observability_alert_receivers": receivers, "observability_alert_default_receiver": default,
        "observability_alert_routes": list(routes)}}}}}}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inv))
    (tmp_path / "play.yml").write_text(RECEIVERS_PLAY % {"out": tmp_path / "am.yml"})
    return playbook("-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml"), ok=False)


def test_every_receiver_type_passes_amtool(tmp_path):
    proc = receivers_inventory(tmp_path, [
        {"name": "hook", "type": "webhook", "url": "http://sink:8080/"},
        {"name": "mail", "type": "email", "to": "a@b.example", "from": "am@b.example", "smarthost": "smtp:25"},
        {"name": "chat", "type": "slack", "channel": "#alerts", "api_url_secret": "slack-url"},
    ], "chat", [{"receiver": "mail", "matchers": ['severity="critical"'], "continue": True}])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    config = yaml.safe_load((tmp_path / "am.yml").read_text())
    assert config["receivers"][3]["slack_configs"][0]["api_url_file"] == "/etc/alertmanager/secrets/slack-url/url"
    out = subprocess.run(["amtool", "check-config", str(tmp_path / "am.yml")], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4 receivers" in out.stdout


def test_bad_receivers_stop_before_anything_changes(tmp_path):
    proc = receivers_inventory(tmp_path, [{"name": "hook", "type": "pager", "url": "x"}], "missing")
    assert proc.returncode == 2
    assert "the default receiver 'missing' and every route's receiver must be one of them" in proc.stdout
    assert not (tmp_path / "am.yml").exists()


def test_tenants_render(render):
    objs = yaml_docs(render / "security_baseline" / "tenants.yaml")
    kinds = sorted({o["kind"] for o in objs})
    assert kinds == ["LimitRange", "Namespace", "NetworkPolicy", "ResourceQuota", "Role", "RoleBinding"]
    quota = next(o for o in objs if o["kind"] == "ResourceQuota" and o["metadata"]["namespace"] == "team-a")
    assert quota["spec"]["hard"]["requests.nvidia.com/gpu"] == "1"
    policies = yaml_docs(render / "security_baseline" / "kyverno-policies.yaml")
    actions = {r["validate"]["failureAction"] for p in policies if p["kind"] == "ClusterPolicy"
               for r in p["spec"]["rules"] if "validate" in r}
    assert actions == {"Audit"}
    exception = next(p for p in policies if p["kind"] == "PolicyException")
    assert "kube-system" in exception["spec"]["match"]["any"][0]["resources"]["namespaces"]
    assert "team-a" not in exception["spec"]["match"]["any"][0]["resources"]["namespaces"]


def test_no_rendered_tenant_role_can_escalate_or_lift_its_guardrails(render):
    """#16: every Role the render puts in a tenant namespace, and every ClusterRole bound there, evaluated as data."""
    tenants = {o["metadata"]["name"] for o in yaml_docs(render / "security_baseline" / "tenants.yaml")
               if o["kind"] == "Namespace"}
    assert tenants == {"team-a", "team-b"}
    roles, problems = [], []
    for path in sorted(render.rglob("*.yaml")):
        if "helm" in path.relative_to(render).parts:
            continue  # the charts' own objects (controllers), not the tenants'
        for obj in yaml_docs(path):
            if not isinstance(obj, dict):
                continue
            if obj.get("kind") == "Role" and obj["metadata"].get("namespace") in tenants:
                roles.append(obj)
            if obj.get("kind") == "RoleBinding" and obj["metadata"].get("namespace") in tenants:
                assert obj["roleRef"]["kind"] == "Role", "%s binds a ClusterRole into a tenant" % path
    assert sorted((r["metadata"]["namespace"], r["metadata"]["name"]) for r in roles) == [
        ("team-a", "developer"), ("team-a", "tenant-admin"), ("team-b", "developer"), ("team-b", "tenant-admin")]
    for role in roles:
        problems += rbac.forbidden_grants(role)
    assert problems == []


def test_enforce_and_bad_tenants(tmp_path):
    out = tmp_path / "enforce"
    playbook("playbooks/render.yml", "-i", "inventories/lab", "-e", "render_dir=%s" % out,
             "-e", "security_baseline_kyverno_action=Enforce", *only_roles("security_baseline"))
    policies = yaml_docs(out / "security_baseline" / "kyverno-policies.yaml")
    assert {r["validate"]["failureAction"] for p in policies if p["kind"] == "ClusterPolicy"
            for r in p["spec"]["rules"] if "validate" in r} == {"Enforce"}
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump({"k8s_tenants": [{"name": "Team_A"}, {"name": "t2", "quota": {"memory": "8GB"}}]}))
    proc = playbook("playbooks/render.yml", "-i", "inventories/lab", "-e", "render_dir=%s" % (tmp_path / "bad"),
                    "-e", "@%s" % bad, *only_roles("security_baseline"), ok=False)
    assert proc.returncode == 2
    assert "tenant 'Team_A': a namespace name must be a DNS label" in proc.stdout
    assert "tenant 't2': quota memory='8GB' is not a Kubernetes quantity" in proc.stdout


def test_network_render(render):
    pools = yaml_docs(render / "network" / "metallb-pools.yaml")
    assert [(p["kind"], p["metadata"]["name"]) for p in pools] == [("IPAddressPool", "lab"), ("L2Advertisement", "aiinfra-l2")]
    assert pools[0]["spec"]["addresses"] == ["192.168.56.200-192.168.56.220"]
    issuers = yaml_docs(render / "network" / "ca-issuers.yaml")
    assert [i["kind"] for i in issuers] == ["ClusterIssuer", "Certificate", "ClusterIssuer"]
    assert issuers[1]["spec"]["isCA"] is True and issuers[2]["spec"]["ca"]["secretName"] == issuers[1]["spec"]["secretName"]
    assert not (render / "network" / "nfs-storageclass.yaml").exists()


def test_bad_pools_and_nfs(tmp_path):
    extra = tmp_path / "extra.yml"
    extra.write_text(yaml.safe_dump({
        "network_nfs_enabled": True, "network_nfs_server": "192.168.56.5", "network_nfs_share": "/export/k8s",
        "k8s_metallb_pools": [{"name": "lab", "addresses": ["192.168.56.200-192.168.56.220"]},
                              {"name": "more", "addresses": ["192.168.56.224/27"]}]}))
    out = tmp_path / "ok"
    playbook("playbooks/render.yml", "-i", "inventories/lab", "-e", "render_dir=%s" % out, "-e", "@%s" % extra,
             *only_roles("network"))
    sc = yaml_docs(out / "network" / "nfs-storageclass.yaml")[0]
    assert sc["provisioner"] == "nfs.csi.k8s.io" and sc["parameters"] == {"server": "192.168.56.5", "share": "/export/k8s"}
    # the real charts, csi-driver-nfs included: its driver is the provisioner the StorageClass names
    releases, problems = render_charts.render_tree(str(out))
    assert problems == [] and {r.release.name for r in releases} == {"metallb", "cert-manager", "ingress-nginx",
                                                                     "csi-driver-nfs"}
    nfs = next(r for r in releases if r.release.name == "csi-driver-nfs")
    assert [o["metadata"]["name"] for _t, o in nfs.objects if o["kind"] == "CSIDriver"] == [sc["provisioner"]]
    check = validate_manifests(out)
    assert check.returncode == 0, check.stdout
    extra.write_text(yaml.safe_dump({"k8s_metallb_pools": [
        {"name": "lab", "addresses": ["192.168.56.200-192.168.56.220"]},
        {"name": "clash", "addresses": ["192.168.56.210-192.168.56.230"]},
        {"name": "nodes", "addresses": ["192.168.56.8/29"]}]}))
    proc = playbook("playbooks/render.yml", "-i", "inventories/lab", "-e", "render_dir=%s" % (tmp_path / "bad"),
                    "-e", "@%s" % extra, *only_roles("network"), ok=False)
    assert proc.returncode == 2
    assert ("MetalLB pool 'clash': 192.168.56.210-192.168.56.230 overlaps 192.168.56.200-192.168.56.220 of pool 'lab'"
            in proc.stdout)
    assert "MetalLB pool 'nodes': 192.168.56.8/29 contains 192.168.56.11, which is already in use" in proc.stdout
    assert "MetalLB pool 'nodes': 192.168.56.8/29 contains 192.168.56.10" in proc.stdout  # the API VIP
