"""The cluster layer applied by the roles' own tasks: playbooks/site.yml itself (its preflight, the layer sorting, every
cluster layer's play on the controller with module_defaults giving the kubeconfig, the report) against a real API
server (kube-apiserver v1.20.2 on real etcd, TLS, RBAC; tests/integration/kube_api.py).

The inventory is the lab's (inventories/lab: hosts.yml and group_vars, copied to a scratch directory) with what a
cluster that already exists needs: k8s_kubeconfig (the harness's admin kubeconfig), k8s_control_plane_enabled false,
k8s_cni none, every host reached as local, and m1 (the host the cluster layers' plays target) on the controller's
loopback address with the VIP beside it so the preflight's host stage checks this machine; the Network Operator layer
(off in the lab) is turned on with g1 as its RDMA node. The run is limited to m1
and to the cluster layers' tags; `--skip-tags helm,workload` leaves out what v1.20 without kubelets cannot give: the
Helm installs (no chart images, no running pods) and every task that needs running pods or in-cluster services
(rollout waits, validation and smoke pods, REST calls to Harbor, Gitea and Jenkins).

Before the roles run, the CRDs of the real charts the roles install (../shared/charts; playbooks/render.yml on the same
inventory, then scripts/render_charts.py) are created as Helm creates them, so the custom resources the roles write (Kyverno
ClusterPolicies, AppProjects, IPAddressPools, PrometheusRules, ...) meet the real schemas; the Node objects the
kubelets would register are created so node labels can be patched; the Gitea tokens the CI layer's REST steps would
have written are stand-ins on the controller.

The API server's audit log records every write; each is attributed to the task (and role) that was running. So the
tier proves: the first run succeeds and every object it wrote exists (counted per role); a second run reports
changed=0 and sends no write at all; `--check --diff` after the converge reports changed=0 and sends no write; a
changed tenant quota shows its old and new value in check mode's diff, writes nothing there, and converges by
patching exactly that quota. What v1.20 cannot serve is listed by kind and version with the reason, never dropped.
"""

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest
import yaml

import kube_api
from ansible_env import BIN, ENV as ANSIBLE_ENV, ansible_playbook, needs_collection, yaml_docs

pytestmark = needs_collection

sys.path.insert(0, os.path.join(kube_api.ROOT, "scripts"))
import render_charts  # noqa: E402  (scripts/render_charts.py)

# Slots 0-8 belong to the other live modules (and an orphaned control plane held slot 3 while this was written).
SLOT = 9
LAB = os.path.join(kube_api.ROOT, "inventories", "lab")
SITE = os.path.join(kube_api.ROOT, "playbooks", "site.yml")
# The cluster layers the lab turns on, and the Network Operator's (off in the lab; on here, with g1 as the RDMA
# node); each is its play's tag in site.yml, and k8s_layer_roles names their roles.
LAYERS = ("network", "storage", "security", "observability", "registry", "ci", "gitops", "gpu", "network_operator",
          "serving")
# What the API server alone cannot give (README.md, "Tags"): Helm installs, and tasks needing pods or services.
SKIP_TAGS = ("helm", "workload")
# The host the cluster layers' plays target (k8s_control_plane[0]); the run is limited to it.
FIRST = "m1"
ADMIN = "aiinfra-admin"
# The credential files the CI layer's REST steps (tag workload) write and later roles read: stand-ins here.
STAND_IN_CREDENTIALS = ("gitea-token-jenkins", "gitea-token-argocd")
# Rendered files that the roles do not apply to the cluster (repository content, chart values, chart renders).
NOT_APPLIED_DIRS = {"values", "helm"}
NOT_APPLIED = {"ci_pipeline": ("app/", "deploy/", "gitops/", "jenkins/")}


def layer_roles():
    with open(os.path.join(kube_api.ROOT, "roles", "k8s", "defaults", "main.yml")) as f:
        table = yaml.safe_load(f)["k8s_layer_roles"]
    return {layer: table[layer] for layer in LAYERS}


