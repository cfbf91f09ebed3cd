"""Run a module of this collection as Ansible runs it on a host: its own Python process, the arguments as JSON in a
file, the result as JSON on stdout. Unlike an in-process call, everything a user can get wrong reaches the module as
it would in a play (option types converted by AnsibleModule, tools found on PATH), and a crash shows as what Ansible
would report: no JSON, a traceback on stderr."""

import json
import os
import subprocess
import sys
import tempfile

import ansible_collections

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


class Run(object):
    def __init__(self, rc, result, stdout, stderr):
        self.rc, self.result, self.stdout, self.stderr = rc, result, stdout, stderr

    @property
    def crashed(self):
        """What Ansible would report as MODULE FAILURE with an ``exception``: no JSON, or a traceback anywhere."""
        return (self.result is None or "exception" in self.result
                or "Traceback (most recent call last)" in self.stdout + self.stderr)


def run_module(name, args, path_prepend=None, prefix=(), timeout=60):
    """Run module ``name`` with ``args``; ``path_prepend`` puts a directory first on PATH (a tool of our own), and
    ``prefix`` wraps the command (e.g. prlimit)."""
    argsfile = os.path.join(tempfile.mkdtemp(), "args.json")
    with open(argsfile, "w") as f:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, f)
    env = dict(os.environ, LC_ALL="C")
    # ansible_collections is a namespace package: its parents hold this collection and the bundled ones
    env["PYTHONPATH"] = os.pathsep.join(os.path.dirname(p) for p in ansible_collections.__path__)
    if path_prepend:
        env["PATH"] = path_prepend + os.pathsep + env.get("PATH", "")
    proc = subprocess.run(list(prefix) + [sys.executable, os.path.join(ROOT, "plugins", "modules", name + ".py"),
                                          argsfile], capture_output=True, text=True, check=False, env=env,
                          timeout=timeout)
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        result = None
    return Run(proc.returncode, result, proc.stdout, proc.stderr)
