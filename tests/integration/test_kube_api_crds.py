"""The real charts' CRDs on a real API server (kube-apiserver v1.20.2): the CRDs of the Kyverno, Argo CD, MetalLB and
cert-manager charts the lab installs (../shared/charts/*.tgz rendered with the Helm engine by scripts/render_charts.py
from the lab's values) are created as Helm creates them, and the lab's rendered custom resources (security_baseline's
ClusterPolicies and PolicyException, argocd's AppProjects and root Application, network's IPAddressPool,
L2Advertisement and cert-manager issuers) are applied the way the roles apply them (kubernetes.core.k8s,
apply: true) and accepted by the real CRD schemas: nothing is refused, nothing is pruned (a field the schema does
not declare would be dropped silently by a structural schema), a second apply changes nothing.

What v1.20 cannot take is listed with the reason and counted: CRDs using x-kubernetes-validations (CEL, Kubernetes
1.25+), CRD versions the server does not serve, custom resources whose group/version is then not served."""

import json
import os
import re
import sys
import time

import pytest
import yaml

import kube_api
from ansible_env import ansible_playbook, needs_collection, yaml_docs

pytestmark = needs_collection

sys.path.insert(0, os.path.join(kube_api.ROOT, "scripts"))
import render_charts  # noqa: E402  (scripts/render_charts.py)

ROLES = kube_api.LAB_RENDER_ROLES
CHARTS = ("kyverno", "argo-cd", "metallb", "cert-manager")
# The rendered files holding the custom resources, and the namespaces they need first (applied as the roles do).
CR_FILES = {"security_baseline": ["kyverno-policies.yaml"], "argocd": ["projects.yaml", "root-app.yaml"],
            "network": ["metallb-pools.yaml", "ca-issuers.yaml"]}
NAMESPACE_FILES = {"security_baseline": ["namespaces.yaml"], "argocd": ["namespace.yaml"],
                   "network": ["namespaces.yaml"]}


@pytest.fixture(scope="module")
def api():
    yield from kube_api.running_plane(2, "aiinfra-kapi-crds-")


@pytest.fixture(scope="module")
def rendered():
    render = kube_api.lab_render()
    with open(os.path.join(str(render.out), "_render.json")) as f:
        kube_version = json.load(f)["kubernetes_version"]
    crds = []
    releases = {r.chart: r for r in render_charts.find_releases(str(render.out))}
    for chart in CHARTS:
        assert chart in releases, "the lab render records no %s release (have %s)" % (chart, sorted(releases))
        result = render_charts.render_release(releases[chart], kube_version=kube_version)
        found = [obj for _template, obj in result.objects if obj.get("kind") == "CustomResourceDefinition"]
        assert found, "chart %s rendered no CRDs with the lab's values" % chart
        crds += [(chart, obj) for obj in found]
    return render, crds


def play(api, name, tasks, check=False):
    pb = os.path.join(api.work, name + ".yml")
    with open(pb, "w") as f:
        yaml.safe_dump([{"name": name, "hosts": "localhost", "connection": "local", "gather_facts": False,
                         "tasks": tasks}], f, sort_keys=False)
    return ansible_playbook("-i", "localhost,", pb, "-e", "@" + os.path.join(api.work, "vars.json"),
                            *(["--check", "--diff"] if check else []))


def write_vars(api, **values):
    path = os.path.join(api.work, "vars.json")
    with open(path, "w") as f:
        json.dump({"ansible_python_interpreter": sys.executable}, f)


def manifest_file(api, name, objects):
    """Write `objects` as one multi-document file for the module's `src` (never templated: the Kyverno policies
    and Argo CD objects carry {{ ... }} of their own)."""
    path = os.path.join(api.work, name + ".yaml")
    with open(path, "w") as f:
        yaml.safe_dump_all(objects, f, sort_keys=False)
    return path


def recap(proc):
    match = re.search(r"localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", proc.stdout)
    assert match, proc.stdout[-3000:] + proc.stderr[-2000:]
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups())))


