"""What the integration tests need to run ansible-playbook against this checkout: the collection found through
.collections (scripts/setup.sh makes it), the repository's ansible.cfg, no colour."""

import json
import os
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
ENV = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
           ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"))
needs_collection = pytest.mark.skipif(not os.path.isdir(os.path.join(ROOT, ".collections")),
                                      reason="run scripts/setup.sh first")


def ansible_playbook(*args):
    """Run ansible-playbook from the repository root; the finished process (stdout and stderr as text)."""
    return subprocess.run([os.path.join(BIN, "ansible-playbook"), *[str(a) for a in args]], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, check=False)


def validate_manifests(directory):
    """scripts/validate_manifests.py on a render directory; the finished process."""
    return subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "validate_manifests.py"), str(directory)],
                          capture_output=True, text=True, check=False)


def only_roles(*roles):
    """ansible-playbook arguments that make playbooks/render.yml render just these roles (a full lab render takes
    about a minute; a test that looks at one layer renders that layer)."""
    return ("-e", json.dumps({"render_roles": list(roles)}))


def yaml_docs(path):
    """The non-empty YAML documents of a rendered file, in order."""
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


# --- Renders shared by the render tests: playbooks/render.yml once per variant and pytest process, then every Helm
# release rendered once from the real upstream chart (scripts/render_charts.py). Nothing is kept between runs: each
# pytest process renders into its own temporary directory, removed at exit.

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import render_charts  # noqa: E402  (scripts/render_charts.py)

_RENDER_ROOT = None
_RENDERS = {}


class Render:
    """One rendered variant: the render directory, the ansible-playbook run, and (lazily, once) the real charts
    rendered from it and the validator's verdict on the whole tree."""

    def __init__(self, name, out, proc):
        self.name, self.out, self.proc = name, out, proc
        self._charts = self._validation = None

    def charts(self):
        """(releases by release name, problems): every recorded release rendered with the real chart, written under
        <role>/helm/<release>/ for the validator."""
        if self._charts is None:
            results, problems = render_charts.render_tree(str(self.out))
            self._charts = ({r.release.name: r for r in results}, problems)
        return self._charts

    def release(self, name):
        releases, problems = self.charts()
        assert name in releases, "release %s not rendered in variant %s: %s" % (name, self.name, problems)
        return releases[name]

    def objects(self, release, kind=None, name=None):
        return [obj for _template, obj in self.release(release).objects
                if (kind is None or obj.get("kind") == kind) and (name is None or obj["metadata"].get("name") == name)]

    def one(self, release, kind, name):
        found = self.objects(release, kind, name)
        assert len(found) == 1, "%s %s/%s: %d objects in variant %s" % (release, kind, name, len(found), self.name)
        return found[0]

    def validation(self):
        """scripts/validate_manifests.py on the whole tree, the charts' objects included; the finished process."""
        if self._validation is None:
            self.charts()
            self._validation = validate_manifests(self.out)
        return self._validation


def shared_render(name, inventory, *extra, roles=None):
    """Render a variant once per pytest process (the same name always means the same arguments); a Render."""
    global _RENDER_ROOT
    if name not in _RENDERS:
        if _RENDER_ROOT is None:
            import atexit
            import shutil
            import tempfile
            _RENDER_ROOT = tempfile.mkdtemp(prefix="aiinfra-render-")
            atexit.register(shutil.rmtree, _RENDER_ROOT, True)
        import pathlib
        out = pathlib.Path(_RENDER_ROOT) / name
        args = ["-i", inventory, "playbooks/render.yml", "-e", "render_dir=%s" % out, *extra]
        if roles is not None:
            args += only_roles(*roles)
        proc = ansible_playbook(*args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        _RENDERS[name] = Render(name, out, proc)
    return _RENDERS[name]


def lab():
    """The lab inventory, every layer (k3s, WireGuard, plain-HTTP registry, MIG none)."""
    return shared_render("lab", "inventories/lab")


def registry_tls():
    """The lab with Harbor on TLS (and the pipeline and GitOps layers that use the registry)."""
    return shared_render("lab-tls", "inventories/lab", "-e", "k8s_registry_tls=true", roles=("harbor", "ci_pipeline", "argocd"))


def kubeadm_ipsec():
    """kubeadm, one control plane behind a VIP, Cilium with IPsec, observability on."""
    return shared_render("kubeadm-ipsec", "tests/integration/inventories/kubeadm-ipsec",
                         "-e", "k8s_observability_enabled=true", roles=("kubeadm", "cilium", "observability"))


def gpu_mixed():
    """Two GPU workers, MIG mixed, vLLM on a MIG slice (every layer the inventory enables)."""
    return shared_render("gpu-mixed", "tests/integration/inventories/gpu-mixed")


def mig_single():
    """The lab's GPU layer with MIG strategy single."""
    return shared_render("mig-single", "inventories/lab", "-e", "gpu_mig_strategy=single", roles=("gpu_operator",))


def serving_namespace():
    """The lab's security and serving layers with vLLM in another namespace."""
    return shared_render("serving-namespace", "inventories/lab", "-e", "k8s_serving_namespace=llm-serving",
                         roles=("security_baseline", "vllm"))


def promtool_check_rules(rules, directory):
    """`promtool check rules` on the spec of each PrometheusRule/VMRule (one file per rule object in directory); the
    number of rule files it passed. Fails the test with promtool's output when it refuses one."""
    files = []
    for rule in rules:
        path = os.path.join(str(directory), "%s.rules.yml" % rule["metadata"]["name"])
        with open(path, "w") as f:
            f.write(yaml.safe_dump(rule["spec"]))
        files.append(path)
    out = subprocess.run(["promtool", "check", "rules", *files], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.count("SUCCESS")
