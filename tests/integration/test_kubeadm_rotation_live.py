"""Issue 13 item 4, live: the kubeadm role's key rotation plan (rotation_plan in plugins/plugin_utils/kubeadm.py,
through the kubeadm_encryption_rotation filter the role calls) driven against three real kube-apiservers v1.20.2
on one real etcd (tests/integration/kube_api.py; the binary comes from scripts/build_kubernetes.sh).

Each API server reads its own EncryptionConfiguration when it starts, as on kubeadm control planes. First the old
role's way: the new key written first on one server, restarted - a Secret written through it cannot be read
through the others (the split this item is about). Then, from that state, the plan is recomputed from the files
after EVERY single restart (as if each run were interrupted there: every intermediate state, mixed servers
included, is a resume point) and its next step applied to the next server; after each restart a Secret is written
through every server and read back through every other one. Secrets are rewritten (GET + PUT through the API, as
the role's `secrets` entry point does) when the plan says `rewrite`; etcd must then hold every Secret under the new
key before the plan drops the old one. The restarts here are the harness's (stop/start the process); on a node the
role stops the static pod's container with crictl, which does not exist here."""

import base64
import os
import sys
import time

import pytest

import kube_api
from moduleproc import collection_path

sys.path.insert(0, collection_path())
from ansible_collections.aiinfra.cluster.plugins.filter.kubeadm import FilterModule  # noqa: E402
from ansible_collections.aiinfra.cluster.plugins.plugin_utils import kubeadm  # noqa: E402

ROTATION = FilterModule().filters()["kubeadm_encryption_rotation"]  # what tasks/encryption_state.yml calls

NS = "rotation-test"
OLD, NEW = "key-1", "key-2"
KEYS = {n: base64.b64encode(os.urandom(32)).decode() for n in (OLD, NEW)}
CONTROLLER = [{"name": NEW, "secret": KEYS[NEW]}, {"name": OLD, "secret": KEYS[OLD]}]  # the role's key file


def conf(*names):
    return kubeadm.encryption_configuration("aescbc", [{"name": n, "secret": KEYS[n]} for n in names])


@pytest.fixture(scope="module")
def plane():
    p = kube_api.ControlPlane(slot=6, apiservers=3, etcd_members=1, encryption_config=conf(OLD)).start()
    status, body = p.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                            "metadata": {"name": NS}})
    assert status == 201, body
    yield p
    p.stop()


def files(plane):
    # what encryption_state.yml reads on each node; the harness restarts are atomic (started after the write)
    return {s.name: {"config": s.encryption_config, "mtime": 0, "started": ""} for s in plane.servers}


def write_secret(plane, server, name):
    status, body = plane.request("POST", "/api/v1/namespaces/%s/secrets" % NS,
                                 {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                                  "data": {"v": base64.b64encode(name.encode()).decode()}}, server=server.url)
    assert status == 201, (server.name, body)


def read_secret(plane, server, name):
    return plane.request("GET", "/api/v1/namespaces/%s/secrets/%s" % (NS, name), server=server.url)


def split_pairs(plane, tag):
    """(writer, reader) pairs where a Secret written through one API server cannot be read through another."""
    bad = []
    for writer in plane.servers:
        name = "%s-%s" % (tag, writer.name)
        write_secret(plane, writer, name)
        for reader in plane.servers:
            status, body = read_secret(plane, reader, name)
            if status != 200 or base64.b64decode(body["data"]["v"]).decode() != name:
                bad.append((writer.name, reader.name, status))
    return bad


def stored_keys(plane):
    names = [s["metadata"]["name"] for s in plane.request("GET", "/api/v1/namespaces/%s/secrets" % NS)[1]["items"]
             if s["type"] == "Opaque"]
    out = {}
    for n in names:
        raw = plane.etcd_raw("/registry/secrets/%s/%s" % (NS, n))
        out[n] = raw.split(b":")[4].decode() if raw.startswith(b"k8s:enc:aescbc:v1:") else "identity"
    return out


def rewrite_all(plane):
    for n in stored_keys(plane):
        status, obj = read_secret(plane, plane.servers[0], n)
        assert status == 200, obj
        status, body = plane.request("PUT", "/api/v1/namespaces/%s/secrets/%s" % (NS, n), obj,
                                     server=plane.servers[0].url)
        assert status == 200, body


def test_old_one_step_rotation_splits_then_the_plan_heals_it_resuming_after_every_restart(plane):
    started = time.time()
    assert split_pairs(plane, "before") == []

    # the old role: the new key first on the first control plane, restarted (the others would follow one by one)
    plane.restart_apiserver(0, conf(NEW, OLD))
    bad = split_pairs(plane, "old-way")
    assert ("api1", "api2", 500) in bad and ("api1", "api3", 500) in bad, bad

    restarts, phases_seen = 0, []
    while True:
        plan = ROTATION(files(plane), NEW, "aescbc", CONTROLLER)
        if not plan["steps"]:
            break
        step = plan["steps"][0]
        if step["phase"] == "rewrite":
            rewrite_all(plane)
            assert set(stored_keys(plane).values()) == {NEW}, stored_keys(plane)  # before any old key is dropped
            step = plan["steps"][1]
        phases_seen.append(step["phase"])
        index = next(i for i, s in enumerate(plane.servers) if s.encryption_config != step["config"])
        plane.restart_apiserver(index, step["config"])
        restarts += 1
        assert split_pairs(plane, "r%d" % restarts) == [], (step["phase"], plane.servers[index].name)
        assert restarts <= 9, phases_seen

    assert restarts == 9 and phases_seen == ["add"] * 3 + ["promote"] * 3 + ["drop"] * 3, phases_seen
    assert all(s.encryption_config == conf(NEW) for s in plane.servers)
    # every Secret, the ones the split wrote included, is readable everywhere and stored with the new key
    stored = stored_keys(plane)
    assert set(stored.values()) == {NEW}, stored
    for n in stored:
        for s in plane.servers:
            assert read_secret(plane, s, n)[0] == 200, (n, s.name)
    # a second run has nothing to do
    assert ROTATION(files(plane), NEW, "aescbc", CONTROLLER)["phase"] == "none"
    print("rotation with 9 API server restarts: %.0f s" % (time.time() - started))