ROLES = [role for roles in layer_roles().values() for role in roles]


class Run:
    """One ansible-playbook run of site.yml: the process, its recap for FIRST, the writes the API server audited
    while it ran (each with the task and role it came from) and its duration."""

    def __init__(self, proc, writes, seconds, changed_objects):
        self.proc, self.writes, self.seconds = proc, writes, seconds
        # objects the run created or changed (stored content; a no-op patch changes none)
        self.changed_objects = changed_objects
        match = re.search(r"^%s\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)" % FIRST,
                          proc.stdout, re.M)
        self.recap = dict(zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups()))) if match \
            else None

    def tail(self, chars=8000):
        return self.proc.stdout[-chars:] + self.proc.stderr[-3000:]

    def real_writes(self):
        """Writes that changed the cluster: not dry runs, accepted (2xx)."""
        return [w for w in self.writes if not w["dry_run"] and w["code"] and 200 <= w["code"] < 300]

    def changed_tasks(self):
        """'TASK [role : name]: changed: [host] ...' for each changed result in the output."""
        out, task = [], None
        for line in self.proc.stdout.splitlines():
            if line.startswith(("TASK [", "RUNNING HANDLER [")):
                task = line.split("[", 1)[1].rsplit("]", 1)[0]
            elif line.startswith("changed: "):
                out.append("%s: %s" % (task, line[:200]))
        return out


class Tier:
    """The live API server, the scratch inventory and the runs made so far."""

    def __init__(self, plane):
        self.plane = plane
        self.inventory = os.path.join(plane.work, "inventory")
        self.runs = []
        self.known = {}           # REST path -> audit objectRef of every object a run has written
        self.crd_notes = []       # (CRD name, chart, what v1.20 did with it)
        self.not_served = []      # (role, file, object, reason)

    # --- the inventory ---
    def write_inventory(self, overrides=None):
        """The lab's hosts and group_vars, and the test's variables in group_vars/k8s_cluster.yml (the cluster's
        group: above the lab's all.yml); `overrides` are more variables there (a changed input)."""
        os.makedirs(self.inventory, exist_ok=True)
        with open(os.path.join(LAB, "hosts.yml")) as f:
            hosts = yaml.safe_load(f)
        hosts["rdma_nodes"] = {"hosts": {"g1": {"rdma_interfaces": ["ens1f0np0"]}}}
        with open(os.path.join(self.inventory, "hosts.yml"), "w") as f:
            f.write("---\n# inventories/lab/hosts.yml, and g1 as the RDMA node of the Network Operator layer.\n")
            yaml.safe_dump(hosts, f, sort_keys=False)
        shutil.copytree(os.path.join(LAB, "group_vars"), os.path.join(self.inventory, "group_vars"),
                        dirs_exist_ok=True)
        os.makedirs(os.path.join(self.inventory, "host_vars"), exist_ok=True)
        with open(os.path.join(self.inventory, "host_vars", FIRST + ".yml"), "w") as f:
            # The preflight's host stage reads this machine's facts for m1: its node address must be one of this
            # machine's (loopback), and the VIP must lie in that address's subnet.
            yaml.safe_dump({"k8s_node_ip": "127.0.0.1"}, f)
        test_vars = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "ansible_become": False,
            "k8s_kubeconfig": self.plane.kubeconfig(),
            "k8s_control_plane_enabled": False,
            "k8s_cni": "none",
            "k8s_api_vip": "127.36.%d.100" % SLOT,
            "k8s_network_operator_enabled": True,
        }
        test_vars.update(overrides or {})
        with open(os.path.join(self.inventory, "group_vars", "k8s_cluster.yml"), "w") as f:
            f.write("---\n# The live API-server tier's variables (tests/integration/test_kube_api_roles.py).\n")
            yaml.safe_dump(test_vars, f, sort_keys=False)
        credentials = os.path.join(self.inventory, "credentials")
        os.makedirs(credentials, mode=0o700, exist_ok=True)
        for name in STAND_IN_CREDENTIALS:
            path = os.path.join(credentials, name)
            if not os.path.exists(path):
                with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                    f.write("live-tier-stand-in-%s\n" % name)

    # --- a run ---
    def site(self, *extra, check=False):
        n = len(self.runs) + 1
        timeline = os.path.join(self.plane.work, "timeline-%d.jsonl" % n)
        env = dict(ANSIBLE_ENV, **kube_api.timeline_env(self.plane.work, timeline))
        args = [os.path.join(BIN, "ansible-playbook"), "-i", os.path.join(self.inventory, "hosts.yml"), SITE,
                "--limit", FIRST, "--tags", ",".join(LAYERS), "--skip-tags", ",".join(SKIP_TAGS), *extra]
        if check:
            args += ["--check", "--diff"]
        before = self.versions()
        start = time.time()
        proc = subprocess.run(args, cwd=kube_api.ROOT, env=env, capture_output=True, text=True, check=False)
        end = time.time()
        tasks = kube_api.read_timeline(timeline) if os.path.exists(timeline) else []
        writes = []
        for write in kube_api.audit_writes(self.plane.audit_log, start, end):
            if write["user"] != ADMIN:
                continue
            task = kube_api.task_of(write, tasks)
            write["role"] = task["role"] if task else "?"
            write["task"] = task["task"] if task else "?"
            writes.append(write)
        for write in writes:
            if not write["dry_run"] and write["verb"] not in ("delete", "deletecollection"):
                self.known.setdefault(kube_api.ref_path(write["ref"]), write["ref"])
        after = self.versions()
        changed = sorted(path for path in after if after[path] != before.get(path))
        run = Run(proc, writes, end - start, [self.known[path] for path in changed])
        self.runs.append(run)
        return run

    def versions(self):
        """{path: the object as stored, without resourceVersion and managedFields (None when absent)} of every
        object a run has written so far. (v1.20 rewrites a PersistentVolumeClaim once on the first no-op patch after
        its create: a new resourceVersion, the same object; that is not a change.)"""
        out = {}
        for path in self.known:
            status, body = self.plane.request("GET", path)
            if status != 200:
                out[path] = None
                continue
            meta = {k: v for k, v in body.get("metadata", {}).items() if k not in ("resourceVersion", "managedFields")}
            out[path] = json.dumps(dict(body, metadata=meta), sort_keys=True)
        return out


