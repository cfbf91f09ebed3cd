"""The PyPI mirror of roles/mirrors, live on the test bed: devpi-server really serves pip through the mirror.

A 2-node test bed (scripts/testbed.py, name `mirrors`, 198.18.10.0/24). node1 runs devpi-server exactly as the role's
Deployment starts it: the command line, the environment and the config files are read from the role's rendered
manifests (playbooks/render.yml), and the mirror index is set up by the role's index Job command. devpi-server itself is
installed with pip into a venv on node1, from wheels downloaded here (the version the role pins). The upstream is not
PyPI: a tiny wheel built by this test, served as a PEP 503 simple index on node1's loopback (node2 cannot reach it).
node2 gets /etc/pip.conf from the role's `nodes` entry point (ansible-playbook over ssh, idempotent), then
`pip install` goes through the mirror: first fetched from the upstream, then, with the upstream stopped, from the cache.
"""

import base64
import hashlib
import io
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import time
import zipfile

import pytest
import yaml

from ansible_env import ROOT, ansible_playbook, needs_collection, only_roles, yaml_docs

NAME = "mirrors"
SUBNET = "198.18.10.0/24"
PROBE = "aiinfra-mirror-probe"
PROBE_MODULE = "aiinfra_mirror_probe"
UPSTREAM_PORT = 8000
PASSWORD = "live-test-" + secrets.token_hex(8)

pytestmark = [
    needs_collection,
    pytest.mark.skipif(shutil.which("podman") is None or os.geteuid() != 0,
                       reason="the test bed needs podman and root (scripts/testbed.py)"),
]


