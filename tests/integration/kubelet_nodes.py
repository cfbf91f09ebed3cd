"""Real nodes under the real API server (issue 20): kubelets v1.20.2 on test-bed nodes, so that waits, drains,
upgrades and the DR drill run against pods that really run.

    tier = NodeTier().start()     # ~2-4 min: images, registry, control plane, site.yml on three nodes, kubelets
    tier.ansible("playbooks/upgrade.yml", "--tags", "workers")
    tier.stop()

What is real here, and what stands in (tests/README.md, "The kubelet tier", lists the same):
- The nodes: test-bed containers (scripts/testbed.py, Debian 12 with systemd), each in a private cgroup namespace
  (`--cgroupns private`: without it runc computes a container's /sys/fs/cgroup mount from the host's hierarchy and
  fails with "stat /sys/fs/kubepods/...: no such file or directory").
- The node layer: `playbooks/site.yml` configures every node as it would a lab node (node_baseline: containerd with
  its CRI section, the registry's certs.d hosts.toml, sysctls, the CNI plugins package). The kubelet talks to that
  containerd on the socket the facts layer names; nothing of containerd is set up by this file.
- The control plane: Debian's etcd and kube-apiserver, kube-controller-manager and kube-scheduler v1.20.2 built from
  Debian's source package, as processes on this machine, listening on the test bed's gateway address (the nodes
  reach it over their network, as they would a VIP).
- The kubelets: kubelet, kubeadm and kubectl packages built from the cached binaries (tests/integration/kube_debs.py:
  v1.20.2, and the same source labelled v1.20.1 as the "old" release) in a signed apt repository on the gateway,
  installed by the kubeadm role's own `packages` tasks (repository, install, holds) at v1.20.1; upgrade.yml moves
  them to v1.20.2 with the kubeadm role's `upgrade` tasks (real `kubeadm upgrade node` against the kubeadm-config
  and kubelet-config ConfigMaps that the real `kubeadm init phase upload-config all` created). STAND-IN: `kubeadm
  join` itself - this file writes what it would leave on the node (/etc/kubernetes/kubelet.conf with a
  system:node:<name> client certificate issued directly instead of through a bootstrap token and a CSR,
  /var/lib/kubelet/config.yaml, kubeadm-flags.env) and starts the package's kubelet unit.
- The CNI: Debian's containernetworking-plugins (bridge + host-local, one /24 per node, routes between the nodes)
  in place of Cilium, whose images cannot be had here.
- Images: pause (compiled from the Kubernetes tree's build/pause/linux/pause.c) and busybox (Debian's
  busybox-static; `httpd` answers readiness probes), built as OCI images by tests/integration/oci_image.py and
  pushed to Debian's docker-registry on the gateway; every node pulls them through its certs.d (plain HTTP on a
  non-loopback address: without node_baseline's hosts.toml the pull fails).

Addresses: the test bed `kubelets` on 198.18.21.0/24 (gateway .1 runs the API server on 6443, the registry on 5000
and the apt repository on 5080; nodes .11-.14), etcd on 127.0.0.1:27110/27111.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kube_api  # noqa: E402
import kube_debs  # noqa: E402
import oci_image  # noqa: E402
from ansible_env import BIN, ENV as ANSIBLE_ENV, ROOT  # noqa: E402

NAME = "kubelets"
SUBNET_PREFIX = "198.18.21"
GATEWAY = SUBNET_PREFIX + ".1"
API_PORT = 6443
REGISTRY = "%s:5000" % GATEWAY
APT_PORT = 5080
APT_URL = "http://%s:%d/" % (GATEWAY, APT_PORT)
# The release the nodes are installed with, and the one upgrade.yml upgrades them to (see kube_debs.py: the same
# v1.20.2 source, the old one built with another version label).
OLD_RELEASE, NEW_RELEASE = "v1.20.1", "v1.20.2"
ETCD_BASE_PORT = 27100
INOTIFY_INSTANCES = 1024
POD_CIDR = "10.244.%d.0/24"
IMAGES = {"pause": REGISTRY + "/aiinfra/pause:3.4.1", "busybox": REGISTRY + "/aiinfra/busybox:1.35"}
TESTBED = os.path.join(ROOT, "scripts", "testbed.py")
ENV = dict(os.environ, LC_ALL="C")


def log(msg):
    print("kubelet tier: %s" % msg, file=sys.stderr, flush=True)


def run(argv, check=True, **kw):
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=kw.pop("env", ENV), check=False,
                          **kw)
    if check and proc.returncode != 0:
        raise AssertionError("command failed (rc=%d): %s\nstdout: %s\nstderr: %s" % (
            proc.returncode, " ".join(str(a) for a in argv), proc.stdout[-3000:], proc.stderr[-3000:]))
    return proc


def wait_for(predicate, timeout, what, interval=1.0):
    """Poll until predicate() is truthy; its value. Fails with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = predicate()
        except AssertionError as exc:  # a failing probe is retried until the deadline
            value, last = None, exc
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ds waiting for %s (last: %s)" % (timeout, what, last))
        time.sleep(interval)