@pytest.fixture(scope="module")
def tier():
    planes = kube_api.running_plane(SLOT, "aiinfra-kapi-roles-", audit=True)
    plane = next(planes, None)
    assert plane is not None, "the live control plane did not start"
    try:
        t = Tier(plane)
        started = time.time()
        t.write_inventory()
        render(t)
        create_chart_crds(t)
        create_nodes(t)
        t.setup_seconds = time.time() - started
        yield t
    finally:
        next(planes, None)  # stops the API server and etcd, removes the scratch directory


# --- what the cluster holds before the roles run --------------------------------------------------------------

def render(t):
    """playbooks/render.yml on the tier's inventory (the same layers and variables as the runs), then every Helm
    release it records rendered from the real chart (scripts/render_charts.py)."""
    t.render_dir = os.path.join(t.plane.work, "render")
    proc = ansible_playbook("-i", os.path.join(t.inventory, "hosts.yml"), "playbooks/render.yml",
                            "-e", "render_dir=%s" % t.render_dir)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    t.releases, problems = render_charts.render_tree(t.render_dir)
    assert not problems, "the charts did not render: %s" % problems


def create_chart_crds(t):
    """Every CRD of every chart the tested roles install, created as Helm creates CRDs (a plain create). A CRD that
    v1.20 refuses for its x-kubernetes-validations (CEL, Kubernetes 1.25+) is created without them and listed."""
    crds = {}
    for rendered in t.releases:
        for _template, obj in rendered.objects:
            if obj.get("kind") == "CustomResourceDefinition":
                crds.setdefault(obj["metadata"]["name"], (rendered.release.chart, obj))
    assert crds, "the charts rendered no CRDs"
    for crd_name, (chart, obj) in sorted(crds.items()):
        status, body = t.plane.request("POST", kube_api.CRD_PATH, obj)
        if status == 422 and kube_api.uses_cel(obj):
            status, body = t.plane.request("POST", kube_api.CRD_PATH, kube_api.without_cel(obj))
            t.crd_notes.append((crd_name, chart, "refused with its x-kubernetes-validations (CEL rules are Kubernetes "
                                                 "1.25+); created without them: those checks are not enforced here"))
        elif status == 201 and kube_api.uses_cel(obj):
            t.crd_notes.append((crd_name, chart, "accepted; its x-kubernetes-validations (CEL, Kubernetes 1.25+) "
                                                 "are not enforced by v1.20"))
        if status != 201:
            t.crd_notes.append((crd_name, chart, "REFUSED by v1.20 (%s): %s" % (status, body.get("message", body))))
    deadline = time.time() + 120
    pending = set(crds) - {n for n, _c, note in t.crd_notes if note.startswith("REFUSED")}
    while pending and time.time() < deadline:
        for name in sorted(pending):
            status, body = t.plane.request("GET", kube_api.crd_path(name))
            conditions = {c["type"]: c["status"] for c in (body.get("status") or {}).get("conditions", [])} \
                if status == 200 else {}
            if conditions.get("Established") == "True":
                pending.discard(name)
        time.sleep(0.5)
    assert not pending, "CRDs never Established: %s" % sorted(pending)
    t.crds = crds