def sh(args, check=True, **kw):
    proc = subprocess.run(args, capture_output=True, text=True, check=False, env=dict(os.environ, LC_ALL="C"), **kw)
    if check and proc.returncode != 0:
        raise AssertionError("%s failed (rc=%s)\nstdout: %s\nstderr: %s"
                             % (" ".join(map(str, args)), proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    return proc


def run_testbed(*args):
    return sh([sys.executable, os.path.join(ROOT, "scripts", "testbed.py"), *args])


def on(node, script, check=True):
    """Run a shell script inside a test-bed node; the finished process."""
    return sh(["podman", "exec", node["container"], "/bin/sh", "-ec", script], check=check)


def role_defaults(role="mirrors"):
    with open(os.path.join(ROOT, "roles", role, "defaults", "main.yml")) as f:
        return yaml.safe_load(f)


def wheelhouse(version):
    """devpi-server==version and its dependencies as wheels for node1's Python 3.11, plus pip's own wheel (cached)."""
    cache = os.path.join(os.path.expanduser("~"), ".cache", "aiinfra-devpi-wheels", version)
    marker = os.path.join(cache, ".complete")
    if not os.path.exists(marker):
        os.makedirs(cache, exist_ok=True)
        sh([sys.executable, "-m", "pip", "download", "-q", "-d", cache, "--only-binary=:all:",
            "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
            "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
            "--platform", "manylinux2014_x86_64", "--platform", "manylinux1_x86_64", "--platform", "any",
            "devpi-server==%s" % version, "pip"])
        open(marker, "w").close()
    return cache


def probe_wheel(token):
    """A pure-Python wheel whose module carries `token` (proves which content pip got); (file name, bytes)."""
    dist = "%s-1.0.0" % PROBE_MODULE
    files = {
        "%s/__init__.py" % PROBE_MODULE: "TOKEN = %r\n" % token,
        "%s.dist-info/METADATA" % dist: "Metadata-Version: 2.1\nName: %s\nVersion: 1.0.0\n" % PROBE,
        "%s.dist-info/WHEEL" % dist: ("Wheel-Version: 1.0\nGenerator: aiinfra-test\nRoot-Is-Purelib: true\n"
                                      "Tag: py3-none-any\n"),
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (path, digest, len(text.encode())))
    record.append("%s.dist-info/RECORD,," % dist)
    files["%s.dist-info/RECORD" % dist] = "\n".join(record) + "\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return "%s-py3-none-any.whl" % dist, buf.getvalue()


def write_upstream(directory, wheel_name, wheel_bytes):
    """A PEP 503 simple index holding the probe wheel."""
    os.makedirs(os.path.join(directory, "packages"))
    os.makedirs(os.path.join(directory, "simple", PROBE))
    with open(os.path.join(directory, "packages", wheel_name), "wb") as f:
        f.write(wheel_bytes)
    digest = hashlib.sha256(wheel_bytes).hexdigest()
    with open(os.path.join(directory, "simple", "index.html"), "w") as f:
        f.write('<!DOCTYPE html><html><body><a href="%s/">%s</a></body></html>\n' % (PROBE, PROBE))
    with open(os.path.join(directory, "simple", PROBE, "index.html"), "w") as f:
        f.write('<!DOCTYPE html><html><body><a href="../../packages/%s#sha256=%s">%s</a></body></html>\n'
                % (wheel_name, digest, wheel_name))


@pytest.fixture(scope="module")
def bed():
    run_testbed("down", "--name", NAME)  # whatever an interrupted earlier run left behind
    run_testbed("up", "--name", NAME, "--nodes", "2", "--subnet", SUBNET)
    try:
        state = json.loads(run_testbed("state", "--name", NAME).stdout)
        state["inventory_path"] = run_testbed("inventory", "--name", NAME).stdout.strip()
        yield state
    finally:
        run_testbed("down", "--name", NAME)


def rendered_devpi(tmp_path, upstream_url):
    """The role's devpi manifests as playbooks/render.yml writes them, with the test's upstream."""
    out = tmp_path / "render"
    proc = ansible_playbook("-i", "inventories/lab", "playbooks/render.yml", "-e", "render_dir=%s" % out,
                            *only_roles("mirrors"), "-e", json.dumps({"mirrors_pypi_upstream_url": upstream_url}))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    docs = {(d["kind"], d["metadata"]["name"].rsplit("-", 1)[0] if d["kind"] == "Job" else d["metadata"]["name"]): d
            for d in yaml_docs(out / "mirrors" / "devpi.yaml")}
    return docs[("ConfigMap", "devpi-config")], docs[("Deployment", "devpi")], docs[("Job", "devpi-configure-index")]


def env_of(container, password, overrides=None):
    """A container's environment as the pod would get it: values as written, the root password from the Secret."""
    env = {}
    for item in container["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == ("devpi-root", "password"), item
            env[item["name"]] = password
    env.update(overrides or {})
    return env


def test_pip_installs_through_devpi_from_upstream_then_from_cache(bed, tmp_path):
    node1, node2 = bed["nodes"]
    timings = {}
    version = role_defaults()["mirrors_devpi_version"]
    token = secrets.token_hex(8)
    upstream_url = "http://127.0.0.1:%d/simple/" % UPSTREAM_PORT

    config, deployment, job = rendered_devpi(tmp_path, upstream_url)
    server = deployment["spec"]["template"]["spec"]["containers"][0]
    configure = job["spec"]["template"]["spec"]["containers"][0]
    mounts = {m["name"]: m["mountPath"] for m in server["volumeMounts"]}
    uid = deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"]

    # node1: devpi-server with pip in a venv (offline, from the wheels), the role's config files where the pod mounts
    # them, the image's user (files/Containerfile) owning the data directory, the upstream on loopback.
    started = time.monotonic()
    wheels = wheelhouse(version)
    upstream = tmp_path / "upstream"
    wheel_name, wheel_bytes = probe_wheel(token)
    write_upstream(str(upstream), wheel_name, wheel_bytes)
    confdir = tmp_path / "devpi-config"
    confdir.mkdir()
    for key, text in config["data"].items():
        (confdir / key).write_text(text)
    on(node1, "mkdir -p /tmp/wheels /srv")
    sh(["podman", "cp", wheels + "/.", "%s:/tmp/wheels/" % node1["container"]])
    sh(["podman", "cp", str(upstream), "%s:/srv/upstream" % node1["container"]])
    sh(["podman", "cp", str(confdir), "%s:%s" % (node1["container"], mounts["config"])])
    on(node1, "chmod -R a+rX %s /srv/upstream /tmp/wheels" % mounts["config"])
    pip_whl = "/tmp/wheels/" + sorted(n for n in os.listdir(wheels) if n.startswith("pip-"))[-1]
    on(node1, "python3 -m venv --without-pip /opt/devpi && "
              "/opt/devpi/bin/python %s/pip install -q --no-index --find-links /tmp/wheels devpi-server==%s && "
              "useradd --uid %d --user-group --no-create-home --home-dir %s mirror && "
              "mkdir -p %s && chown %d:%d %s"
              % (pip_whl, version, uid, mounts["data"], mounts["data"], uid, uid, mounts["data"]))
    assert on(node1, "/opt/devpi/bin/devpi-server --version 2>/dev/null").stdout.strip() == version
    timings["devpi_installed_s"] = round(time.monotonic() - started, 1)
    on(node1, "systemd-run --unit aiinfra-upstream python3 -m http.server %d --bind 127.0.0.1 --directory "
              "/srv/upstream" % UPSTREAM_PORT)

    # The Deployment's command line and environment, as the pod runs them (as its user).
    env = env_of(server, PASSWORD, {"PATH": "/opt/devpi/bin:/usr/local/bin:/usr/bin:/bin", "HOME": mounts["data"]})
    argv = server["command"] + server["args"]
    on(node1, "systemd-run --unit aiinfra-devpi -p User=%d -p Group=%d %s %s" % (
        uid, uid, " ".join("-E %s" % shlex.quote("%s=%s" % kv) for kv in env.items()),
        " ".join(shlex.quote(a) for a in argv)))

    # The index Job's command with its environment; only the Service address becomes node1's loopback.
    port = server["ports"][0]["containerPort"]
    job_env = env_of(configure, PASSWORD, {"DEVPI_URL": "http://127.0.0.1:%d" % port})
    assert job_env["DEVPI_UPSTREAM_URL"] == upstream_url
    done = on(node1, "env %s %s" % (" ".join(shlex.quote("%s=%s" % kv) for kv in job_env.items()),
                                    " ".join(shlex.quote(a) for a in configure["command"])), check=False)
    journal = on(node1, "journalctl -u aiinfra-devpi --no-pager | tail -40", check=False).stdout
    assert done.returncode == 0, done.stdout + done.stderr + journal
    assert "root/pypi created, mirroring %s" % upstream_url in done.stdout
    assert PASSWORD not in done.stdout + done.stderr
    again = on(node1, "env %s %s" % (" ".join(shlex.quote("%s=%s" % kv) for kv in job_env.items()),
                                     " ".join(shlex.quote(a) for a in configure["command"])))
    assert "root/pypi already mirrors %s (unchanged)" % upstream_url in again.stdout
    wrong = dict(job_env, DEVPI_ROOT_PASSWORD="not-the-password")
    refused = on(node1, "env %s %s" % (" ".join(shlex.quote("%s=%s" % kv) for kv in wrong.items()),
                                       " ".join(shlex.quote(a) for a in configure["command"])), check=False)
    assert refused.returncode == 1 and "login as root" in refused.stderr and "not-the-password" not in refused.stderr
    timings["devpi_serving_s"] = round(time.monotonic() - started, 1)

    # node2: /etc/pip.conf from the role's `nodes` entry point, pointed at node1; then --check and a second run
    # change nothing.
    playbook = tmp_path / "nodes.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Point the node at the mirrors", "hosts": node2["name"], "gather_facts": False,
        "tasks": [{"name": "Node-side pip/conda configuration",
                   "ansible.builtin.include_role": {"name": "aiinfra.cluster.mirrors", "tasks_from": "nodes"}}]}]))
    node_vars = json.dumps({"mirrors_nodes_enabled": True, "mirrors_node_host": node1["ip"],
                            "mirrors_pypi_node_url": "http://%s:%d/root/pypi/+simple/" % (node1["ip"], port)})
    for run, (mode, expect_changed) in enumerate((((), True), (("--check",), False), ((), False)), 1):
        proc = ansible_playbook("-i", bed["inventory_path"], str(playbook), "-e", node_vars, *mode)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        recap = re.search(r"%s\s*:\s*ok=\d+\s+changed=(\d+)" % node2["name"], proc.stdout)
        assert recap and (int(recap.group(1)) > 0) == expect_changed, "run %d: %s" % (run, proc.stdout[-1500:])
    pip_conf = on(node2, "cat /etc/pip.conf").stdout
    assert "index-url = http://%s:%d/root/pypi/+simple/" % (node1["ip"], port) in pip_conf
    assert yaml.safe_load(on(node2, "cat /etc/conda/.condarc").stdout)["channels"] == [
        "http://%s:%d/conda-forge" % (node1["ip"], role_defaults("k8s")["k8s_conda_mirror_node_port"])]

    # node2 has no pip of its own: pip's wheel runs as is. Its only index is /etc/pip.conf's; node1's upstream
    # listens on node1's loopback, so whatever node2 gets came through devpi.
    sh(["podman", "cp", os.path.join(wheels, os.path.basename(pip_whl)), "%s:/tmp/pip.whl" % node2["container"]])
    probe = "python3 -c 'import sys; sys.path.insert(0, \"{t}\"); import %s; print(%s.TOKEN)'" % (
        PROBE_MODULE, PROBE_MODULE)

    def pip_install(target):
        begin = time.monotonic()
        proc = on(node2, "python3 /tmp/pip.whl/pip install -v --no-cache-dir --disable-pip-version-check "
                         "--target %s %s" % (target, PROBE), check=False)
        return proc, round(time.monotonic() - begin, 1)

    first, timings["pip_install_via_upstream_s"] = pip_install("/tmp/first")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "Looking in indexes: http://%s:%d/root/pypi/+simple/" % (node1["ip"], port) in first.stdout
    assert on(node2, probe.format(t="/tmp/first")).stdout.strip() == token
    assert on(node1, "ls -R %s/server" % mounts["data"]).stdout.count(wheel_name) >= 1, "devpi did not cache the wheel"

    # Upstream gone: the same install is served from devpi's cache; a project it never cached is not.
    on(node1, "systemctl stop aiinfra-upstream")
    gone = on(node1, "python3 -c 'import urllib.request; urllib.request.urlopen(\"%s\", timeout=3)'" % upstream_url,
              check=False)
    assert gone.returncode != 0, "the upstream still answers"
    second, timings["pip_install_from_cache_s"] = pip_install("/tmp/second")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert on(node2, probe.format(t="/tmp/second")).stdout.strip() == token
    absent = on(node2, "python3 /tmp/pip.whl/pip install --no-cache-dir --disable-pip-version-check --retries 0 "
                       "--target /tmp/absent aiinfra-mirror-never-cached", check=False)
    assert absent.returncode != 0
    assert "No matching distribution found for aiinfra-mirror-never-cached" in absent.stdout + absent.stderr
    print("\nmirrors live timings: %s" % json.dumps(timings))
