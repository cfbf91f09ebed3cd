"""The collection as users get it: `ansible-galaxy collection build` from a checkout that holds generated files
(a render, a report, credentials, the test bed's inventory with a local key path, byte-code), installed into a
temporary collections path. The artifact holds none of them, every module and filter documents itself through
ansible-doc, and the collection's site playbook passes --syntax-check from the installed copy."""

import glob
import json
import os
import re
import subprocess
import tarfile
import uuid

import pytest

from ansible_env import BIN, ENV, ROOT

# A local key path only this run knows, so finding it in the artifact can only mean the generated file was packed.
LOCAL_KEY = "/root/.cache/aiinfra-testbed/%s/id_ed25519" % uuid.uuid4().hex
GENERATED = {
    "render/cilium/values/cilium.yaml": "a: 1\n",
    "inventories/lab/credentials/kubeconfig": "apiVersion: v1\nkind: Config\n",
    "inventories/lab/report/report.md": "# report\n",
    "inventories/lab/backups/etcd/snapshot.db": "x",
    "inventories/testbed/hosts.yml": "all:\n  vars:\n    ansible_ssh_private_key_file: %s\n" % LOCAL_KEY,
    "plugins/module_utils/__pycache__/x.cpython-312.pyc": "x",
}


def run(*args, **kwargs):
    proc = subprocess.run([str(a) for a in args], cwd=kwargs.pop("cwd", ROOT), env=kwargs.pop("env", ENV),
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, "%s\n%s\n%s" % (" ".join(map(str, args)), proc.stdout, proc.stderr)
    return proc


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    created = []
    for rel, content in GENERATED.items():
        path = os.path.join(ROOT, rel)
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(content)
            created.append(path)
    out = tmp_path_factory.mktemp("build")
    try:
        run(os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", out)
    finally:
        for path in created:
            os.remove(path)
        for leftover in ("render/cilium/values", "render/cilium", "render"):
            full = os.path.join(ROOT, leftover)
            if os.path.isdir(full) and not os.listdir(full):
                os.rmdir(full)
    (tarball,) = glob.glob(str(out / "aiinfra-cluster-*.tar.gz"))
    return tarball


@pytest.fixture(scope="module")
def installed(artifact, tmp_path_factory):
    path = tmp_path_factory.mktemp("collections")
    # Only the temporary path is configured, so the checkout's .collections link cannot answer "already installed".
    run(os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--no-deps", "-p", path, artifact,
        env=dict(ENV, ANSIBLE_COLLECTIONS_PATH=str(path)), cwd=str(path))
    assert os.path.isfile(os.path.join(path, "ansible_collections", "aiinfra", "cluster", "MANIFEST.json"))
    return path


def test_artifact_holds_no_generated_or_local_file(artifact):
    with tarfile.open(artifact) as tar:
        names = tar.getnames()
        texts = [tar.extractfile(m).read().decode("utf-8", "replace") for m in tar.getmembers() if m.isfile()]
    bad = [n for n in names if n.startswith(("render/", "inventories/testbed/hosts.yml")) or
           (n.startswith("inventories/") and n.split("/")[2:3] in (["credentials"], ["report"], ["backups"])) or
           "__pycache__" in n or n.endswith(".pyc")]
    assert bad == []
    assert not any(LOCAL_KEY in t for t in texts)
    key_block = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----\s+[A-Za-z0-9+/=\s]{64,}")
    assert not any(key_block.search(t) for t in texts)
    assert {"galaxy.yml", "MANIFEST.json", "playbooks/site.yml", "roles/node_baseline/tasks/main.yml"} - set(names) \
        == {"galaxy.yml"}  # galaxy.yml becomes MANIFEST.json


def test_every_module_and_filter_documents_itself(installed):
    env = dict(ENV, ANSIBLE_COLLECTIONS_PATH=str(installed))
    modules = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))
                     if not p.endswith("__init__.py"))
    filters = sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(ROOT, "plugins", "filter", "*.yml")))
    assert modules and filters
    for kind, names in (("module", modules), ("filter", filters)):
        proc = run(os.path.join(BIN, "ansible-doc"), "-t", kind, "--json",
                   *["aiinfra.cluster." + n for n in names], env=env, cwd=str(installed))
        docs = json.loads(proc.stdout)
        assert sorted(docs) == sorted("aiinfra.cluster." + n for n in names)
        for name, doc in docs.items():
            assert doc["doc"].get("short_description"), name
            # the copy that answered is the installed one, not the checkout
            assert doc["doc"]["filename"].startswith(str(installed)), doc["doc"]["filename"]


def test_site_playbook_passes_syntax_check_from_the_installed_copy(installed, tmp_path):
    collection = os.path.join(installed, "ansible_collections", "aiinfra", "cluster")
    with open(os.path.join(collection, "MANIFEST.json")) as f:
        assert json.load(f)["collection_info"]["name"] == "cluster"
    inventory = os.path.join(collection, "inventories", "lab")
    assert os.path.isdir(inventory)
    env = dict(ENV, ANSIBLE_COLLECTIONS_PATH=str(installed), ANSIBLE_CONFIG=str(tmp_path / "none.cfg"))
    (tmp_path / "none.cfg").write_text("[defaults]\n")
    proc = run(os.path.join(BIN, "ansible-playbook"), "-i", inventory, "aiinfra.cluster.site", "--syntax-check",
               env=env, cwd=str(tmp_path))
    assert "playbook: " in proc.stdout
    assert os.path.realpath(proc.stdout.split("playbook: ", 1)[1].strip()).startswith(os.path.realpath(collection))