class Process:
    """A long-running control-plane process with its log in the tier's directory."""

    def __init__(self, name, argv, workdir):
        self.name, self.argv = name, argv
        self.log = os.path.join(workdir, name + ".log")
        self.proc = None

    def start(self):
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, env=ENV,
                                         start_new_session=True)
        return self

    def stop(self):
        kube_api.stop_process(self.proc, 20)


class NodeTier:
    """Three kubelet nodes (node1 in k8s_control_plane, node2 and node3 workers) and a spare fourth test-bed node
    (node4, a worker of the inventory that nothing has touched: add_node.yml's target), under one control plane."""

    def __init__(self, nodes=4, joined=3):
        self.binaries = {c: kube_api.require_binary(c) for c in (
            "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet")}
        kube_api.require_tools("dpkg-deb", "gpg", "gpg-agent")
        kube_api.require_tools("etcd", "etcdctl", "docker-registry", "skopeo", "podman", "gcc")
        self.count, self.joined_count = nodes, joined
        self.dir = tempfile.mkdtemp(prefix="aiinfra-kubelets-")
        self.testbed_root = os.path.join(self.dir, "testbed")
        self.inventory_dir = os.path.join(self.dir, "inventory")
        self.credentials = os.path.join(self.dir, "credentials")
        os.makedirs(os.path.join(self.inventory_dir, "group_vars"))
        os.makedirs(self.credentials, mode=0o700)
        self.inventory = os.path.join(self.inventory_dir, "hosts.yml")
        self.names = ["node%d" % i for i in range(1, nodes + 1)]
        self.ips = {n: "%s.%d" % (SUBNET_PREFIX, 10 + i) for i, n in enumerate(self.names, 1)}
        self.processes = []
        self.joined = []
        self.times = {}
        self.pki = None
        self.etcd = None
        self.apiserver = None
        self.repo = None

    # --- start and stop ---------------------------------------------------------------------------------------

    def start(self):
        try:
            t0 = time.monotonic()
            self._testbed_up()
            self._registry()
            self._apt_repository()
            self._control_plane()
            self._write_inventory()
            self._converge(self.names[:self.joined_count])
            self.install_packages(self.names[:self.joined_count])
            for name in self.names[:self.joined_count]:
                self.join(name)
            self.wait_nodes_ready(self.names[:self.joined_count])
            # after node1 registered: the kubelet phase annotates the first control-plane node's Node object
            self._upload_kubeadm_config()
            # v1.20.2's node lifecycle controller, started before any node was Ready, never tainted a lost node
            # NoExecute here (its pods were never evicted; after a restart it did at once): start it again now
            self.controller_manager.stop()
            self.controller_manager.start()
            self.times["tier start-up s"] = round(time.monotonic() - t0, 1)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        for proc in reversed(self.processes):
            proc.stop()
        if getattr(self, "repo_server", None) is not None:
            self.repo_server.stop()
        if self.apiserver is not None:
            self.apiserver.stop()
        if self.etcd is not None:
            self.etcd.stop()
        run([sys.executable, TESTBED, "--state-root", self.testbed_root, "down", "--name", NAME], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _testbed_up(self):
        # Four nodes' systemd, containerd and kubelet (cAdvisor) with the host's own: more inotify instances than the
        # kernel's default of 128 per user allows on a fresh machine (TESTBED notes); raised, never lowered.
        limit = "/proc/sys/fs/inotify/max_user_instances"
        with open(limit) as f:
            instances = int(f.read())
        if instances < INOTIFY_INSTANCES:
            log("raising fs.inotify.max_user_instances from %d to %d" % (instances, INOTIFY_INSTANCES))
            with open(limit, "w") as f:
                f.write("%d\n" % INOTIFY_INSTANCES)
        groups = "k8s_control_plane=node1;k8s_workers=" + ",".join(self.names[1:])
        t0 = time.monotonic()
        run([sys.executable, TESTBED, "--state-root", self.testbed_root, "up", "--name", NAME,
             "--nodes", self.count, "--subnet", SUBNET_PREFIX + ".0/24", "--groups", groups,
             "--cgroupns", "private", "--inventory", self.inventory])
        self.times["test bed up s"] = round(time.monotonic() - t0, 1)
        with open(os.path.join(self.testbed_root, NAME, "state.json")) as f:
            state = json.load(f)
        assert {n["name"]: n["ip"] for n in state["nodes"]} == self.ips, state["nodes"]
        self.containers = {n["name"]: n["container"] for n in state["nodes"]}

    def _registry(self):
        """Debian's docker-registry on the gateway (plain HTTP, not loopback) holding the pause and busybox images."""
        layout = os.path.join(self.dir, "oci")
        pause = os.path.join(self.dir, "pause")
        src = os.path.join(kube_api.cache_dir(), "src")
        pause_c = os.path.join(src, "build", "pause", "linux", "pause.c")
        assert os.path.exists(pause_c), "the Kubernetes source tree is gone (%s): rebuild with scripts/build_kubernetes.sh" % src
        run(["gcc", "-Os", "-static", "-DVERSION=3.4.1", "-o", pause, pause_c])
        oci_image.build_image(layout, "pause", {"pause": pause}, entrypoint=["/pause"])
        oci_image.build(layout, "busybox", "/bin/busybox")
        config = os.path.join(self.dir, "registry.yml")
        with open(config, "w") as f:
            yaml.safe_dump({"version": 0.1, "storage": {"filesystem": {"rootdirectory": os.path.join(self.dir, "registry")}},
                            "http": {"addr": REGISTRY}}, f)
        self.processes.append(Process("registry", ["docker-registry", "serve", config], self.dir).start())
        for tag, ref in IMAGES.items():
            wait_for(lambda tag=tag, ref=ref: run(["skopeo", "copy", "--dest-tls-verify=false", "oci:%s:%s" % (layout, tag),
                                                   "docker://" + ref], check=False).returncode == 0,
                     30, "pushing %s to the registry" % ref)

    def _apt_repository(self):
        """kubelet, kubeadm and kubectl at OLD_RELEASE and NEW_RELEASE in a signed apt repository on the gateway."""
        t0 = time.monotonic()
        for release in (OLD_RELEASE, NEW_RELEASE):
            assert kube_debs.cached_binaries(release), (
                "kubelet/kubeadm/kubectl %s are not built: scripts/build_kubernetes.sh%s --components "
                "'kubelet kubeadm kubectl'" % (release, "" if release == NEW_RELEASE else " --version-label " + release))
        self.repo = kube_debs.build_repo(os.path.join(self.dir, "apt"), (NEW_RELEASE, OLD_RELEASE))
        self.repo_server = kube_debs.RepoServer(self.repo.path, host=GATEWAY, port=APT_PORT).start()
        self.times["apt repository (6 packages) built s"] = round(time.monotonic() - t0, 1)

    def _upload_kubeadm_config(self):
        """What `kubeadm init` stores for `kubeadm upgrade node` (ClusterConfiguration, the kubelet's configuration,
        the RBAC that lets nodes read them): the real kubeadm's `init phase upload-config all`."""
        kubeadm = kube_debs.cached_binaries(NEW_RELEASE)["kubeadm"]
        documents = [
            {"apiVersion": "kubeadm.k8s.io/v1beta2", "kind": "InitConfiguration",
             "localAPIEndpoint": {"advertiseAddress": GATEWAY, "bindPort": API_PORT},
             "nodeRegistration": {"name": "node1", "criSocket": "/run/containerd/containerd.sock"}},
            {"apiVersion": "kubeadm.k8s.io/v1beta2", "kind": "ClusterConfiguration", "kubernetesVersion": OLD_RELEASE,
             "controlPlaneEndpoint": "%s:%d" % (GATEWAY, API_PORT),
             "networking": {"podSubnet": "10.244.0.0/16", "serviceSubnet": kube_api.SERVICE_CIDR}},
            self.kubelet_config()]
        path = os.path.join(self.dir, "kubeadm-upload.yaml")
        with open(path, "w") as f:
            yaml.safe_dump_all(documents, f)
        run([kubeadm, "init", "phase", "upload-config", "all", "--config", path, "--kubeconfig", self.kubeconfig])

    def install_packages(self, names, release=OLD_RELEASE):
        """kubelet, kubeadm and kubectl `release` on `names` by the kubeadm role's own `packages` tasks."""
        path = os.path.join(self.dir, "packages.yml")
        with open(path, "w") as f:
            yaml.safe_dump([{"name": "The kubeadm role's package tasks", "hosts": ",".join(names),
                             "gather_facts": False, "tasks": [{
                                 "name": "Packages", "ansible.builtin.include_role": {
                                     "name": "aiinfra.cluster.kubeadm", "tasks_from": "packages"},
                                 "vars": {"kubeadm_node_role": "agent"}}]}], f, sort_keys=False)
        t0 = time.monotonic()
        self.ansible(path, "-e", "k8s_version=" + release, check=True)
        self.times["kubeadm role packages (%s) on %d node(s) s" % (release, len(names))] = round(
            time.monotonic() - t0, 1)

    def _control_plane(self):
        self.pki = kube_api.PKI(os.path.join(self.dir, "pki"))
        self.etcd = kube_api.TLSCluster(self.pki, size=1, base_port=ETCD_BASE_PORT)
        self.etcd.start()
        kubelet_client = self.pki.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client",
                                        organizations=["system:masters"], client=True)
        self.apiserver = kube_api.APIServer(
            "apiserver", GATEWAY, API_PORT, self.etcd, self.pki, self.dir, self.binaries["kube-apiserver"],
            extra_args=("--kubelet-client-certificate=%s" % kubelet_client[0],
                        "--kubelet-client-key=%s" % kubelet_client[1],
                        "--kubelet-preferred-address-types=InternalIP"))
        self.apiserver.start()
        self.apiserver.wait_ready()
        self.admin_cert, self.admin_key = self.pki.issue("admin", "aiinfra-admin", organizations=["system:masters"],
                                                         client=True)
        self.kubeconfig = self.write_kubeconfig(os.path.join(self.credentials, "kubeconfig"), "admin",
                                                self.admin_cert, self.admin_key)
        cm = self.write_kubeconfig(os.path.join(self.dir, "controller-manager.kubeconfig"), "controller-manager",
                                   *self.pki.issue("controller-manager", "system:kube-controller-manager", client=True))
        sched = self.write_kubeconfig(os.path.join(self.dir, "scheduler.kubeconfig"), "scheduler",
                                      *self.pki.issue("scheduler", "system:kube-scheduler", client=True))
        self.controller_manager = Process("kube-controller-manager", [
            self.binaries["kube-controller-manager"], "--kubeconfig", cm, "--authentication-kubeconfig", cm,
            "--authorization-kubeconfig", cm, "--use-service-account-credentials",
            "--service-account-private-key-file", self.pki.sa_key, "--root-ca-file", self.pki.ca,
            "--leader-elect=false", "--controllers=*,-nodeipam", "--bind-address=127.0.0.1", "--secure-port=0",
            "--port=0",
            # NotReady after 20 s without a status update (default 40 s): the drill's detection time is this plus
            # the 5 s monitor period.
            "--node-monitor-grace-period=20s", "--node-monitor-period=5s"], self.dir).start()
        self.processes.append(self.controller_manager)
        self.processes.append(Process("kube-scheduler", [
            self.binaries["kube-scheduler"], "--kubeconfig", sched, "--authentication-kubeconfig", sched,
            "--authorization-kubeconfig", sched, "--leader-elect=false", "--bind-address=127.0.0.1",
            "--secure-port=0", "--port=0"], self.dir).start())
        wait_for(lambda: self.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")[0] == 200, 120,
                 "the controller manager (the default ServiceAccount)")

    def write_kubeconfig(self, path, name, cert, key):
        doc = kube_api.kubeconfig_document(self.apiserver.url, self.pki.ca, cert, key, name="kubelets-" + name)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            yaml.safe_dump(doc, f)
        return path

    def _write_inventory(self):
        """group_vars for the tier: the lab's node layer on a kubeadm-shaped cluster whose control plane is not
        installed by the collection (it runs on this machine), the registry on the gateway, no CNI layer."""
        tier_vars = {
            "k8s_distribution": "kubeadm",
            "k8s_version": "v1.20.2",
            "k8s_api_vip": SUBNET_PREFIX + ".5",
            "k8s_control_plane_enabled": False,
            "k8s_cni": "none",
            "k8s_gpu_enabled": False,
            "k8s_serving_enabled": False,
            # the admin kubeconfig is where the control-plane layer would write it (k8s_credentials_dir/kubeconfig);
            # the lifecycle playbooks find it through the facts layer (lifecycle() turns the layer on for them)
            "k8s_credentials_dir": self.credentials,
            "node_baseline_ntp_servers": [],
            "node_baseline_registries": [{"name": REGISTRY, "scheme": "http"}],
            "node_baseline_containerd_sandbox_image": IMAGES["pause"],
            # containerd runs without CAP_SYS_RESOURCE on these container nodes (TESTBED.md)
            "node_baseline_containerd_restrict_oom_score_adj": True,
            # the CNI plugins come from Debian's package (kubeadm's kubernetes-cni, or Cilium's own, in a lab)
            "node_baseline_packages": default_packages() + ["containernetworking-plugins"],
            "node_baseline_containerd_cni_bin_dir": "/usr/lib/cni",
            # the kubeadm role's package repository: the tier's signed repository instead of pkgs.k8s.io
            "kubeadm_apt_repo_url": APT_URL,
        }
        with open(os.path.join(self.inventory_dir, "group_vars", "all.yml"), "w") as f:
            yaml.safe_dump(tier_vars, f, sort_keys=False)

    def ansible(self, playbook, *args, check=False):
        """ansible-playbook PLAYBOOK against the tier's inventory; the finished process (fails the test when
        `check` and it failed)."""
        proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", self.inventory,
                               os.path.join(ROOT, playbook), *[str(a) for a in args]],
                              cwd=ROOT, env=ANSIBLE_ENV, capture_output=True, text=True, check=False)
        if check and proc.returncode != 0:
            raise AssertionError("ansible-playbook %s %s failed (rc=%d):\n%s\n%s" % (
                playbook, " ".join(map(str, args)), proc.returncode, proc.stdout[-8000:], proc.stderr[-3000:]))
        return proc

    def lifecycle(self, playbook, *args, check=False):
        """A lifecycle playbook (upgrade.yml, dr_drill.yml, add_node.yml) as a lab runs it: with the control-plane
        layer on (the tier's control plane runs on this machine, so site.yml is run with the layer off)."""
        return self.ansible(playbook, "-e", "k8s_control_plane_enabled=true", *args, check=check)

    def _converge(self, names):
        t0 = time.monotonic()
        self.ansible("playbooks/site.yml", "--limit", ",".join(names), check=True)
        self.times["site.yml converge (node layer, %d nodes) s" % len(names)] = round(time.monotonic() - t0, 1)

    # --- nodes ------------------------------------------------------------------------------------------------

    def node_run(self, name, *argv, check=True):
        return run(["podman", "exec", self.containers[name], *argv], check=check)

    def node_put(self, name, path, content, mode="0644"):
        tmp = os.path.join(self.dir, "put-" + os.path.basename(path))
        with open(tmp, "w") as f:
            f.write(content)
        self.node_run(name, "mkdir", "-p", os.path.dirname(path))
        run(["podman", "cp", tmp, "%s:%s" % (self.containers[name], path)])
        self.node_run(name, "chmod", mode, path)
        os.unlink(tmp)

    def kubelet_config(self):
        """The KubeletConfiguration kubeadm would write (its kubelet-config ConfigMap): systemd cgroups (as
        node_baseline configures containerd), webhook authentication/authorization, the CA for client certs."""
        return {
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "cgroupDriver": "systemd",
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                               "x509": {"clientCAFile": "/etc/kubernetes/pki/ca.crt"}},
            "authorization": {"mode": "Webhook"},
            "rotateCertificates": False, "serverTLSBootstrap": False,
            "failSwapOn": False, "resolvConf": "/etc/resolv.conf",
            # container nodes: the host's disks are shared by every node and the image filesystem is a volume
            "evictionHard": {"memory.available": "100Mi"}, "imageGCHighThresholdPercent": 100,
        }

    def join(self, name):
        """What `kubeadm join` leaves on a worker (STAND-IN for the join itself, see the module docstring): the CA,
        kubelet.conf with a system:node:<name> client certificate, config.yaml, kubeadm-flags.env, then the kubelet
        from the node's unit. The pod network: a bridge conflist with the node's /24 and routes to the others."""
        index = self.names.index(name) + 1
        cert, key = self.pki.issue("kubelet-" + name, "system:node:" + name, organizations=["system:nodes"],
                                   client=True)
        doc = kube_api.kubeconfig_document(self.apiserver.url, self.pki.ca, cert, key, name="kubelet")
        with open(self.pki.ca) as f:
            self.node_put(name, "/etc/kubernetes/pki/ca.crt", f.read())
        self.node_put(name, "/etc/kubernetes/kubelet.conf", yaml.safe_dump(doc), mode="0600")
        self.node_put(name, "/var/lib/kubelet/config.yaml", yaml.safe_dump(self.kubelet_config()))
        self.node_put(name, "/var/lib/kubelet/kubeadm-flags.env",
                      'KUBELET_KUBEADM_ARGS="--container-runtime=remote --container-runtime-endpoint=%s '
                      '--node-ip=%s --pod-infra-container-image=%s"\n' % (
                          "unix:///run/containerd/containerd.sock", self.ips[name], IMAGES["pause"]))
        conflist = {"cniVersion": "0.4.0", "name": "aiinfra-kubelets", "plugins": [
            {"type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_CIDR % index}]],
                      "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}}]}
        self.node_put(name, "/etc/cni/net.d/10-aiinfra-kubelets.conflist", json.dumps(conflist, indent=1))
        # the package's unit (enabled by the kubeadm role) waits for config.yaml; start it now that it is there
        self.node_run(name, "systemctl", "restart", "kubelet")
        self.joined.append(name)
        for other in self.joined:
            self.routes(other)

    def routes(self, name):
        """A route on `name` to every other joined node's pod /24 (what Cilium's routing does in a lab)."""
        for other in self.joined:
            if other != name:
                cidr = POD_CIDR % (self.names.index(other) + 1)
                self.node_run(name, "ip", "route", "replace", cidr, "via", self.ips[other])

    # --- the API ------------------------------------------------------------------------------------------------

    def request(self, method, path, body=None, content_type="application/json"):
        return kube_api.api_request(self.apiserver.url + path, self.apiserver.ssl_context(self.admin_cert, self.admin_key),
                                    method, body, content_type)

    def get(self, path):
        status, body = self.request("GET", path)
        assert status == 200, (path, status, body)
        return body

    def node(self, name):
        return self.get("/api/v1/nodes/" + name)

    def ready(self, name):
        status, body = self.request("GET", "/api/v1/nodes/" + name)
        if status != 200:
            return None
        cond = [c for c in body.get("status", {}).get("conditions", []) if c["type"] == "Ready"]
        return cond[0]["status"] if cond else None

    def wait_nodes_ready(self, names, timeout=180):
        t0 = time.monotonic()
        wait_for(lambda: all(self.ready(n) == "True" for n in names), timeout,
                 "nodes %s Ready (kubelet logs: journalctl -u kubelet on the node)" % ", ".join(names))
        return time.monotonic() - t0

    def pods(self, namespace, selector):
        return self.get("/api/v1/namespaces/%s/pods?labelSelector=%s" % (namespace, selector))["items"]

    def apply(self, objects):
        """Create (or replace) objects through the API (test fixtures, not the code under test)."""
        for obj in objects:
            kind, meta = obj["kind"], obj["metadata"]
            base = {"Deployment": "/apis/apps/v1/namespaces/%s/deployments",
                    "PodDisruptionBudget": "/apis/policy/v1beta1/namespaces/%s/poddisruptionbudgets",
                    "Namespace": None}[kind]
            path = "/api/v1/namespaces" if kind == "Namespace" else base % meta["namespace"]
            status, body = self.request("POST", path, obj)
            assert status in (201, 409), (kind, meta, status, body)

    def exec_in_pod(self, namespace, pod, command):
        """Run `command` (argv) in the pod's first container through the API server and the kubelet; its output."""
        from kubernetes import client, config
        from kubernetes.stream import stream
        api = client.CoreV1Api(config.new_client_from_config(config_file=self.kubeconfig))
        return stream(api.connect_get_namespaced_pod_exec, pod, namespace, command=command, stderr=True, stdin=False,
                      stdout=True, tty=False)

    def journal(self, name, unit="kubelet", lines=40):
        return self.node_run(name, "journalctl", "-u", unit, "--no-pager", "-n", str(lines), check=False).stdout


def default_packages():
    """node_baseline's own base package list (its defaults file), so the tier adds to it rather than replacing it."""
    with open(os.path.join(ROOT, "roles", "node_baseline", "defaults", "main.yml")) as f:
        return list(yaml.safe_load(f)["node_baseline_packages"])


def deployment(name, namespace, replicas=2, node_selector=None, toleration_seconds=None, labels=None):
    """A busybox httpd Deployment with a readiness probe on / (an HTTP server image from the tier's registry)."""
    labels = dict(labels or {}, app=name)
    spec = {
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 2,
        "containers": [{
            "name": "web", "image": IMAGES["busybox"],
            "command": ["/bin/sh", "-c", "echo ok > /tmp/index.html; exec httpd -f -p 8080 -h /tmp"],
            "readinessProbe": {"httpGet": {"path": "/index.html", "port": 8080}, "periodSeconds": 1},
        }],
    }
    if node_selector:
        spec["nodeSelector"] = node_selector
    if toleration_seconds is not None:
        spec["tolerations"] = [{"key": key, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": toleration_seconds}
                               for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": labels}, "spec": spec}}}