def create_nodes(t):
    """The Node objects the kubelets would register (name: k8s_node_name, else the inventory name)."""
    with open(os.path.join(LAB, "hosts.yml")) as f:
        inventory = yaml.safe_load(f)
    names = []

    def walk(group):
        names.extend((group.get("hosts") or {}).keys())
        for child in (group.get("children") or {}).values():
            walk(child or {})

    for group in inventory.values():
        walk(group or {})
    for name in sorted(set(names)):
        status, body = t.plane.request("POST", "/api/v1/nodes", {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                                  "kubernetes.io/arch": "amd64"}}})
        assert status == 201, body
    t.nodes = sorted(set(names))


def rendered_objects(t):
    """{role: [(file, object)]} the render holds for the tested roles' own manifests (no chart values, no chart
    renders, no repository content)."""
    out = {}
    for role in ROLES:
        base = os.path.join(t.render_dir, role)
        found = []
        for directory, dirs, files in os.walk(base):
            dirs[:] = sorted(d for d in dirs if d not in NOT_APPLIED_DIRS)
            for name in sorted(files):
                rel = os.path.relpath(os.path.join(directory, name), base)
                if not name.endswith((".yaml", ".yml")) or rel.startswith(NOT_APPLIED.get(role, ())):
                    continue
                found += [(rel, obj) for obj in yaml_docs(os.path.join(directory, name))
                          if isinstance(obj, dict) and obj.get("kind")]
        out[role] = found
    return out


def objects_written(run):
    """{role: {object path: ref}} of the objects a run created, updated or patched (not deleted)."""
    out = {}
    for write in run.real_writes():
        if write["verb"] in ("delete", "deletecollection"):
            continue
        out.setdefault(write["role"], {})[kube_api.ref_path(write["ref"])] = write["ref"]
    return out


def writes_text(writes):
    return "\n".join("  %s %s %s %s (task %s: %s)" % (w["verb"], w["code"], "dry-run" if w["dry_run"] else "",
                                                      kube_api.describe_ref(w["ref"]), w["role"], w["task"])
                     for w in writes)


# --- the tests, in order: converge, again, check, a changed input ---------------------------------------------