def established(api, name, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, body = api.request("GET", kube_api.crd_path(name))
        conditions = {c["type"]: c["status"] for c in (body.get("status") or {}).get("conditions", [])} \
            if status == 200 else {}
        if conditions.get("Established") == "True":
            return True
        time.sleep(0.5)
    return False


def pruned(sent, stored, path=""):
    """Paths present in what was sent but missing or different in what the server stored."""
    out = []
    if isinstance(sent, dict):
        if not isinstance(stored, dict):
            return [path or "."]
        for key, value in sent.items():
            out += pruned(value, stored.get(key, "<missing>"), "%s.%s" % (path, key)) if key in stored else [
                "%s.%s" % (path, key)]
    elif isinstance(sent, list):
        if not isinstance(stored, list) or len(sent) != len(stored):
            return [path]
        for i, (a, b) in enumerate(zip(sent, stored)):
            out += pruned(a, b, "%s[%d]" % (path, i))
    elif sent != stored and str(sent) != str(stored):
        out.append(path)
    return out


def test_chart_crds_are_created_and_the_labs_custom_resources_accepted(api, rendered):
    render, crds = rendered
    refused, accepted = [], []
    # Helm creates CRDs (no last-applied annotation: the large Argo CD CRDs would not fit one); one task per chart
    write_vars(api)
    tasks = [{"name": "Create the %s chart's CRDs" % chart, "kubernetes.core.k8s": {
        "kubeconfig": api.kubeconfig(),
        "src": manifest_file(api, "crds-" + chart, [obj for c, obj in crds if c == chart])},
        "ignore_errors": True} for chart in CHARTS]
    proc = play(api, "chart-crds", tasks)
    for chart, obj in crds:
        name = obj["metadata"]["name"]
        status, body = api.request("GET", kube_api.crd_path(name))
        if status != 200:
            refused.append((chart, obj, "refused by the v1.20 API server%s" % (
                " (x-kubernetes-validations: CEL rules are Kubernetes 1.25+)" if kube_api.uses_cel(obj) else "")))
            continue
        if kube_api.uses_cel(obj):
            kept = kube_api.uses_cel(body["spec"])
            refused.append((chart, obj, "accepted, but v1.20 %s its x-kubernetes-validations (CEL rules are "
                                        "Kubernetes 1.25+): those checks are not enforced here" % (
                                            "keeps (unenforced)" if kept else "drops")))
        assert established(api, name), "CRD %s (chart %s) never became Established: %s" % (
            name, chart, body.get("status"))
        accepted.append((chart, obj))
    print("\nchart CRDs: %d rendered, %d created; listed for v1.20:" % (len(crds), len(accepted)))
    for chart, obj, reason in refused:
        print("  CRD %s (%s chart): %s" % (obj["metadata"]["name"], chart, reason))
    hard_refused = [(c, o["metadata"]["name"]) for c, o, r in refused if r.startswith("refused")]
    assert len(accepted) + len(hard_refused) == len(crds), proc.stdout[-4000:]

    # the lab's custom resources, as the roles apply them (namespaces first)
    served = api.served()
    namespaces, custom, not_served = [], [], []
    for role in ROLES:
        for name in NAMESPACE_FILES[role]:
            namespaces += yaml_docs(os.path.join(str(render.out), role, name))
        for name in CR_FILES[role]:
            path = os.path.join(str(render.out), role, name)
            assert os.path.isfile(path), "the lab render has no %s/%s" % (role, name)
            objects = yaml_docs(path)
            missing = kube_api.not_served(objects, served)
            not_served += [(role, o, r) for o, r in missing]
            custom += [(role, o) for o in objects if all(o is not m for m, _reason in missing)]
    print("lab custom resources: %d to apply, %d not served:" % (len(custom), len(not_served)))
    for role, obj, reason in not_served:
        print("  NOT SERVED %s (role %s): %s" % (kube_api.describe(obj), role, reason))
    # the namespaces once (their labels conflict between roles: test_roles_agree_on_namespace_labels)
    proc = play(api, "namespaces", [{"name": "Namespaces", "kubernetes.core.k8s": {
        "kubeconfig": api.kubeconfig(), "src": manifest_file(api, "namespaces", namespaces)}}])
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    apply_tasks = [
        {"name": "Custom resources", "kubernetes.core.k8s": {
            "kubeconfig": api.kubeconfig(), "src": manifest_file(api, "custom", [o for _r, o in custom]),
            "apply": True}}]
    proc = play(api, "custom-resources", apply_tasks)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]

    problems = []
    for role, obj in custom:
        gv, kind = obj["apiVersion"], obj["kind"]
        group, version = gv.split("/")
        crd = next(o for _c, o in crds if o["spec"]["group"] == group and o["spec"]["names"]["kind"] == kind)
        plural, scope = crd["spec"]["names"]["plural"], crd["spec"]["scope"]
        ns = obj["metadata"].get("namespace")
        path = "/apis/%s%s/%s/%s" % (gv, "/namespaces/" + ns if scope == "Namespaced" and ns else "", plural,
                                     obj["metadata"]["name"])
        status, body = api.request("GET", path)
        if status != 200:
            problems.append("%s (role %s): not stored (%s)" % (kube_api.describe(obj), role, status))
            continue
        lost = pruned(obj.get("spec", {}), body.get("spec", {}), "spec")
        if lost:
            problems.append("%s (role %s): the CRD schema pruned or changed %s" % (
                kube_api.describe(obj), role, ", ".join(lost)))
    assert problems == [], "\n".join(problems)
    print("applied %d custom resources (%s); CRDs listed: %d; custom resources not served: %d" % (
        len(custom), ", ".join("%s %d" % (r, sum(1 for x, _obj in custom if x == r)) for r in ROLES), len(refused),
        len(not_served)))

    proc = play(api, "custom-resources-again", apply_tasks)
    assert proc.returncode == 0 and recap(proc)["changed"] == 0, proc.stdout[-6000:]
    proc = play(api, "custom-resources-check", apply_tasks, check=True)
    assert proc.returncode == 0 and recap(proc)["changed"] == 0, proc.stdout[-6000:]


