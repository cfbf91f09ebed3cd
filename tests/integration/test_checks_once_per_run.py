"""The controller-side checks that used to cost one task per host per play (issue 18) still catch what they caught,
name the hosts at fault, and run once: the facts layer's argument validation (once per run, in the first play that
loads the facts layer), node_baseline's extra-runtime check (one task for all hosts) and its registry list (checked
in the probe's arguments, before anything changes). Local-connection hosts: this runs anywhere, nothing is changed
(every failure below happens before any module that changes something)."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")

pytestmark = pytest.mark.skipif(not os.path.isdir(os.path.join(ROOT, ".collections")),
                                reason="run scripts/setup.sh first")

LOCAL = "ansible_connection: local, ansible_python_interpreter: '{{ ansible_playbook_python }}'"
VALIDATE = "aiinfra.cluster.k8s : Validate the facts layer's values for this host (once per run)"


def run(tmp_path, inventory, playbook, *extra):
    (tmp_path / "hosts.yml").write_text(inventory)
    (tmp_path / "play.yml").write_text(playbook)
    env = dict(os.environ, LC_ALL="C.UTF-8", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), ANSIBLE_NOCOLOR="1")
    out = subprocess.run([PLAYBOOK, "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml"), *extra],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    return out.returncode, out.stdout + out.stderr


def task_results(text, task):
    """{play name: [result lines of `task` in that play]}, e.g. ['ok: [a]', 'skipping: [b]']."""
    found = {}
    for play in re.split(r"^PLAY \[", text, flags=re.M)[1:]:
        name = play.split("]", 1)[0]
        for block in re.split(r"^TASK \[", play, flags=re.M)[1:]:
            if block.startswith(task):
                found.setdefault(name, []).extend(
                    sorted(re.findall(r"^(?:ok|skipping|fatal|changed): \[[^\]]+\]", block, re.M)))
    return found


FACTS_PLAYS = """
- name: first
  hosts: nodes
  gather_facts: false
  roles: [{role: aiinfra.cluster.k8s}]
- name: second
  hosts: nodes
  gather_facts: false
  roles: [{role: aiinfra.cluster.k8s}]
- name: again on request
  hosts: nodes
  gather_facts: false
  tasks:
    - {name: validate, ansible.builtin.import_role: {name: aiinfra.cluster.k8s, tasks_from: validate}}
"""


def facts_inventory(b_vars=""):
    return f"""
nodes:
  vars: {{k8s_distribution: k3s, k8s_version: v1.31.4+k3s1}}
  hosts:
    a: {{{LOCAL}}}
    b: {{{LOCAL}{b_vars}}}
"""


def test_the_facts_layer_is_validated_once_per_run_for_every_host(tmp_path):
    rc, text = run(tmp_path, facts_inventory(), FACTS_PLAYS)
    assert rc == 0, text
    # validated in the first play; in the second the role ends before the task (a meta task, nothing sent to a host)
    assert task_results(text, VALIDATE) == {"first": ["ok: [a]", "ok: [b]"]}, text
    assert task_results(text, "aiinfra.cluster.k8s : End the facts layer for a host this run validated")[
        "first"] == ["skipping: [a]", "skipping: [b]"], text
    # no validation task of Ansible's own per play (the entry point main has no argument spec) ...
    assert "Validating arguments against arg spec 'main'" not in text
    # ... while tasks_from validate validates every host again, every time
    assert task_results(text, "aiinfra.cluster.k8s : Validating arguments against arg spec 'validate'") == {
        "again on request": ["ok: [a]", "ok: [b]"]}, text


def test_a_bad_value_on_one_host_fails_that_host_in_the_first_play(tmp_path):
    rc, text = run(tmp_path, facts_inventory(", k8s_api_lb_port: not-a-port"), FACTS_PLAYS)
    assert rc == 2, text
    assert task_results(text, VALIDATE) == {"first": ["fatal: [b]", "ok: [a]"]}, text
    assert "argument 'k8s_api_lb_port' is of type str and we were unable to convert to int" in text
    assert "PLAY [second]" in text and "[b]" not in text.split("PLAY [second]", 1)[1]  # b is out of the run


BASELINE_PLAY = """
- name: baseline
  hosts: nodes
  gather_facts: false
  roles: [{role: aiinfra.cluster.node_baseline}]
"""


def baseline_inventory(all_vars="", b_vars=""):
    return f"""
nodes:
  vars: {{k8s_distribution: k3s, k8s_version: v1.31.4+k3s1{all_vars}}}
  hosts:
    a: {{{LOCAL}}}
    b: {{{LOCAL}{b_vars}}}
    c: {{{LOCAL}{b_vars}}}
"""


def test_a_runtime_without_binary_is_named_with_its_hosts_in_one_check(tmp_path):
    rc, text = run(tmp_path, baseline_inventory(b_vars=", node_baseline_containerd_runtimes: {kata: {runtime_type: x}}"),
                   BASELINE_PLAY, "--check")
    assert rc == 2, text
    assert ("node_baseline_containerd_runtimes: every runtime needs a binary (its BinaryName); missing for b (kata); "
            "c (kata)") in text
    results = task_results(text, "aiinfra.cluster.node_baseline : Check every host's extra runtimes")
    assert list(results.values()) == [["fatal: [a]"]], results  # one task for all hosts
    assert "Read the node's baseline state" not in text  # nothing after it ran


def test_the_runtime_check_passes_a_runtime_with_its_binary(tmp_path):
    """The control for the test above: the same runtime with a binary passes the check (the run goes on to the
    probe, stopped here by the bad registry entry of the next test)."""
    rc, text = run(tmp_path, baseline_inventory(
        all_vars=", node_baseline_registries: [{name: 'bad name with spaces'}]",
        b_vars=", node_baseline_containerd_runtimes: {kata: {binary: /usr/bin/kata}}"), BASELINE_PLAY, "--check")
    assert "missing for" not in text
    assert task_results(text, "aiinfra.cluster.node_baseline : Check every host's extra runtimes") != {}


def test_a_bad_registry_entry_fails_each_host_before_anything_changes(tmp_path):
    rc, text = run(tmp_path, baseline_inventory(all_vars=", node_baseline_registries: [{name: 'bad name with spaces'}]"),
                   BASELINE_PLAY, "--check")
    assert rc == 2, text
    results = task_results(text, "aiinfra.cluster.node_baseline : Read the node's baseline state")
    assert list(results.values()) == [["fatal: [a]", "fatal: [b]", "fatal: [c]"]], text
    assert "node_baseline_registries: " in text
    assert "Repair what does not hold" not in text
