"""scripts/render_charts.py and scripts/chart_values.py on a small chart built here (a subchart under an alias, a
values.schema.json, free-form maps passed through range/toYaml/index, a values.yaml string that a template tpl's),
rendered with the real Helm engine (helm-python-sdk)."""

import importlib.util
import io
import json
import os
import sys
import tarfile

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
spec = importlib.util.spec_from_file_location("render_charts", os.path.join(ROOT, "scripts", "render_charts.py"))
rc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rc)
import chart_values as cv  # noqa: E402

FILES = {
    "demo/Chart.yaml": """
apiVersion: v2
name: demo
version: 1.2.3
dependencies:
  - {name: sub, version: 0.1.0, alias: side}
""",
    "demo/values.yaml": """
replicas: 1
service: {port: 80}
config: {a: "1"}
nodeSelector: {}
odd-key: {}
cfg: |
  {{- with .Values.limits }}
  limits: {{ toYaml . | nindent 2 }}
  {{- end }}
side: {size: 2}
server: {service: {port: 8080}, labels: {}, extra: {}}
probe: {http: {}}
""",
    "demo/values.schema.json": json.dumps({
        "type": "object",
        "properties": {"replicas": {"type": "integer"},
                       "extra": {"type": "object", "additionalProperties": {"type": "string"}}}}),
    "demo/templates/cm.yaml": """
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-demo
  namespace: {{ .Release.Namespace }}
data:
  port: {{ .Values.service.port | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  {{- range $key, $value := .Values.config }}
  {{ $key }}: {{ $value | quote }}
  {{- end }}
  selector: {{ toYaml .Values.nodeSelector | quote }}
  odd: {{ index .Values "odd-key" "inner" | default "" | quote }}
  cfg: {{ tpl .Values.cfg . | quote }}
""",
    "demo/templates/pdb.yaml": """
{{- if .Capabilities.APIVersions.Has "policy/v1/PodDisruptionBudget" }}
apiVersion: policy/v1
{{- else }}
apiVersion: policy/v1beta1
{{- end }}
kind: PodDisruptionBudget
metadata: {name: demo}
spec: {minAvailable: 1, selector: {matchLabels: {app: demo}}}
""",
    "demo/templates/scoped.yaml": """
{{- $probe := .Values.probe }}
{{- with .Values.server }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: scoped
  labels: {{ include "demo.labels" (dict "component" .labels "root" $) | nindent 4 }}
data:
  port: {{ .service.port | quote }}
  path: {{ $probe.http.path | quote }}
  annotations: {{ include "demo.annotations" $.Values.server.extra | quote }}
{{- end }}
""",
    "demo/templates/_helpers.tpl": """
{{- define "demo.labels" -}}
app: {{ .component.app | default "demo" }}
{{- end }}
{{- define "demo.annotations" -}}
{{ .note | default "" }}
{{- end }}
""",
    "demo/templates/NOTES.txt": "thanks",
    "demo/crds/widgets.yaml": """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.io}
spec:
  group: example.io
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
""",
    "demo/charts/sub/Chart.yaml": "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
    "demo/charts/sub/values.yaml": "size: 1\ndeep: {}\n",
    "demo/charts/sub/templates/cm.yaml": """
apiVersion: v1
kind: ConfigMap
metadata: {name: sub}
data:
  size: {{ .Values.size | quote }}
  deep: {{ .Values.deep.x | default "" | quote }}
""",
}


def archive(directory, files=None, name="demo-1.2.3.tgz"):
    path = directory / name
    with tarfile.open(path, "w:gz") as tar:
        for member, text in (files or FILES).items():
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def source(tmp_path):
    return cv.chart_sources(tarfile.open(archive(tmp_path)))


@pytest.mark.parametrize("path", [
    "replicas",              # in values.yaml
    "service.port",          # in values.yaml and read
    "config.anything",       # a free-form map: range over .Values.config
    "nodeSelector.disk",     # a free-form map: toYaml .Values.nodeSelector
    "odd-key.inner",         # index .Values "odd-key" "inner" (odd-key is an empty map in values.yaml)
    "limits.retention",      # read by a values.yaml string the chart tpl's
    "extra.anything",        # values.schema.json allows any key under extra
    "side.size",             # the subchart's values.yaml, under its alias
    "side.deep.x",           # read by the subchart's template
    "server.service.port",   # in values.yaml
    "server.labels.app",     # .component.app in a named template given (dict "component" .labels) in a with-block
    "server.extra.note",     # .note in a named template given $.Values.server.extra
    "probe.http.path",       # $probe.http.path, $probe bound to .Values.probe
])
def test_paths_the_chart_reads(source, path):
    assert cv.path_is_read(source, tuple(path.split(".")))


@pytest.mark.parametrize("path", ["service.prot", "bogus", "side.nope", "sub.size", "replicas.x",
                                  "server.service.prot",  # a typo below a with-block: the block is no free-form map
                                  "server.labels.ap", "server.extra.notes", "probe.http.paths"])
def test_paths_the_chart_does_not_read(source, path):
    assert not cv.path_is_read(source, tuple(path.split(".")))


def test_unread_paths_name_the_path_and_the_chart(source):
    values = {"replicas": 2, "service": {"port": 81, "prot": "TCP"}, "config": {"b": "2"}, "side": {"nope": [1, 2]}}
    assert cv.count_paths(values) == 5
    problems = cv.unread_paths(values, source)
    assert len(problems) == 2
    assert problems[0].startswith("value service.prot is not read by chart demo: not in its values.yaml")
    assert problems[1].startswith("value side.nope is not read by chart demo")


