"""aiinfra.cluster.controller_secret through ansible-playbook: created once, censored, check mode writes nothing,
bad input is one clear failure (never a traceback), and it runs on the controller whatever host the task is for."""

import os
import stat

from ansible_env import ansible_playbook, needs_collection

PLAY = """
- hosts: nodes
  gather_facts: false
  tasks:
    - name: The secret
      aiinfra.cluster.controller_secret:
        path: "{{ secret_path }}"
        format: "{{ secret_format | default('password') }}"
        length: "{{ secret_length | default(omit) }}"
      register: got
    - name: Show its shape (never the value)
      ansible.builtin.debug:
        msg: "len={{ got.secret | length }} stand_in={{ got.stand_in }} changed={{ got.changed }}"
"""

INVENTORY = """
nodes:
  hosts:
    n1: {ansible_host: 198.18.250.1, ansible_connection: ssh, ansible_user: nobody}
    n2: {ansible_host: 198.18.250.2, ansible_connection: ssh, ansible_user: nobody}
"""


def run(tmp_path, *args):
    play = tmp_path / "play.yml"
    play.write_text(PLAY)
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(INVENTORY)
    return ansible_playbook("-i", inventory, play, *args)


@needs_collection
def test_created_once_on_the_controller_for_unreachable_hosts_and_censored(tmp_path):
    path = tmp_path / "creds" / "grafana-admin-password"
    check = run(tmp_path, "--check", "-e", "secret_path=%s" % path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "len=32 stand_in=True changed=True" in check.stdout
    assert not path.parent.exists()  # check mode wrote nothing
    first = run(tmp_path, "-e", "secret_path=%s" % path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "changed=1" in first.stdout  # one host created it, the other read it (exclusive create)
    value = path.read_text().strip()
    assert len(value) == 32 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert value not in first.stdout + first.stderr
    second = run(tmp_path, "-vvv", "-e", "secret_path=%s" % path)
    assert second.returncode == 0
    assert "changed=0" in second.stdout and "changed=1" not in second.stdout
    assert value not in second.stdout + second.stderr  # censored even at -vvv
    assert "len=32 stand_in=False changed=False" in second.stdout


@needs_collection
def test_bad_input_is_one_clear_failure(tmp_path):
    (tmp_path / "notadir").write_text("x")
    for extra, message in [
        (["-e", "secret_path=%s" % tmp_path], "is a directory"),
        (["-e", "secret_path=%s/notadir/x" % tmp_path], "is not a directory"),
        (["-e", "secret_path=%s/k" % tmp_path, "-e", "secret_format=rot13"], "format must be one of"),
        (["-e", "secret_path=%s/k" % tmp_path, "-e", "secret_length=8"], "between 16 and 1024"),
    ]:
        out = run(tmp_path, *extra)
        text = out.stdout + out.stderr
        assert out.returncode == 2, text
        assert "Traceback" not in text
        assert message in text, text
