"""The observability layer with either metrics stack (observability_metrics_stack: prometheus = kube-prometheus-stack
66.3.1, victoriametrics = victoria-metrics-k8s-stack 0.66.1), rendered for the lab by playbooks/render.yml and then
from the real upstream charts (scripts/render_charts.py, helm-python-sdk) with exactly the values the role passes.

What is asserted: VictoriaMetrics carries the platform's alert rules (the same groups, names, expressions, labels and
annotations as the Prometheus path, as VMRules its vmalert selects), the same Alertmanager receivers and routes
(mounted secrets at the VictoriaMetrics operator's path), the same control-plane scraping and job labels the rules
select on; every value handed to a chart is read by it; Grafana's admin password comes from our Secret (the
controller's credential file, never inline, never created by a render); exactly one metrics stack is installed."""

import io
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

from ansible_env import ROOT, ansible_playbook, needs_collection, promtool_check_rules, shared_render, yaml_docs

import chart_values  # scripts/, put on sys.path by ansible_env
import render_charts
import validate_manifests as vm

pytestmark = needs_collection

STACKS = {"prometheus": "kube-prometheus-stack", "victoriametrics": "victoria-metrics-k8s-stack"}
LAB_CONTROL_PLANES = ["192.168.56.11", "192.168.56.12", "192.168.56.13"]
# What the controller's credential file holds in these renders (letters and digits, as controller_secret generates).
PASSWORD = "GrafanaAdminFromTheControllerFile0"
HAVE_PROMTOOL = shutil.which("promtool") is not None and shutil.which("amtool") is not None


@pytest.fixture(scope="module")
def credentials(tmp_path_factory):
    """A controller credentials directory that already holds the Grafana admin password."""
    directory = tmp_path_factory.mktemp("credentials")
    (directory / "grafana-admin-password").write_text(PASSWORD + "\n")
    (directory / "grafana-admin-password").chmod(0o600)
    return directory


def render(stack, credentials, *extra, suffix=""):
    """The observability layer of the lab with this metrics stack (rendered once per pytest process)."""
    return shared_render("observability-%s%s" % (stack, suffix), "inventories/lab",
                         "-e", "observability_metrics_stack=%s" % stack, "-e", "k8s_credentials_dir=%s" % credentials,
                         *extra, roles=("observability",))


@pytest.fixture(scope="module", params=list(STACKS))
def stack(request, credentials):
    return request.param, render(request.param, credentials)


def rules_of(rendered):
    return yaml_docs(rendered.out / "observability" / "alert-rules.yaml")


def source_rules():
    with open(os.path.join(ROOT, "roles", "observability", "files", "rules.yml")) as f:
        return yaml.safe_load(f)


# --- One metrics stack, every value read ----------------------------------------------------------------------------

def test_each_stack_renders_from_its_real_chart_and_every_value_is_read(stack):
    name, rendered = stack
    releases, problems = rendered.charts()
    assert problems == []
    # exactly one metrics stack, with Loki and Alloy beside it
    assert set(releases) == {STACKS[name], "loki", "alloy"}
    assert sorted(p.name for p in (rendered.out / "observability" / "values").glob("*.release.json")) == sorted(
        "%s.release.json" % chart for chart in (STACKS[name], "loki", "alloy"))
    result = rendered.validation()
    assert result.returncode == 0, result.stdout + result.stderr
    assert ": 0 invalid" in result.stdout


def test_the_victoriametrics_chart_version_is_pinned_exactly():
    with open(os.path.join(ROOT, "roles", "observability", "defaults", "main.yml")) as f:
        assert str(yaml.safe_load(f)["observability_victoriametrics_stack_version"]) == "0.66.1"
    with open(os.path.join(ROOT, "roles", "observability", "vars", "main.yml")) as f:
        release = yaml.safe_load(f)["observability_helm_releases"]["victoria-metrics-k8s-stack"]
    assert release["version"] == "{{ observability_victoriametrics_stack_version }}"