def test_first_run_applies_every_layer(tier):
    served = tier.plane.served()
    for role, objects in rendered_objects(tier).items():
        for rel, obj, reason in [(rel, o, r) for rel, o in objects for o2, r in kube_api.not_served([o], served)
                                 if o2 is o]:
            tier.not_served.append((role, rel, obj, reason))
    print("\nsetup (render, %d chart CRDs, %d nodes): %.0f s" % (len(tier.crds), len(tier.nodes),
                                                                 tier.setup_seconds))
    print("chart CRDs listed for v1.20: %d" % len(tier.crd_notes))
    for name, chart, note in tier.crd_notes:
        print("  CRD %s (%s chart): %s" % (name, chart, note))
    print("rendered objects of the tested roles that v1.20 does not serve: %d" % len(tier.not_served))
    for role, rel, obj, reason in tier.not_served:
        print("  NOT SERVED %s (role %s, %s): %s" % (kube_api.describe(obj), role, rel, reason))

    run = tier.site()
    print("first run: %.0f s, %s" % (run.seconds, run.recap))
    assert run.proc.returncode == 0, run.tail()
    assert run.recap and run.recap["failed"] == 0 and run.recap["changed"] > 0, run.tail()
    refused = [w for w in run.writes if not (w["code"] and 200 <= w["code"] < 300)]
    unattributed = [w for w in run.real_writes() if w["role"] not in ROLES]
    written = objects_written(run)
    missing = []
    for role, objects in written.items():
        for path, ref in objects.items():
            status, _body = tier.plane.request("GET", path)
            if status != 200:
                missing.append("%s (role %s): %s" % (kube_api.describe_ref(ref), role, status))
    print("objects written per role (created or changed, each checked in the API):")
    for role in ROLES:
        kinds = {}
        for ref in written.get(role, {}).values():
            key = ref["resource"] + ("/" + ref["subresource"] if ref.get("subresource") else "")
            kinds[key] = kinds.get(key, 0) + 1
        print("  %-18s %3d  %s" % (role, len(written.get(role, {})),
                                   ", ".join("%s %d" % kv for kv in sorted(kinds.items()))))
    print("  total %d objects; %d write requests" % (sum(len(v) for v in written.values()), len(run.real_writes())))
    shared = {}
    for role, objects in written.items():
        for path, ref in objects.items():
            shared.setdefault(kube_api.describe_ref(ref), []).append(role)
    shared = {name: roles for name, roles in shared.items() if len(roles) > 1}
    print("objects more than one role writes: %d" % len(shared))
    for name, roles in sorted(shared.items()):
        print("  %s: %s" % (name, ", ".join(roles)))
    assert not refused, "writes the API server refused:\n" + writes_text(refused)
    assert not unattributed, "writes outside the cluster roles' tasks:\n" + writes_text(unattributed)
    assert not missing, "objects written but not in the API:\n" + "\n".join(missing)
    assert written, run.tail()
    # Every tested role that applies objects of its own wrote some (a role whose apply step was skipped would not).
    applied_roles = {r for r, objects in rendered_objects(tier).items()
                     if any(not rel.startswith("patches/") for rel, _o in objects)}
    assert applied_roles - {"ci_pipeline"} <= set(written), (sorted(applied_roles - set(written)), run.tail())

    # What the render holds and the run applied: each served, rendered object is in the API.
    absent = []
    for role, objects in rendered_objects(tier).items():
        for rel, obj in objects:
            if any(obj is o for _r, _f, o, _reason in tier.not_served) or rel.startswith("patches/"):
                continue
            meta = obj.get("metadata", {})
            match = [ref for ref in written.get(role, {}).values()
                     if ref.get("name") == meta.get("name") and kube_api.ref_namespace(ref) == (
                         meta.get("namespace") or "") and ref.get("apiVersion") == obj["apiVersion"].split("/")[-1]]
            if not match:
                absent.append("%s (role %s, %s)" % (kube_api.describe(obj), role, rel))
    print("rendered objects this run did not write (steps under --skip-tags %s): %d" % (",".join(SKIP_TAGS),
                                                                                        len(absent)))
    for line in absent:
        print("  " + line)


