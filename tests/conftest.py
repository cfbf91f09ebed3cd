"""Make this checkout importable as ansible_collections.aiinfra.cluster for the unit tests."""

import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _collection_root():
    here = os.path.join(ROOT, ".collections")
    if os.path.isdir(os.path.join(here, "ansible_collections", "aiinfra", "cluster")):
        return here
    tmp = tempfile.mkdtemp(prefix="aiinfra-collection-")
    os.makedirs(os.path.join(tmp, "ansible_collections", "aiinfra"))
    os.symlink(ROOT, os.path.join(tmp, "ansible_collections", "aiinfra", "cluster"))
    return tmp


# Running inside an installed collection tree (ansible-test units), the import works already.
if "/ansible_collections/aiinfra/cluster" not in ROOT.replace(os.sep, "/"):
    sys.path.insert(0, _collection_root())
