"""Shared by the ha scenario's tests: reach a node by name, run a playbook against the scenario's nodes the way
molecule does (its inventory and ansible.cfg, this checkout's collection), output without colour codes."""

import json
import os
import re
import subprocess
import sys

import testinfra

PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.getcwd())
INVENTORY = os.environ.get("MOLECULE_INVENTORY_FILE", "")
EPHEMERAL = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "")


def node(name):
    return testinfra.get_host("ansible://%s" % name, ansible_inventory=INVENTORY)


def ansible_playbook(playbook, extra_vars, *args):
    """Run a playbook (path relative to the checkout) on the scenario's nodes; (rc, stdout + stderr)."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(PROJECT, ".collections"))
    if os.path.exists(os.path.join(EPHEMERAL, "ansible.cfg")):
        env["ANSIBLE_CONFIG"] = os.path.join(EPHEMERAL, "ansible.cfg")
    run = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), playbook,
                          "-i", INVENTORY, "-e", json.dumps(extra_vars), *args],
                         cwd=PROJECT, env=env, capture_output=True, text=True, check=False)
    return run.returncode, re.sub(r"\x1b\[[0-9;]*m", "", run.stdout + run.stderr)