def unchanged_or_explain(run, what):
    """changed=0 in the recap and no object changed in the API (kubernetes.core.k8s patches each object on every
    run; a patch that changes nothing leaves the stored object as it was)."""
    assert run.proc.returncode == 0, run.tail()
    assert run.recap["changed"] == 0 and run.changed_objects == [], "%s changed:\n%s\nand moved:\n%s" % (
        what, "\n".join(run.changed_tasks()), "\n".join("  " + kube_api.describe_ref(r) for r in run.changed_objects))


def test_second_run_changes_nothing(tier):
    run = tier.site()
    print("\nsecond run: %.0f s, %s; %d write requests, %d objects changed" % (
        run.seconds, run.recap, len(run.real_writes()), len(run.changed_objects)))
    unchanged_or_explain(run, "the second run")


def test_check_diff_after_converge_changes_nothing(tier):
    run = tier.site(check=True)
    print("\ncheck run: %.0f s, %s; %d dry-run writes, %d real writes" % (
        run.seconds, run.recap, sum(1 for w in run.writes if w["dry_run"]), len(run.real_writes())))
    unchanged_or_explain(run, "check mode")
    assert run.real_writes() == [], "check mode sent writes that were not dry runs:\n" + writes_text(run.real_writes())


def quota(tier, namespace):
    status, body = tier.plane.request("GET", "/api/v1/namespaces/%s/resourcequotas" % namespace)
    assert status == 200 and body["items"], body
    return body["items"][0]


def test_changed_tenant_quota_shows_its_diff_and_converges(tier):
    with open(os.path.join(LAB, "group_vars", "all.yml")) as f:
        tenants = copy.deepcopy(yaml.safe_load(f)["k8s_tenants"])
    team = tenants[0]
    before = quota(tier, team["name"])
    key = next(k for k in sorted(before["spec"]["hard"]) if k in ("requests.cpu", "cpu"))
    old = before["spec"]["hard"][key]
    team["quota"]["cpu"] = str(int(team["quota"]["cpu"]) + 1)
    new = team["quota"]["cpu"]
    tier.write_inventory({"k8s_tenants": tenants})

    run = tier.site(check=True)
    print("\nchanged quota (%s %s: %s -> %s), check run: %.0f s, %s" % (team["name"], key, old, new, run.seconds,
                                                                        run.recap))
    assert run.proc.returncode == 0, run.tail()
    assert run.recap["changed"] == 1, "\n".join(run.changed_tasks()) or run.tail(12000)
    assert run.real_writes() == [] and run.changed_objects == [], \
        "check mode wrote to the cluster:\n" + writes_text(run.real_writes())
    lines = run.proc.stdout.splitlines()
    removed = [line for line in lines if line.startswith("-") and key in line and old in line]
    added = [line for line in lines if line.startswith("+") and key in line and new in line]
    assert removed and added, "check mode's diff does not show %s %s -> %s:\n%s" % (key, old, new, run.tail(12000))
    assert quota(tier, team["name"])["spec"]["hard"][key] == old

    run = tier.site()
    print("changed quota, converge: %.0f s, %s" % (run.seconds, run.recap))
    assert run.proc.returncode == 0 and run.recap["changed"] == 1, "\n".join(run.changed_tasks()) or run.tail()
    assert quota(tier, team["name"])["spec"]["hard"][key] == new
    moved = [kube_api.describe_ref(r) for r in run.changed_objects]
    assert moved == [kube_api.describe_ref(dict(apiGroup="", apiVersion="v1", resource="resourcequotas",
                                                namespace=team["name"], name=before["metadata"]["name"]))], moved
    print("tier: %d runs, %.0f s in ansible-playbook" % (len(tier.runs), sum(r.seconds for r in tier.runs)))
