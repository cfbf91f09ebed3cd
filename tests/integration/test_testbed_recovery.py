"""scripts/testbed.py recovers from an `up` that failed: the failed `up` removes what it made, and an `up` over
leftovers of an interrupted one (state directory with a key, a network, containers, no finished state) cleans them
and succeeds, never stopping at ssh-keygen's "Overwrite (y/n)?" prompt. Real podman nodes on 198.18.13.0/24."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from ansible_env import ROOT

TESTBED = os.environ.get("AIINFRA_TESTBED_SCRIPT", os.path.join(ROOT, "scripts", "testbed.py"))
NAME = "recovery-test"
SUBNET = "198.18.13.0/24"
pytestmark = pytest.mark.skipif(shutil.which("podman") is None, reason="podman is installed by scripts/setup.sh")


def tb_cli(state_root, *args, timeout=300):
    return subprocess.run([sys.executable, TESTBED, "--state-root", str(state_root), *args], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=timeout, check=False)


def ours():
    proc = subprocess.run(["podman", "ps", "-a", "--filter", "label=aiinfra.testbed=" + NAME, "--format",
                           "{{.Names}}"], capture_output=True, text=True, check=True)
    network = subprocess.run(["podman", "network", "exists", "aiinfra-" + NAME], check=False).returncode == 0
    return sorted(proc.stdout.split()), network


@pytest.fixture
def state_root(tmp_path):
    yield tmp_path
    tb_cli(tmp_path, "down", "--name", NAME)
    subprocess.run(["podman", "rm", "-f", NAME + "-node2"], capture_output=True, check=False)


def test_failed_up_cleans_up_and_a_later_up_succeeds(state_root):
    # A container that is not the test bed's holds node2's name, so `up` fails half way (node1 already running).
    sys.path.insert(0, os.path.dirname(TESTBED))
    import testbed as tb  # pylint: disable=import-outside-toplevel
    tb.build_image()  # only when missing
    subprocess.run(["podman", "create", "--name", NAME + "-node2", tb.IMAGE, "/sbin/init"], capture_output=True,
                   check=True)
    failed = tb_cli(state_root, "up", "--name", NAME, "--nodes", "2", "--subnet", SUBNET)
    assert failed.returncode == 1 and "testbed: error:" in failed.stderr
    assert ours() == ([], False)
    assert not os.path.exists(os.path.join(state_root, NAME))
    subprocess.run(["podman", "rm", "-f", NAME + "-node2"], capture_output=True, check=True)
    good = tb_cli(state_root, "up", "--name", NAME, "--nodes", "2", "--subnet", SUBNET)
    assert good.returncode == 0, good.stderr
    with open(os.path.join(state_root, NAME, "state.json")) as f:
        assert json.load(f)["complete"] is True
    again = tb_cli(state_root, "up", "--name", NAME, "--nodes", "2", "--subnet", SUBNET)
    assert again.returncode == 1 and "exists already" in again.stderr


def test_up_over_an_interrupted_up_cleans_its_leftovers(state_root):
    # What an `up` killed after its key, network and first node leaves: no finished state.json.
    sdir = os.path.join(state_root, NAME)
    os.makedirs(sdir)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(sdir, "id_ed25519")],
                   check=True, capture_output=True)
    subprocess.run(["podman", "network", "create", "--subnet", SUBNET, "aiinfra-" + NAME], check=True,
                   capture_output=True)
    with open(os.path.join(sdir, "state.json"), "w") as f:
        json.dump({"name": NAME, "nodes": []}, f)
    proc = tb_cli(state_root, "up", "--name", NAME, "--nodes", "1", "--subnet", SUBNET, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "Overwrite" not in proc.stdout + proc.stderr
    assert "left behind" in proc.stderr
    assert ours() == ([NAME + "-node1"], True)
