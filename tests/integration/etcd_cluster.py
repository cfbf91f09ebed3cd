"""A real etcd cluster on loopback for the live tests (Debian's etcd-server 3.4), started and stopped by them."""

import os
import shutil
import subprocess
import tempfile
import time

ENV = dict(os.environ, ETCDCTL_API="3", LC_ALL="C")


class Member:
    def __init__(self, name, client, peer, data_dir):
        self.name, self.client, self.peer, self.data_dir = name, client, peer, data_dir
        self.proc = None

    def start(self, initial_cluster, state="new", token="aiinfra-test"):
        log = open(self.data_dir + ".log", "ab")
        self.proc = subprocess.Popen(
            ["etcd", "--name", self.name, "--data-dir", self.data_dir, "--listen-client-urls", self.client,
             "--advertise-client-urls", self.client, "--listen-peer-urls", self.peer,
             "--initial-advertise-peer-urls", self.peer, "--initial-cluster", initial_cluster,
             "--initial-cluster-state", state, "--initial-cluster-token", token],
            stdout=log, stderr=subprocess.STDOUT)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Cluster:
    def __init__(self, size=3, base_port=42000):
        self.dir = tempfile.mkdtemp(prefix="aiinfra-etcd-")
        self.members = [Member("m%d" % i, "http://127.0.0.1:%d" % (base_port + 10 * i),
                               "http://127.0.0.1:%d" % (base_port + 10 * i + 1), os.path.join(self.dir, "m%d" % i))
                        for i in range(1, size + 1)]
        self.initial = ",".join("%s=%s" % (m.name, m.peer) for m in self.members)

    @property
    def endpoints(self):
        return [m.client for m in self.members]

    def start(self):
        for m in self.members:
            m.start(self.initial)
        self.wait_healthy(self.endpoints)

    def etcdctl(self, *args, endpoints=None, check=True):
        return subprocess.run(["etcdctl", "--endpoints=%s" % ",".join(endpoints or self.endpoints),
                               "--dial-timeout=2s", "--command-timeout=5s", *args],
                              env=ENV, capture_output=True, text=True, check=check)

    def wait_healthy(self, endpoints, timeout=30):
        deadline = time.time() + timeout
        while self.etcdctl("endpoint", "health", endpoints=endpoints, check=False).returncode != 0:
            assert time.time() < deadline, "etcd did not become healthy"
            time.sleep(0.2)

    def stop(self):
        for m in self.members:
            m.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
