"""What the integration tests need to run ansible-playbook against this checkout: the collection found through
.collections (scripts/setup.sh makes it), the repository's ansible.cfg, no colour."""

import json
import os
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
ENV = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
           ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"))
needs_collection = pytest.mark.skipif(not os.path.isdir(os.path.join(ROOT, ".collections")),
                                      reason="run scripts/setup.sh first")


def ansible_playbook(*args):
    """Run ansible-playbook from the repository root; the finished process (stdout and stderr as text)."""
    return subprocess.run([os.path.join(BIN, "ansible-playbook"), *[str(a) for a in args]], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, check=False)


def validate_manifests(directory):
    """scripts/validate_manifests.py on a render directory; the finished process."""
    return subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "validate_manifests.py"), str(directory)],
                          capture_output=True, text=True, check=False)


def only_roles(*roles):
    """ansible-playbook arguments that make playbooks/render.yml render just these roles (a full lab render takes
    about a minute; a test that looks at one layer renders that layer)."""
    return ("-e", json.dumps({"render_roles": list(roles)}))


def yaml_docs(path):
    """The non-empty YAML documents of a rendered file, in order."""
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]