def test_a_value_the_chart_does_not_read_is_reported(credentials):
    """The unread-value check can fail: one misspelled key in our VictoriaMetrics values is named."""
    rendered = render("victoriametrics", credentials)
    release = rendered.release("victoria-metrics-k8s-stack")
    with open(release.release.values_path) as f:
        values = yaml.safe_load(f)
    assert release.unread == []
    values["alertmanager"]["spce"] = values["alertmanager"].pop("spec")
    with open(render_charts.archive_path(release.release.chart, release.release.version,
                                         render_charts.charts_dir()), "rb") as f:
        sources = chart_values.chart_sources(tarfile.open(fileobj=io.BytesIO(f.read()), mode="r:gz"))
    unread = chart_values.unread_paths(values, sources)
    assert unread and all("alertmanager.spce." in p for p in unread), unread


# --- The platform alert rules ---------------------------------------------------------------------------------------

def test_victoriametrics_carries_the_same_platform_rules_as_prometheus(credentials):
    prometheus, victoria = render("prometheus", credentials), render("victoriametrics", credentials)
    ours_prometheus, ours_victoria = rules_of(prometheus), rules_of(victoria)
    kinds = {name: [(r["apiVersion"], r["kind"]) for r in rules] for name, rules in
             (("prometheus", ours_prometheus), ("victoriametrics", ours_victoria))}
    assert kinds["prometheus"] == [("monitoring.coreos.com/v1", "PrometheusRule")] * 5
    assert kinds["victoriametrics"] == [("operator.victoriametrics.com/v1beta1", "VMRule")] * 5
    # the same objects, rule for rule (names, expressions, durations, labels, annotations): one source
    assert [(r["metadata"], r["spec"]) for r in ours_victoria] == [(r["metadata"], r["spec"]) for r in ours_prometheus]
    source = source_rules()
    assert [r["metadata"]["name"] for r in ours_victoria] == ["aiinfra-%s" % g for g in source]
    for rule_object in ours_victoria:
        (group,) = rule_object["spec"]["groups"]
        assert group["rules"] == source[group["name"].split(".", 1)[1]]
    alerts = {(rule["alert"], rule["expr"]) for r in ours_victoria for rule in r["spec"]["groups"][0]["rules"]}
    quorum = next(r["expr"] for r in source["etcd"] if r["alert"] == "EtcdInsufficientMembers")
    assert ("EtcdInsufficientMembers", quorum) in alerts
    assert len(alerts) == sum(len(rules) for rules in source.values())


def test_the_vmrules_are_valid_and_vmalert_evaluates_them(credentials):
    rendered = render("victoriametrics", credentials)
    releases, _problems = rendered.charts()
    files = vm.read_tree(str(rendered.out))
    crds = vm.crd_catalogue([(rel, obj) for rel, docs in files if "/helm/" in rel for _i, obj in vm._objects(docs)
                             if obj.get("kind") == "CustomResourceDefinition"])
    ours = rules_of(rendered) + yaml_docs(rendered.out / "observability" / "platform-scrapes.yaml")
    assert {o["kind"] for o in ours} == {"VMRule", "VMServiceScrape"}
    for obj in ours:
        assert (obj["apiVersion"], obj["kind"]) in crds  # the chart's own CRD (VictoriaMetrics operator)
        assert vm.validate_object(obj, "1.31", crds=crds) == []
    # a misspelled field is caught by that CRD
    broken = dict(ours[0], spec={"grups": ours[0]["spec"]["groups"]})
    assert vm.validate_object(broken, "1.31", crds=crds)
    # vmalert (the chart's) selects every VMRule, ours included, and sends to the chart's Alertmanager
    (vmalert,) = [o for _t, o in releases["victoria-metrics-k8s-stack"].objects if o["kind"] == "VMAlert"]
    assert vmalert["spec"]["selectAllByDefault"] is True
    assert "ruleSelector" not in vmalert["spec"] and "ruleNamespaceSelector" not in vmalert["spec"]
    assert {r["metadata"]["namespace"] for r in rules_of(rendered)} == {vmalert["metadata"]["namespace"]}
    assert [n["url"] for n in vmalert["spec"]["notifiers"]] == [
        "http://vmalertmanager-vmks-0.vmalertmanager-vmks.monitoring.svc.cluster.local.:9093"]
    assert vmalert["spec"]["extraArgs"]["external.url"] == "http://192.168.56.11:30300"  # alerts link to Grafana


