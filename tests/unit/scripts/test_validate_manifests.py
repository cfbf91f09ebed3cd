import importlib.util
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
spec = importlib.util.spec_from_file_location("validate_manifests", os.path.join(ROOT, "scripts", "validate_manifests.py"))
vm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(vm)

GOOD = """
apiVersion: v1
kind: Namespace
metadata:
  name: tenant-a
  labels:
    pod-security.kubernetes.io/enforce: baseline
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: tenant-a}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: registry.lab:5000/web:1.0
          resources: {limits: {cpu: 500m, memory: 128Mi}}
"""


def write(tmp_path, rel, text):
    path = tmp_path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_valid_manifests_pass(tmp_path):
    write(tmp_path, "layer/app.yaml", GOOD)
    counts, problems = vm.validate_tree(str(tmp_path), "1.31")
    assert problems == []
    assert counts["objects"] == 2


@pytest.mark.parametrize("doc,message", [
    # misspelled field: strict validation rejects unknown properties
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndta: {a: b}\n", "'dta' was unexpected"),
    # wrong type
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: 1}\n", "1 is not of type 'string'"),
    # API removed in Kubernetes 1.25
    ("apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata: {name: p}\nspec: {}\n",
     "no schema for policy/v1beta1 PodSecurityPolicy in Kubernetes 1.31"),
    # custom resource without a schema of ours
    ("apiVersion: example.io/v1\nkind: Widget\nmetadata: {name: w}\n", "no schema for example.io/v1 Widget"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "ConfigMap has no metadata.name"),
    ("kind: ConfigMap\nmetadata: {name: c}\n", "missing apiVersion"),
    ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {template: {}}\n", "'selector' is a required property"),
])
def test_broken_manifests_are_rejected(tmp_path, doc, message):
    write(tmp_path, "layer/ok.yaml", GOOD)
    write(tmp_path, "layer/broken.yaml", doc)
    _counts, problems = vm.validate_tree(str(tmp_path), "1.31")
    assert len(problems) == 1, problems
    assert problems[0].startswith("layer/broken.yaml#0")
    assert message in problems[0]


def test_invalid_yaml_is_reported(tmp_path):
    write(tmp_path, "x/bad.yaml", "a: [unclosed\n")
    _counts, problems = vm.validate_tree(str(tmp_path), "1.31")
    assert problems and "not valid YAML" in problems[0]


def test_version_matters(tmp_path):
    # batch/v1 CronJob exists from 1.21; autoscaling/v2beta2 HPA was removed in 1.26
    doc = ("apiVersion: autoscaling/v2beta2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\n"
           "spec: {scaleTargetRef: {kind: Deployment, name: d}, maxReplicas: 2}\n")
    write(tmp_path, "x/hpa.yaml", doc)
    assert vm.validate_tree(str(tmp_path), "1.25")[1] == []
    assert "no schema for autoscaling/v2beta2" in vm.validate_tree(str(tmp_path), "1.31")[1][0]


def test_custom_resources_use_our_schemas(tmp_path):
    schemas = tmp_path / "schemas"
    schema = {"type": "object", "required": ["spec"],
              "properties": {"spec": {"type": "object", "required": ["size"],
                                      "properties": {"size": {"type": "integer"}}, "additionalProperties": False}}}
    write(schemas, "crds/example.io_v1/Widget.json", json.dumps(schema))
    out = tmp_path / "out"
    write(out, "x/good.yaml", "apiVersion: example.io/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3}\n")
    write(out, "x/bad.yaml", "apiVersion: example.io/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: big}\n")
    _counts, problems = vm.validate_tree(str(out), "1.31", str(schemas))
    assert len(problems) == 1 and problems[0].startswith("x/bad.yaml#0 w: Widget: 'big' is not of type 'integer'")


def test_helm_values_must_be_mappings(tmp_path):
    # what the chart makes of them is checked by rendering the real chart (scripts/render_charts.py)
    write(tmp_path, "cni/values/cilium.yaml", "encryption: {enabled: true, type: wireguard}\n")
    assert vm.validate_tree(str(tmp_path), "1.31")[1] == []
    write(tmp_path, "cni/values/cilium.yaml", "- a list\n")
    assert vm.validate_tree(str(tmp_path), "1.31")[1] == ["cni/values/cilium.yaml: Helm values must be a mapping, got list"]


WIDGET_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.io}
spec:
  group: example.io
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            apiVersion: {type: string}
            kind: {type: string}
            metadata: {type: object}
            spec:
              type: object
              required: [size]
              properties:
                size: {type: integer, minimum: 1}
                port: {x-kubernetes-int-or-string: true, anyOf: [{type: integer}, {type: string}]}
                note: {type: string, nullable: true}
                extra: {type: object, x-kubernetes-preserve-unknown-fields: true}
                labels: {type: object, additionalProperties: {type: string}}
                mode: {type: string, enum: [a, b]}
    - name: v1alpha1
      served: false
      storage: false
      schema:
        openAPIV3Schema: {type: object}