def test_a_custom_resource_the_schema_refuses_is_refused(api, rendered):
    """The CRDs really validate: an IPAddressPool whose addresses is not a list is refused with a schema error."""
    render, _crds = rendered
    pool = next(o for o in yaml_docs(os.path.join(str(render.out), "network", "metallb-pools.yaml"))
                if o["kind"] == "IPAddressPool")
    bad = dict(pool, metadata=dict(pool["metadata"], name="not-a-list"), spec=dict(pool["spec"], addresses="x"))
    status, body = api.request("POST", "/apis/%s/namespaces/%s/ipaddresspools" % (
        pool["apiVersion"], pool["metadata"]["namespace"]), bad)
    assert status == 422 and "addresses" in body.get("message", ""), body


def test_roles_agree_on_namespace_labels(api, rendered):
    """Each role's namespace file applied as the role applies it (merge), in role order, twice: the second round
    must change nothing. A label two roles set to different values makes them fight on every run."""
    render, _crds = rendered
    conflicts, first = [], {}
    tasks = []
    for role in ROLES:
        for name in NAMESPACE_FILES[role]:
            docs = yaml_docs(os.path.join(str(render.out), role, name))
            for doc in docs:
                for key, value in (doc["metadata"].get("labels") or {}).items():
                    other = first.setdefault((doc["metadata"]["name"], key), (role, value))
                    if other[1] != value:
                        conflicts.append("namespace %s label %s: %s sets %s, %s sets %s" % (
                            doc["metadata"]["name"], key, other[0], other[1], role, value))
            tasks.append({"name": "Namespaces of %s" % role, "kubernetes.core.k8s": {
                "kubeconfig": api.kubeconfig(), "src": manifest_file(api, "ns-" + role, docs)}})
    print("\nnamespace label conflicts between roles: %s" % ("; ".join(conflicts) or "none"))
    write_vars(api)
    proc = play(api, "namespaces-by-role", tasks)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    proc = play(api, "namespaces-by-role-again", tasks)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert recap(proc)["changed"] == 0 and conflicts == [], "%s\n%s" % ("\n".join(conflicts), proc.stdout[-3000:])