@pytest.mark.skipif(not HAVE_PROMTOOL and not os.environ.get("CI"), reason="needs Debian's prometheus (CI runs it)")
def test_the_vmrules_pass_promtool(credentials, tmp_path):
    assert promtool_check_rules(rules_of(render("victoriametrics", credentials)), tmp_path) == 5


def _jobs_scraped(rendered):
    """The `job` label each scrape object of the metrics stack gives its targets: the value of the selected
    Service's label named by jobLabel."""
    objects = [o for r in rendered.charts()[0].values() for _t, o in r.objects]
    services = [o for o in objects if o["kind"] == "Service"]
    jobs = set()
    for scrape in (o for o in objects if o["kind"] in ("ServiceMonitor", "VMServiceScrape")):
        label = scrape["spec"].get("jobLabel")
        for service in services:
            labels = service["metadata"].get("labels") or {}
            selected = scrape["spec"]["selector"].get("matchLabels", {}).items() <= labels.items()
            if label and selected and label in labels:
                jobs.add(labels[label])
    return jobs


def test_the_jobs_the_rules_select_are_scraped_by_either_stack(credentials):
    selected = set(re.findall(r'job="([^"]+)"', yaml.safe_dump(source_rules())))
    scraped = {name: _jobs_scraped(render(name, credentials)) for name in STACKS}
    # node-exporter and etcd: scraped under the same job names by both stacks
    assert {"kube-etcd", "node-exporter"} <= selected
    for name in STACKS:
        assert {"kube-etcd", "node-exporter"} <= scraped[name], (name, scraped[name])
    # what neither stack scrapes (Cilium's agent, DCGM exporter) is the same for both
    assert selected - scraped["prometheus"] == selected - scraped["victoriametrics"]


@pytest.mark.parametrize("component,port,scheme", [("kube-etcd", 2381, "http"), ("kube-scheduler", 10259, "https"),
                                                   ("kube-controller-manager", 10257, "https")])
