"""Run one of the collection's modules as Ansible runs it on a host: its own process, JSON args in, JSON out."""

import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def collection_path():
    """A directory holding ansible_collections/aiinfra/cluster -> this checkout."""
    path = os.path.join(ROOT, ".collections")
    if not os.path.isdir(os.path.join(path, "ansible_collections", "aiinfra", "cluster")):
        path = tempfile.mkdtemp()
        os.makedirs(os.path.join(path, "ansible_collections", "aiinfra"))
        os.symlink(ROOT, os.path.join(path, "ansible_collections", "aiinfra", "cluster"))
    return path


def run_module(name, args, prefix=()):
    """(rc, result) of module ``name`` with ``args``; ``prefix`` runs it elsewhere (e.g. nsenter into a node)."""
    argsfile = os.path.join(tempfile.mkdtemp(), "args.json")
    with open(argsfile, "w") as f:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, f)
    proc = subprocess.run(list(prefix) + ["env", "PYTHONPATH=%s" % collection_path(), sys.executable,
                                          os.path.join(ROOT, "plugins", "modules", name + ".py"), argsfile],
                          capture_output=True, text=True, check=False)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("module %s printed no JSON: %s %s" % (name, proc.stdout, proc.stderr))
