"""execution-environment.yml (ansible-builder v3): `ansible-builder create` writes a build context whose Python,
system and collection requirements are exactly the collection's: the third-party libraries its plugins import,
those the modules it calls need, the collections it depends on, and the collection itself (built from this
checkout). No container engine is needed for `create`; building the image is left to users with one."""

import ast
import glob
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from ansible_env import BIN, ENV, ROOT

BUILDER = os.path.join(BIN, "ansible-builder")
pytestmark = pytest.mark.skipif(not os.path.exists(BUILDER), reason="ansible-builder is in requirements.txt")

# Top-level import name -> PyPI name, for the libraries a plugin may import.
PIP_NAMES = {"kubernetes": "kubernetes", "jenkins": "python-jenkins", "passlib": "passlib", "jmespath": "jmespath",
             "netaddr": "netaddr", "yaml": "PyYAML",
             "urllib3": "kubernetes"}  # urllib3 comes with (and is used through) the kubernetes client


def requirement_names(path):
    with open(path) as f:
        lines = [line.split("#", 1)[0].strip() for line in f]
    return {re.split(r"[<>=!~ \[]", line, maxsplit=1)[0].lower() for line in lines if line}


def plugin_imports():
    """Third-party top-level modules imported anywhere in plugins/ (the standard library and ansible excluded)."""
    found = set()
    for path in glob.glob(os.path.join(ROOT, "plugins", "**", "*.py"), recursive=True):
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("ansible", "ansible_collections", "__future__"):
                    found.add(top)
    return found


def roles_use(pattern):
    for path in glob.glob(os.path.join(ROOT, "roles", "**", "*.*"), recursive=True):
        if path.endswith((".yml", ".j2")):
            with open(path) as f:
                if re.search(pattern, f.read()):
                    return True
    return False


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    work = tmp_path_factory.mktemp("ee")
    for name in ("execution-environment.yml", "requirements.yml"):
        shutil.copy(os.path.join(ROOT, name), work / name)
    shutil.copytree(os.path.join(ROOT, "meta"), work / "meta")
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(work / "ee-build"),
                    ROOT], env=ENV, check=True, capture_output=True)
    proc = subprocess.run([BUILDER, "create", "-f", "execution-environment.yml", "-c", str(work / "context")],
                          cwd=work, env=ENV, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return work / "context"


def test_python_requirements_are_exactly_the_collections(context):
    listed = requirement_names(context / "_build" / "requirements.txt")
    assert listed == requirement_names(os.path.join(ROOT, "meta", "ee-requirements.txt"))
    needed = {PIP_NAMES[m].lower() for m in plugin_imports()}
    if roles_use(r"community\.general\.jenkins_job"):
        needed.add("python-jenkins")
    if roles_use(r"password_hash\(\s*'bcrypt'"):
        needed |= {"passlib", "bcrypt"}
    if roles_use(r"kubernetes\.core\."):
        needed.add("kubernetes")
    # the listed libraries: every one needed, and the two needed by filters of the bundled collections only
    assert needed <= listed, needed - listed
    assert listed - needed <= {"jmespath", "netaddr"}
    # none of the test tooling of the checkout's own requirements.txt leaks into the image
    assert not listed & {"pytest", "molecule", "ansible-lint", "pytest-testinfra", "kubernetes-validate",
                         "helm-python-sdk"}


def test_collections_and_system_packages(context):
    with open(context / "_build" / "requirements.yml") as f:
        collections = {c["name"] for c in yaml.safe_load(f)["collections"]}
    with open(os.path.join(ROOT, "galaxy.yml")) as f:
        assert collections == set(yaml.safe_load(f)["dependencies"])
    bindep = (context / "_build" / "bindep.txt").read_text()
    assert "openssh-client" in bindep and "git" in bindep
    containerfile = (context / "Containerfile").read_text()
    assert "ansible-galaxy collection install --no-deps /build/collection/aiinfra-cluster-" in containerfile
    assert glob.glob(str(context / "_build" / "collection" / "aiinfra-cluster-*.tar.gz"))
    assert re.search(r'ANSIBLE_INSTALL_REFS="ansible-core[^"]*ansible-runner', containerfile)


def test_collection_metadata_points_builder_at_the_same_files():
    with open(os.path.join(ROOT, "meta", "execution-environment.yml")) as f:
        meta = yaml.safe_load(f)
    for key in ("python", "system"):
        assert os.path.isfile(os.path.join(ROOT, meta["dependencies"][key]))
    with open(os.path.join(ROOT, "execution-environment.yml")) as f:
        ee = yaml.safe_load(f)
    assert ee["dependencies"]["python"] == meta["dependencies"]["python"]
    assert ee["dependencies"]["system"] == meta["dependencies"]["system"]