def render_dir(tmp_path, values, version="1.2.3", kube="v1.31.4+k3s1"):
    out = tmp_path / "render"
    (out / "layer" / "values").mkdir(parents=True)
    (out / "_render.json").write_text(json.dumps({"kubernetes_version": kube}))
    (out / "layer" / "values" / "demo.yaml").write_text(yaml.safe_dump(values))
    (out / "layer" / "values" / "demo.release.json").write_text(json.dumps(
        {"chart": "demo", "version": version, "release": "rel", "namespace": "ns1"}))
    return out


def test_render_tree_renders_with_the_release_name_namespace_and_cluster_version(tmp_path):
    charts = tmp_path / "charts"
    charts.mkdir()
    archive(charts)
    out = render_dir(tmp_path, {"config": {"b": "2"}, "limits": {"retention": "7d"}})
    results, problems = rc.render_tree(str(out), str(charts))
    assert problems == []
    (result,) = results
    kinds = sorted((obj["kind"], obj["metadata"]["name"]) for _t, obj in result.objects)
    assert kinds == [("ConfigMap", "rel-demo"), ("ConfigMap", "scoped"), ("ConfigMap", "sub"),
                     ("CustomResourceDefinition", "widgets.example.io"), ("PodDisruptionBudget", "demo")]
    cm = yaml.safe_load((out / "layer/helm/rel/demo/templates/cm.yaml").read_text())
    assert cm["metadata"]["namespace"] == "ns1" and cm["data"]["b"] == "2" and cm["data"]["kube"] == "v1.31.4+k3s1"
    assert "retention: 7d" in cm["data"]["cfg"]
    pdb = yaml.safe_load((out / "layer/helm/rel/demo/templates/pdb.yaml").read_text())
    assert pdb["apiVersion"] == "policy/v1"  # the cluster's APIs, as on a real install
    assert (out / "layer/helm/rel/crds/widgets.yaml").exists()
    assert not list(out.rglob("NOTES.txt"))


def test_values_the_chart_does_not_read_are_problems(tmp_path):
    charts = tmp_path / "charts"
    charts.mkdir()
    archive(charts)
    out = render_dir(tmp_path, {"service": {"prot": "TCP"}})
    _results, problems = rc.render_tree(str(out), str(charts))
    assert problems == ["demo 1.2.3 (release rel in ns1, role layer): value service.prot is not read by chart demo: not "
                        "in its values.yaml (nor a subchart's), no template reads .Values.service.prot or passes a parent "
                        "on whole, and values.schema.json does not allow it"]


def test_the_chart_schema_is_enforced_by_helm(tmp_path):
    charts = tmp_path / "charts"
    charts.mkdir()
    archive(charts)
    _results, problems = rc.render_tree(str(render_dir(tmp_path, {"replicas": "three"})), str(charts))
    assert len(problems) == 1 and problems[0].startswith("demo 1.2.3 (release rel in ns1, role layer): HelmValuesError")
    assert "replicas" in problems[0]


def test_a_missing_archive_names_chart_and_version(tmp_path, monkeypatch):
    charts = tmp_path / "charts"
    charts.mkdir()
    archive(charts)
    out = render_dir(tmp_path, {}, version="1.2.4")
    _results, problems = rc.render_tree(str(out), str(charts))
    assert problems == ["chart demo version 1.2.4: no archive %s/demo-1.2.4.tgz (versions here: 1.2.3); put the chart "
                        "archive there or point AIINFRA_CHARTS_DIR at a directory that has it" % charts]
    # the one variable that points the harness elsewhere
    other = tmp_path / "other"
    other.mkdir()
    archive(other, {**FILES, "demo/Chart.yaml": FILES["demo/Chart.yaml"].replace("1.2.3", "1.2.4")}, "demo-1.2.4.tgz")
    monkeypatch.setenv("AIINFRA_CHARTS_DIR", str(other))
    results, problems = rc.render_tree(str(out))
    assert problems == [] and len(results) == 1


def test_an_archive_holding_another_version_is_refused(tmp_path):
    charts = tmp_path / "charts"
    charts.mkdir()
    archive(charts, name="demo-1.2.4.tgz")
    _results, problems = rc.render_tree(str(render_dir(tmp_path, {}, version="1.2.4")), str(charts))
    assert problems == ["chart demo version 1.2.4: %s/demo-1.2.4.tgz holds chart demo version 1.2.3" % charts]


def test_a_failing_template_names_the_release(tmp_path):
    charts = tmp_path / "charts"
    charts.mkdir()
    archive(charts, {**FILES, "demo/templates/req.yaml": "{{ required \"set replicas2\" .Values.replicas2 }}"})
    _results, problems = rc.render_tree(str(render_dir(tmp_path, {})), str(charts))
    assert len(problems) == 1 and problems[0].startswith("demo 1.2.3 (release rel in ns1, role layer): HelmRenderError")
    assert "set replicas2" in problems[0]


def test_api_versions_follow_the_kubernetes_version():
    v125, v131 = rc.api_versions("1.25.3"), rc.api_versions("v1.31.4+k3s1")
    assert "autoscaling/v2beta2/HorizontalPodAutoscaler" in v125 and "autoscaling/v2beta2" not in v131
    assert {"v1", "v1/Service", "apps/v1/Deployment", "policy/v1/PodDisruptionBudget"} <= set(v131)
    with pytest.raises(rc.ChartError, match="Kubernetes 1.12: kubernetes-validate has no schemas for it"):
        rc.api_versions("1.12")


def test_main_reports_counts(tmp_path, capsys):
    charts = tmp_path / "charts"
    charts.mkdir()
    archive(charts)
    out = render_dir(tmp_path, {"replicas": 2, "config": {"b": "2"}})
    assert rc.main([str(out), "--charts-dir", str(charts)]) == 0
    assert "rendered 1 Helm releases from %s (5 objects); 2 value paths checked: 0 problems" % charts in \
        capsys.readouterr().out