"""


@pytest.mark.parametrize("spec,message", [
    ("{size: 3, port: 8080, note: null, extra: {any: {thing: 1}}, labels: {a: b}, mode: a}", None),
    ("{size: 3, port: http}", None),
    ("{size: 0}", "0 is less than the minimum of 1 (at spec/size)"),
    ("{size: big}", "'big' is not of type 'integer' (at spec/size)"),
    ("{size: 1, colour: red}", "Additional properties are not allowed ('colour' was unexpected) (at spec)"),
    ("{size: 1, mode: c}", "'c' is not one of ['a', 'b'] (at spec/mode)"),
    ("{size: 1, labels: {a: 1}}", "1 is not of type 'string' (at spec/labels/a)"),
    ("{}", "'size' is a required property (at spec)"),
])
def test_custom_resources_are_validated_against_the_crds_in_the_tree(tmp_path, spec, message):
    write(tmp_path, "layer/helm/widgets/crds/widgets.yaml", WIDGET_CRD)
    write(tmp_path, "layer/widget.yaml", "apiVersion: example.io/v1\nkind: Widget\nmetadata: {name: w}\nspec: %s\n" % spec)
    counts, problems = vm.validate_tree(str(tmp_path), "1.31")
    assert counts["custom_resources"] == 1 and counts["crds"] == 1
    if message is None:
        assert problems == []
    else:
        assert problems == ["layer/widget.yaml#0 w: Widget: " + message]


def test_unknown_top_level_fields_and_unserved_versions_of_custom_resources(tmp_path):
    write(tmp_path, "layer/helm/widgets/crds/widgets.yaml", WIDGET_CRD)
    write(tmp_path, "layer/a.yaml", "apiVersion: example.io/v1\nkind: Widget\nmetadata: {name: a}\nspec: {size: 1}\n"
                                    "sepc: {}\n")
    write(tmp_path, "layer/b.yaml", "apiVersion: example.io/v1alpha1\nkind: Widget\nmetadata: {name: b}\n")
    write(tmp_path, "layer/c.yaml", "apiVersion: example.io/v2\nkind: Widget\nmetadata: {name: c}\n")
    problems = vm.validate_tree(str(tmp_path), "1.31")[1]
    assert problems[0] == "layer/a.yaml#0 a: Widget: Additional properties are not allowed ('sepc' was unexpected) (at top)"
    assert problems[1] == ("layer/b.yaml#0 b: example.io/v1alpha1 Widget is not served by its CRD "
                           "(layer/helm/widgets/crds/widgets.yaml)")
    assert problems[2].startswith("layer/c.yaml#0 c: no schema for example.io/v2 Widget in Kubernetes 1.31, in the CRDs")
    assert len(problems) == 3


def test_nulls_are_fields_not_set(tmp_path):
    # what the API server does with `targetPort: null` (a chart rendering an unset value)
    write(tmp_path, "layer/svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"
                                      "spec: {ports: [{port: 80, targetPort: null}]}\n")
    assert vm.validate_tree(str(tmp_path), "1.31")[1] == []


def test_a_plain_equals_sign_is_a_string(tmp_path):
    # PyYAML would read `=` as YAML 1.1's "value" type; the Prometheus operator's CRDs use it as an enum value
    write(tmp_path, "layer/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {op: =}\n")
    assert vm.validate_tree(str(tmp_path), "1.31")[1] == []


def test_list_kinds_are_expanded(tmp_path):
    write(tmp_path, "x/list.yaml", "apiVersion: v1\nkind: List\nitems:\n"
          "  - {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"
          "  - {apiVersion: v1, kind: ConfigMap, metadata: {name: b}, bogus: 1}\n")
    counts, problems = vm.validate_tree(str(tmp_path), "1.31")
    assert counts["objects"] == 2 and len(problems) == 1 and "x/list.yaml#0 b" in problems[0]


@pytest.mark.parametrize("given,minor", [("v1.31.4+k3s1", "1.31"), ("1.30.2", "1.30"), ("1.29", "1.29")])
def test_minor_version(given, minor):
    assert vm.minor_version(given) == minor


def test_minor_version_rejects_garbage():
    with pytest.raises(ValueError, match="cannot read a Kubernetes version"):
        vm.minor_version("latest")


def test_main_exit_codes_and_version_from_render_meta(tmp_path, capsys):
    write(tmp_path, "_render.json", json.dumps({"kubernetes_version": "v1.31.4+k3s1"}))
    write(tmp_path, "x/a.yaml", GOOD)
    assert vm.main([str(tmp_path)]) == 0
    assert ("validated 2 objects (0 custom resources against 0 CRDs the charts ship), 0 patches, 0 Helm values files and "
            "0 node files (0 configuration documents) (1 files) against Kubernetes 1.31: 0 invalid") in capsys.readouterr().out
    write(tmp_path, "x/b.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndta: {}\n")
    assert vm.main([str(tmp_path)]) == 1
    assert "INVALID x/b.yaml#0 c:" in capsys.readouterr().out


def test_patches_are_checked_for_their_target_only(tmp_path):
    patch = ("apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: cilium, namespace: kube-system}\n"
             "spec: {template: {metadata: {annotations: {a: b}}}}\n")
    write(tmp_path, "cni/patches/restart.yaml", patch)
    counts, problems = vm.validate_tree(str(tmp_path), "1.31")
    assert problems == [] and counts["patches"] == 1 and counts["objects"] == 0
    write(tmp_path, "cni/patches/bad.yaml", patch.replace("apps/v1", "extensions/v1beta1"))
    write(tmp_path, "cni/patches/noname.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")
    problems = vm.validate_tree(str(tmp_path), "1.31")[1]
    assert problems == ["cni/patches/bad.yaml#0: patch targets extensions/v1beta1 DaemonSet, which Kubernetes 1.31 does not have",
                        "cni/patches/noname.yaml#0: ConfigMap patch has no metadata.name"]


def test_node_files_must_be_mappings_but_are_not_kubernetes_objects(tmp_path):
    write(tmp_path, "k3s/nodes/m1/config.yaml", "cluster-init: true\nnode-ip: 10.0.0.11\n")
    counts, problems = vm.validate_tree(str(tmp_path), "1.31")
    assert problems == [] and counts["node_files"] == 1 and counts["objects"] == 0
    write(tmp_path, "k3s/nodes/m2/config.yaml", "- a list\n")
    assert vm.validate_tree(str(tmp_path), "1.31")[1] == [
        "k3s/nodes/m2/config.yaml: a node file must hold one YAML mapping, or configuration documents that each have "
        "apiVersion and kind"]


KUBEADM = """
apiVersion: kubeadm.k8s.io/%(v)s
kind: ClusterConfiguration
kubernetesVersion: v1.31.4
controlPlaneEndpoint: 10.0.0.10:8443
apiServer:
  extraArgs: %(args)s
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
"""


def test_kubeadm_documents_in_node_files_are_validated_per_api_version(tmp_path):
    write(tmp_path, "kubeadm/nodes/m1/kubeadm-config.yaml",
          KUBEADM % {"v": "v1beta4", "args": "[{name: encryption-provider-config, value: /etc/kubernetes/enc/e.yaml}]"})
    write(tmp_path, "kubeadm/nodes/m2/kubeadm-config.yaml",
          KUBEADM % {"v": "v1beta3", "args": "{encryption-provider-config: /etc/kubernetes/enc/e.yaml}"})
    counts, problems = vm.validate_tree(str(tmp_path), "1.31")
    assert problems == [] and counts["config_docs"] == 4 and counts["objects"] == 0
    # v1beta4 wants a list of name/value pairs where v1beta3 took a map
    write(tmp_path, "kubeadm/nodes/m2/kubeadm-config.yaml",
          KUBEADM % {"v": "v1beta4", "args": "{encryption-provider-config: /etc/kubernetes/enc/e.yaml}"})
    problems = vm.validate_tree(str(tmp_path), "1.31")[1]
    assert len(problems) == 1 and problems[0].startswith("kubeadm/nodes/m2/kubeadm-config.yaml#0: ClusterConfiguration: ")
    assert problems[0].endswith("is not of type 'array' (at apiServer/extraArgs)")


def test_misspelled_config_fields_and_unknown_config_kinds_are_errors(tmp_path):
    write(tmp_path, "kubeadm/nodes/m1/kubeadm-config.yaml",
          "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupsDriver: systemd\n---\n"
          "apiVersion: kubeadm.k8s.io/v1beta2\nkind: InitConfiguration\n")
    problems = vm.validate_tree(str(tmp_path), "1.31")[1]
    assert problems == [
        "kubeadm/nodes/m1/kubeadm-config.yaml#0: KubeletConfiguration: Additional properties are not allowed "
        "('cgroupsDriver' was unexpected) (at top)",
        "kubeadm/nodes/m1/kubeadm-config.yaml#1: no schema for kubeadm.k8s.io/v1beta2 InitConfiguration in "
        "schemas/config/: a misspelled or unsupported apiVersion"]


def test_encryption_configuration_needs_keys(tmp_path):
    write(tmp_path, "kubeadm/nodes/_control_plane/encryption-config.yaml",
          "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
          "- resources: [secrets]\n  providers:\n  - aescbc: {keys: []}\n  - identity: {}\n")
    problems = vm.validate_tree(str(tmp_path), "1.31")[1]
    # jsonschema words minItems differently across releases ("is too short", "should be non-empty")
    assert len(problems) == 1
    assert problems[0].startswith("kubeadm/nodes/_control_plane/encryption-config.yaml#0: EncryptionConfiguration: [] ")
    assert problems[0].endswith(" (at resources/0/providers/0/aescbc/keys)")
