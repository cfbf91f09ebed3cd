"""Test fixture of the ha scenario: a real etcd snapshot on the controller (Debian's etcd-server, one member on
loopback, started and stopped here), for the restore test. Usage: make_snapshot.py DEST"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "integration"))
from etcd_cluster import Cluster  # noqa: E402


def main(dest):
    cluster = Cluster(size=1, base_port=45300)
    try:
        cluster.start()
        cluster.etcdctl("put", "/registry/secrets/default/s1", "molecule-ha")
        cluster.etcdctl("snapshot", "save", dest + ".part")
        os.chmod(dest + ".part", 0o600)
        os.rename(dest + ".part", dest)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main(sys.argv[1])