def test_victoriametrics_scrapes_the_control_plane_on_the_node_addresses(credentials, component, port, scheme):
    rendered = render("victoriametrics", credentials)
    endpoints = rendered.one("victoria-metrics-k8s-stack", "Endpoints", "vmks-" + component)
    (subset,) = endpoints["subsets"]
    assert [a["ip"] for a in subset["addresses"]] == LAB_CONTROL_PLANES
    assert [(p["name"], p["port"]) for p in subset["ports"]] == [("http-metrics", port)]
    service = rendered.one("victoria-metrics-k8s-stack", "Service", "vmks-" + component)
    assert service["spec"]["ports"][0]["targetPort"] == port and "selector" not in service["spec"]
    scrape = rendered.one("victoria-metrics-k8s-stack", "VMServiceScrape", "vmks-" + component)["spec"]
    assert scrape["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert scrape["namespaceSelector"]["matchNames"] == [service["metadata"]["namespace"]]
    (endpoint,) = scrape["endpoints"]
    assert endpoint["port"] == "http-metrics" and endpoint["scheme"] == scheme
    if scheme == "https":
        assert endpoint["tlsConfig"] == {"insecureSkipVerify": True}  # self-signed serving certificates
        assert endpoint["bearerTokenFile"].endswith("/serviceaccount/token")
    else:
        assert "tlsConfig" not in endpoint


def test_the_network_layers_scrapes_select_the_same_services_with_either_stack(credentials):
    prometheus, victoria = (yaml_docs(render(name, credentials).out / "observability" / "platform-scrapes.yaml")
                            for name in STACKS)
    assert [o["kind"] for o in prometheus] == ["ServiceMonitor"] * 2
    assert [o["kind"] for o in victoria] == ["VMServiceScrape"] * 2
    assert [(o["metadata"], o["spec"]) for o in victoria] == [(o["metadata"], o["spec"]) for o in prometheus]


# --- Alertmanager --------------------------------------------------------------------------------------------------

def _victoria_alertmanager(rendered):
    (secret,) = [o for o in rendered.objects("victoria-metrics-k8s-stack", "Secret") if "alertmanager.yaml" in
                 (o.get("stringData") or {})]
    (manager,) = rendered.objects("victoria-metrics-k8s-stack", "VMAlertmanager")
    return yaml.safe_load(secret["stringData"]["alertmanager.yaml"]), secret, manager


def test_victoriametrics_alertmanager_has_the_same_receivers_and_routes(credentials):
    prometheus = yaml_docs(render("prometheus", credentials).out / "observability" / "values" /
                           "kube-prometheus-stack.yaml")[0]["alertmanager"]
    config, secret, manager = _victoria_alertmanager(render("victoriametrics", credentials))
    # the VMAlertmanager reads the chart's Secret with our configuration; the chart adds only its template glob
    assert manager["spec"]["configSecret"] == secret["metadata"]["name"]
    assert config.pop("templates") == ["/etc/vm/configs/**/*.tmpl"]
    # the same configuration, the mounted secrets at the VictoriaMetrics operator's path (/etc/vm/secrets/<Secret>)
    expected = yaml.safe_load(yaml.safe_dump(prometheus["config"]).replace("/etc/alertmanager/secrets/",
                                                                           "/etc/vm/secrets/"))
    assert config == expected
    assert [r["name"] for r in config["receivers"]] == ["null", "platform-webhook", "oncall-email"]
    assert config["receivers"][2]["email_configs"][0]["auth_password_file"] == \
        "/etc/vm/secrets/alertmanager-smtp/password"
    assert manager["spec"]["secrets"] == prometheus["alertmanagerSpec"]["secrets"] == ["alertmanager-smtp"]


@pytest.mark.skipif(not HAVE_PROMTOOL and not os.environ.get("CI"), reason="needs Debian's alertmanager (CI runs it)")
def test_victoriametrics_alertmanager_config_passes_amtool(credentials, tmp_path):
    config, _secret, _manager = _victoria_alertmanager(render("victoriametrics", credentials))
    f = tmp_path / "alertmanager.yml"
    f.write_text(yaml.safe_dump(config))
    out = subprocess.run(["amtool", "check-config", str(f)], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 receivers" in out.stdout


# --- Grafana --------------------------------------------------------------------------------------------------------

def _env(container):
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env") or []}


def test_grafana_admin_comes_from_our_secret_with_the_controllers_password(stack):
    name, rendered = stack
    chart = STACKS[name]
    (grafana,) = [d["spec"]["template"]["spec"] for d in rendered.objects(chart, "Deployment")
                  if d["metadata"]["name"].endswith("grafana")]
    settings = {}
    for container in grafana["containers"]:
        settings.update(_env(container))
    path = rendered.out / "observability" / "grafana-admin-secret.yaml"
    (ours,) = yaml_docs(path)
    assert settings["GF_SECURITY_ADMIN_PASSWORD"] == {
        "secretKeyRef": {"name": ours["metadata"]["name"], "key": "admin-password"}}
    assert settings["GF_SECURITY_ADMIN_USER"] == {
        "secretKeyRef": {"name": ours["metadata"]["name"], "key": "admin-user"}}
    assert ours["metadata"]["namespace"] == rendered.release(chart).release.namespace
    # the password is the controller file's, in our Secret only (rendered 0600): not in any values, not in the chart
    assert ours["stringData"] == {"admin-user": "admin", "admin-password": PASSWORD}
    assert path.stat().st_mode & 0o777 == 0o600
    for values in (rendered.out / "observability" / "values").glob("*.yaml"):
        assert PASSWORD not in values.read_text(), values
    assert not [o for _t, o in rendered.release(chart).objects if PASSWORD in yaml.safe_dump(o)]
    assert not [s for s in rendered.objects(chart, "Secret") if "admin-password" in (s.get("data") or {})]


def test_grafana_is_on_the_facts_layers_nodeport(stack):
    name, rendered = stack
    (service,) = [s for s in rendered.objects(STACKS[name], "Service") if s["metadata"]["name"].endswith("-grafana")]
    assert service["spec"]["type"] == "NodePort"
    assert [p["nodePort"] for p in service["spec"]["ports"]] == [30300]


@pytest.mark.parametrize("name", list(STACKS))
def test_nodeport_zero_keeps_grafana_inside_and_a_render_creates_no_credential(name, tmp_path_factory):
    empty = tmp_path_factory.mktemp("no-credentials")
    rendered = render(name, empty, "-e", "k8s_grafana_node_port=0", suffix="-clusterip")
    (service,) = [s for s in rendered.objects(STACKS[name], "Service") if s["metadata"]["name"].endswith("-grafana")]
    assert service["spec"]["type"] == "ClusterIP"
    assert not [p for p in service["spec"]["ports"] if "nodePort" in p]
    assert rendered.charts()[1] == []
    # no credential file yet: the Secret carries a stand-in of the same shape, and the render wrote nothing there
    (ours,) = yaml_docs(rendered.out / "observability" / "grafana-admin-secret.yaml")
    assert re.fullmatch(r"[A-Za-z0-9]{32}", ours["stringData"]["admin-password"])
    assert list(empty.iterdir()) == []


# --- Choosing the stack ---------------------------------------------------------------------------------------------

CHOICE_PLAY = """
- hosts: k8s_control_plane[0]
  gather_facts: false
  connection: local
  tags: [%(tag)s]
  tasks:
    - ansible.builtin.include_role:
        name: aiinfra.cluster.observability
        tasks_from: check
        public: true
        apply:
          tags: [%(tag)s]
    - ansible.builtin.copy:
        dest: %(out)s
        content: "{{ {'install': observability_releases | map(attribute='release') | list,
                      'remove': observability_replaced_releases | map(attribute='release') | list} | to_nice_yaml }}"
        mode: "0644"
"""


def choose(tmp_path, stack, tag):
    out = tmp_path / ("%s-%s.yml" % (stack, tag))
    play = tmp_path / "play.yml"
    play.write_text(CHOICE_PLAY % {"tag": tag, "out": out})
    proc = ansible_playbook("-i", "inventories/lab", str(play), "-e", "observability_metrics_stack=%s" % stack,
                            "--tags", tag, "-e", "ansible_python_interpreter=%s" % sys.executable)
    return proc, (yaml.safe_load(out.read_text()) if out.exists() else None)


def test_the_chosen_stack_is_installed_and_the_other_removed(tmp_path):
    proc, plan = choose(tmp_path, "prometheus", "observability")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert plan == {"install": ["kube-prometheus-stack", "loki", "alloy"], "remove": ["victoria-metrics-k8s-stack"]}
    proc, plan = choose(tmp_path, "victoriametrics", "victoriametrics")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert plan == {"install": ["victoria-metrics-k8s-stack", "loki", "alloy"], "remove": ["kube-prometheus-stack"]}


def test_tag_victoriametrics_with_the_prometheus_stack_chosen_stops(tmp_path):
    proc, plan = choose(tmp_path, "prometheus", "victoriametrics")
    assert proc.returncode == 2
    assert "--tags victoriametrics runs this layer with the stack that variable names: set it to victoriametrics" \
        in proc.stdout
    assert plan is None


def test_an_unknown_stack_stops(tmp_path):
    proc, plan = choose(tmp_path, "thanos", "observability")
    assert proc.returncode == 2
    assert "observability_metrics_stack" in proc.stdout and "prometheus, victoriametrics" in proc.stdout
    assert plan is None
