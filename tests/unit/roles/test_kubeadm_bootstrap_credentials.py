"""Issue 16, kubeadm bootstrap credentials, read from the role's own task files: no token or certificate key on a
command line (every local user reads argv in /proc), each join with a fresh short-lived token created on the first
control plane and deleted after the join, and every file holding them written 0600 and removed in an `always:`
whatever happens. These fail on the role as it was (the token and the certificate key on kubeadm's argv, one
long-lived token re-created under the same value, kubeadm-config.yaml left on every node)."""

import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TASKS = os.path.join(ROOT, "roles", "kubeadm", "tasks")
SECRET_NAMES = re.compile(r"\b(kubeadm_token|kubeadm_join_token|kubeadm_certificate_key|kubeadm_token_create)\b")
EXPR = re.compile(r"\{\{(.*?)\}\}", re.S)


def walk(tasks, section="tasks"):
    """Every task of a task list (blocks opened), with the section (tasks, always, rescue) it sits in."""
    for task in tasks or []:
        if "block" in task:
            yield from walk(task["block"], section)
            yield from walk(task.get("rescue"), "rescue")
            yield from walk(task.get("always"), "always")
        else:
            yield task, section


def task_file(name):
    with open(os.path.join(TASKS, name)) as f:
        return list(walk(yaml.safe_load(f)))


def all_tasks():
    for name in sorted(os.listdir(TASKS)):
        for task, section in task_file(name):
            yield name, task, section


def argv_of(task):
    cmd = task.get("ansible.builtin.command") or task.get("ansible.builtin.shell")
    if cmd is None:
        return None
    argv = cmd.get("argv") if isinstance(cmd, dict) else None
    text = cmd.get("cmd", "") if isinstance(cmd, dict) else cmd
    return argv if argv is not None else [text]


def secret_expressions(argv):
    """Jinja expressions on a command line that name a credential, except the public id of a token."""
    found = []
    for word in argv if isinstance(argv, list) else [argv]:
        for expr in EXPR.findall(str(word)):
            if SECRET_NAMES.search(expr) and not expr.strip().endswith("aiinfra.cluster.kubeadm_token_id"):
                found.append(expr.strip())
    return found


def test_no_credential_on_any_kubeadm_command_line():
    commands = [(name, task["name"], argv_of(task)) for name, task, _where in all_tasks() if argv_of(task) is not None]
    assert len(commands) > 10  # the role's commands were found
    leaks = [(name, title, secret_expressions(argv)) for name, title, argv in commands if secret_expressions(argv)]
    assert leaks == []


def test_secret_expression_detector_sees_the_old_argv():
    """The detector itself: the old role's command lines are leaks, the token delete by public id is not."""
    assert secret_expressions(["kubeadm", "token", "create", "{{ kubeadm_token }}", "--ttl", "2h"])
    assert secret_expressions(["kubeadm", "init", "phase", "upload-certs", "--certificate-key",
                               "{{ kubeadm_certificate_key }}"])
    assert not secret_expressions(["kubeadm", "token", "delete",
                                   "{{ kubeadm_join_token | aiinfra.cluster.kubeadm_token_id }}"])


def by_name(name):
    return {task["name"]: (task, section) for task, section in task_file(name)}


def test_each_join_creates_a_fresh_short_lived_token_on_the_first_control_plane_and_deletes_it():
    join = by_name("join.yml")
    create, section = join["Create a fresh bootstrap token for this join on the first control-plane node "
                           "(printed once, short-lived)"]
    argv = create["ansible.builtin.command"]["argv"]
    assert argv[:3] == ["kubeadm", "token", "create"] and "--ttl" in argv
    assert argv[argv.index("--ttl") + 1] == "{{ kubeadm_token_ttl }}"
    assert create["delegate_to"] == "{{ groups['k8s_control_plane'][0] }}" and create["no_log"] is True
    assert section == "tasks"
    keep, _where = join["Keep the join token"]
    assert "aiinfra.cluster.kubeadm_created_token" in keep["ansible.builtin.set_fact"]["kubeadm_join_token"]
    config, _where = join["Configuration of this node, with the fresh join token"]
    assert config["vars"] == {"kubeadm_token": "{{ kubeadm_join_token }}"}
    delete, section = join["Delete this join's bootstrap token on the first control-plane node (by its public id)"]
    assert section == "always"
    assert delete["ansible.builtin.command"]["argv"][:3] == ["kubeadm", "token", "delete"]
    with open(os.path.join(ROOT, "roles", "kubeadm", "defaults", "main.yml")) as f:
        ttl = yaml.safe_load(f)["kubeadm_token_ttl"]
    minutes = sum(int(n) * {"h": 60, "m": 1, "s": 1 / 60}[u] for n, u in re.findall(r"(\d+)([hms])", ttl))
    assert 0 < minutes <= 30, ttl


@pytest.mark.parametrize("task_file_name, path_var", [
    ("init.yml", "kubeadm_config_file"),
    ("join.yml", "kubeadm_config_file"),
    ("join.yml", "kubeadm_upload_certs_file"),
])
def test_credential_files_are_0600_read_through_config_and_removed_in_always(task_file_name, path_var):
    tasks = task_file(task_file_name)
    path = "{{ %s }}" % path_var
    writes = [t for t, s in tasks if (t.get("ansible.builtin.copy") or {}).get("dest") == path]
    assert len(writes) == 1
    write = writes[0]["ansible.builtin.copy"]
    assert write["mode"] == "0600" and writes[0]["no_log"] is True and writes[0]["diff"] is False
    readers = [t for t, s in tasks if path in (argv_of(t) or [])]
    assert readers and all(argv_of(t)[argv_of(t).index(path) - 1] == "--config" for t in readers)
    removals = [(t, s) for t, s in tasks
                if (t.get("ansible.builtin.file") or {}).get("path") == path
                and t["ansible.builtin.file"].get("state") == "absent"]
    assert [s for _task, s in removals] == ["always"]


def test_kubeadm_init_prints_neither_token_nor_certificate_key():
    init = [t for t, _where in task_file("init.yml") if argv_of(t) and argv_of(t)[:2] == ["kubeadm", "init"]]
    assert len(init) == 1
    assert {"--skip-token-print", "--skip-certificate-key-print"} <= set(argv_of(init[0]))


def test_a_configuration_left_by_an_older_run_is_removed():
    main = by_name("main.yml")
    task, _where = main["Remove a kubeadm configuration an older run left on the node (it held the bootstrap token and "
                        "certificate key)"]
    assert task["ansible.builtin.file"] == {"path": "{{ kubeadm_config_file }}", "state": "absent"}
