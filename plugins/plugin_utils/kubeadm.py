# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kubeadm: configuration documents built from data, the API server's EncryptionConfiguration, credential formats,
version decisions and the discovery CA hash (pure functions, no I/O)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import calendar
import hashlib
import ipaddress
import re

from ansible_collections.aiinfra.cluster.plugins.plugin_utils import release

_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")
TOKEN_RE = re.compile(r"^[a-z0-9]{6}\.[a-z0-9]{16}$")
CERT_KEY_RE = re.compile(r"^[a-f0-9]{64}$")
PROVIDERS = ("aescbc", "secretbox", "aesgcm")
CRI_SOCKET = "unix:///run/containerd/containerd.sock"
ENCRYPTION_DIR = "/etc/kubernetes/enc"
ENCRYPTION_FILE = ENCRYPTION_DIR + "/encryption-config.yaml"


class KubeadmError(ValueError):
    pass


# --- versions ------------------------------------------------------------------------------------------------------

def parse_version(text):
    """'kubeadm version: &version.Info{Major:"1", ... GitVersion:"v1.31.4", ...}' or 'v1.31.4' -> 'v1.31.4'."""
    m = re.search(r'GitVersion:"(v\d+\.\d+\.\d+)', text or "")
    if m:
        return m.group(1)
    m = _VERSION.search(text or "")
    return "v%s.%s.%s" % m.groups() if m else None


def version_key(tag):
    return release.version_key(_VERSION, tag, KubeadmError, "Kubernetes release (want e.g. v1.31.4)")


def api_version(kubernetes_version):
    """kubeadm.k8s.io/v1beta4 from Kubernetes 1.31 on (v1beta3 before)."""
    return "kubeadm.k8s.io/v1beta4" if version_key(kubernetes_version)[:2] >= (1, 31) else "kubeadm.k8s.io/v1beta3"


def upgrade_action(installed, wanted, allow_downgrade=False):
    """'install' (nothing there), 'none' (already there) or 'upgrade'.

    kubeadm upgrades one minor release at a time and cannot downgrade a control plane: both are refused here,
    before anything changes, with the next step spelled out.
    """
    if installed is None:
        return "install"
    have, want = version_key(installed), version_key(wanted)
    if have == want:
        return "none"
    if want < have:
        if allow_downgrade:
            return "upgrade"
        raise KubeadmError("Kubernetes %s is installed and %s is wanted: kubeadm cannot downgrade a cluster; "
                           "restore an etcd snapshot taken before the upgrade instead (playbooks/restore.yml)"
                           % (installed, wanted))
    if want[0] != have[0] or want[1] > have[1] + 1:
        raise KubeadmError("Kubernetes %s is installed and %s is wanted: kubeadm upgrades one minor release at a "
                           "time; upgrade to v%d.%d.x first" % (installed, wanted, have[0], have[1] + 1))
    return "upgrade"


# --- credentials ---------------------------------------------------------------------------------------------------

def check_token(token):
    if not TOKEN_RE.match(token or ""):
        raise KubeadmError("the bootstrap token must look like [a-z0-9]{6}.[a-z0-9]{16} (got %d characters)"
                           % len(token or ""))
    return token


def check_certificate_key(key):
    if not CERT_KEY_RE.match(key or ""):
        raise KubeadmError("the certificate key must be 64 lowercase hex characters (32 bytes)")
    return key


def check_encryption_keys(keys, provider):
    """keys: [{name, secret}] with the write key first; each secret is a base64 32-byte key."""
    if provider not in PROVIDERS:
        raise KubeadmError("encryption provider must be one of %s, not %r" % (", ".join(PROVIDERS), provider))
    if not keys:
        raise KubeadmError("at least one encryption key is needed")
    names = set()
    for k in keys:
        name, secret = k.get("name"), k.get("secret")
        if not name or not re.match(r"^[a-z0-9][a-z0-9-]*$", name):
            raise KubeadmError("encryption key names must be lowercase letters, digits and '-', not %r" % name)
        if name in names:
            raise KubeadmError("encryption key name %r is used twice" % name)
        names.add(name)
        try:
            raw = base64.b64decode(secret or "", validate=True)
        except (TypeError, ValueError):
            raise KubeadmError("encryption key %r is not valid base64" % name)
        if len(raw) != 32:
            raise KubeadmError("encryption key %r must be 32 bytes once decoded, not %d" % (name, len(raw)))
    return keys


def encryption_configuration(provider, keys, resources=("secrets",)):
    """The API server's EncryptionConfiguration: `provider` with every key (first = used for writes), then
    identity so Secrets written before encryption was turned on can still be read (and rewritten)."""
    check_encryption_keys(keys, provider)
    return {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [{
            "resources": list(resources),
            "providers": [{provider: {"keys": [{"name": k["name"], "secret": k["secret"]} for k in keys]}},
                          {"identity": {}}],
        }],
    }


def rotate_keys(keys, name, secret):
    """The key list with key `name` first (it encrypts new writes). An existing key keeps its secret and moves to
    the front; a new one is added with `secret`. Older keys stay so Secrets they encrypted remain readable until
    rewritten: dropping one is a separate, deliberate step."""
    keys = list(keys or [])
    for k in keys:
        if k["name"] == name:
            return [k] + [o for o in keys if o["name"] != name]
    return [{"name": name, "secret": secret}] + keys


# --- key rotation across every API server ---------------------------------------------------------------------
#
# Each control-plane node's API server reads its own EncryptionConfiguration when it starts. The key a server
# writes with must already be readable by every other server (haproxy spreads requests), so a new key goes in
# two phases, each ending with every API server restarted: (1) add: the new key on every node as a read key behind
# the current write key; (2) promote: the new key first (the write key) everywhere; then (3) rewrite: every Secret
# written again through the API (stored with the new key); (4) drop: the old keys leave the files. The phase to run
# next is derived from the files on the nodes alone, so an interrupted run is resumed where it stopped.
# A server whose container started before its file was last written has not loaded it: it is restarted before
# anything else ("restart"), which completes whatever step was interrupted between the write and the restart.

ROTATION_PHASES = ("restart", "add", "promote", "rewrite", "drop")


def configured_keys(document):
    """Key names and secrets of the encryption provider in an EncryptionConfiguration (YAML already parsed), in
    order (the first encrypts writes); [] when the document has no provider keys (identity only, or empty)."""
    out = []
    for res in (document or {}).get("resources") or []:
        if "secrets" not in (res.get("resources") or []):
            continue
        for prov in res.get("providers") or []:
            for name, body in prov.items():
                if name == "identity":
                    continue
                out.extend({"name": k.get("name"), "secret": k.get("secret")} for k in (body or {}).get("keys") or [])
            if out:
                return out
    return out


def _union(lists):
    seen = []
    for names in lists:
        for n in names:
            if n not in seen:
                seen.append(n)
    return seen


def rotation_steps(nodes, write_key):
    """What is left of a key rotation, from the state of every control-plane node.

    nodes: {host: None (no file yet: a node not initialised) or {"keys": [names in file order], "loaded": bool
    (its API server started after the file was written, or has no container to restart)}}, in inventory order.
    Returns {"phase": first phase to run or "none", "steps": [{"phase", "keys" (names, None for rewrite/restart),
    "hosts" (restart only)}], "join": names a node without a file gets now}.
    """
    if not write_key:
        raise KubeadmError("the write key name is empty (kubeadm_encryption_key_name)")
    present = [(h, s) for h, s in nodes.items() if s is not None]
    union = _union(s["keys"] for _h, s in present)
    steps = []
    pending = [h for h, s in present if not s.get("loaded", True)]
    if pending:
        steps.append({"phase": "restart", "keys": None, "hosts": pending})
    lists = [s["keys"] for _h, s in present]
    if lists and any(write_key not in names for names in lists):
        # the key the servers write with now: the first node's write key that is not the new one
        current = next((names[0] for names in lists if names and names[0] != write_key), None)
        if current is not None:
            steps.append({"phase": "add", "keys": [current, write_key] + [n for n in union if n not in (current, write_key)]})
    if any(step["phase"] == "add" for step in steps) or any(names[:1] != [write_key] for names in lists):
        steps.append({"phase": "promote", "keys": [write_key] + [n for n in union if n != write_key]})
    if any(names != [write_key] for names in lists):
        steps.append({"phase": "rewrite", "keys": None})
        steps.append({"phase": "drop", "keys": [write_key]})
    keyed = [s for s in steps if s["keys"]]
    if not steps:
        join = [write_key]
    elif keyed and keyed[0]["phase"] != "drop":
        join = keyed[0]["keys"]
    else:  # the servers can all still read the old keys until the drop: so can a new one
        join = [write_key] + [n for n in union if n != write_key]
    return {"phase": steps[0]["phase"] if steps else "none", "steps": steps, "join": join}


def rotation_keyring(controller_keys, node_keys):
    """{name: secret} from the controller's key file and the keys found on the nodes. A name with two different
    secrets is refused: rewriting with the wrong one would make Secrets unreadable."""
    ring = {}
    sources = [("the controller's key file", controller_keys or [])] + [
        ("%s's EncryptionConfiguration" % h, keys or []) for h, keys in sorted(node_keys.items())]
    for where, keys in sources:
        for k in keys:
            if k.get("name") in ring and ring[k["name"]] != k.get("secret"):
                raise KubeadmError("encryption key %r has a different secret in %s than elsewhere: fix the key file "
                                   "on the controller before rotating (nothing was changed)" % (k.get("name"), where))
            ring[k["name"]] = k.get("secret")
    return ring


def _epoch(rfc3339):
    """'2026-12-01T06:40:02.123456789Z' (crictl's startedAt) -> seconds since the epoch (float)."""
    m = re.match(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", rfc3339 or "")
    if not m:
        raise KubeadmError("not an RFC 3339 time: %r" % rfc3339)
    y, mo, d, hh, mi, ss = (int(x) for x in m.groups()[:6])
    secs = calendar.timegm((y, mo, d, hh, mi, ss, 0, 0, 0)) + float("0." + (m.group(7) or "0"))
    tz = m.group(8)
    if tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        secs -= sign * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
    return secs


def rotation_plan(node_files, write_key, provider, controller_keys):
    """The rotation with the key material, for the role. node_files: {host: {"config": parsed
    EncryptionConfiguration or None (no file), "mtime": the file's mtime (epoch), "started": the API server
    container's startedAt (RFC 3339) or "" (none running)}}. Steps carry the whole EncryptionConfiguration to write
    ("config"); "join" is the one a node without a file gets."""
    state, found = {}, {}
    for host, f in node_files.items():
        if not f or f.get("config") is None:
            state[host] = None
            continue
        keys = configured_keys(f["config"])
        found[host] = keys
        started = f.get("started") or ""
        state[host] = {"keys": [k["name"] for k in keys],
                       "loaded": not started or _epoch(started) >= float(f.get("mtime") or 0)}
    ring = rotation_keyring(controller_keys, found)
    if write_key not in ring:
        raise KubeadmError("the write key %r is neither in the controller's key file nor on any node" % write_key)
    plan = rotation_steps(state, write_key)

    def config(names):
        return encryption_configuration(provider, [{"name": n, "secret": ring[n]} for n in names])

    for step in plan["steps"]:
        step["config"] = config(step["keys"]) if step["keys"] else None
    plan["join_config"] = config(plan["join"])
    plan["state"] = {h: (s["keys"] if s else None) for h, s in state.items()}
    return plan


# --- discovery CA hash ---------------------------------------------------------------------------------------------

def _der_element(data, pos):
    """(tag, start of content, end of element) of the DER element at pos."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    return tag, pos, pos + length


def ca_cert_hash(pem):
    """kubeadm's --discovery-token-ca-cert-hash: sha256 of the CA's DER SubjectPublicKeyInfo."""
    m = re.search(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", pem or "", re.S)
    if not m:
        raise KubeadmError("no PEM certificate found in the CA file")
    der = base64.b64decode("".join(m.group(1).split()))
    try:
        _tag, cert_body, _end = _der_element(der, 0)            # Certificate
        _tag, pos, _tbs_end = _der_element(der, cert_body)      # tbsCertificate
        fields = []
        while len(fields) < 7:
            tag, start, end = _der_element(der, pos)
            fields.append((tag, pos, end))
            pos = end
    except IndexError:
        raise KubeadmError("the CA certificate is not valid DER")
    if fields[0][0] != 0xA0:  # v1 certificates have no explicit version field
        fields.insert(0, None)
    _tag, spki_start, spki_end = fields[6]
    return "sha256:" + hashlib.sha256(der[spki_start:spki_end]).hexdigest()


# --- configuration documents ---------------------------------------------------------------------------------------

def _args(api, mapping):
    """extraArgs: a map in v1beta3, a list of {name, value} in v1beta4 (sorted: stable output, no false diffs)."""
    items = sorted((str(k), str(v)) for k, v in (mapping or {}).items())
    if api.endswith("v1beta3"):
        return dict(items)
    return [{"name": k, "value": v} for k, v in items]


def _taints(taints):
    out = []
    for t in taints or []:
        m = re.match(r"^([^=:]+)(?:=([^:]*))?:(NoSchedule|PreferNoSchedule|NoExecute)$", t)
        if not m:
            raise KubeadmError("taint %r must look like key=value:Effect" % t)
        taint = {"key": m.group(1), "effect": m.group(3)}
        if m.group(2):
            taint["value"] = m.group(2)
        out.append(taint)
    return out


def _node_registration(api, s, control_plane):
    kubelet_args = {"node-ip": s["node_ip"]}
    if s.get("node_labels"):
        kubelet_args["node-labels"] = ",".join("%s=%s" % kv for kv in sorted(s["node_labels"].items()))
    reg = {"name": s["node_name"], "criSocket": s.get("cri_socket", CRI_SOCKET),
           "kubeletExtraArgs": _args(api, kubelet_args)}
    taints = _taints(s.get("node_taints"))
    if control_plane:
        taints = [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}] + taints
    reg["taints"] = taints
    return reg


def kubelet_configuration(s):
    return {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "cgroupDriver": "systemd", "failSwapOn": True, "serverTLSBootstrap": False,
            "rotateCertificates": True}


def metrics_args(bind_address):
    """Where etcd, the controller manager and the scheduler serve /metrics (kubeadm's default is loopback only,
    which Prometheus on another node cannot scrape).

    The ClusterConfiguration is shared by every control-plane node (kubeadm uploads it and joins and upgrades read
    it back), so a node's own address cannot go in it: on the other nodes the bind would fail. The wildcard
    (0.0.0.0 or ::) serves on every address of each node, the node address included, and kubeadm's probes keep
    working through loopback. etcd's metrics URL is plain HTTP (metrics and /health only); the controller manager
    and scheduler serve HTTPS and authorise /metrics through the API server.
    """
    addr = str(bind_address or "")
    try:
        ipaddress.ip_address(addr)
    except ValueError:
        raise KubeadmError("the metrics bind address must be an IP address such as 0.0.0.0 (every address) or "
                           "127.0.0.1 (loopback only), not %r" % bind_address)
    host = "[%s]" % addr if ":" in addr else addr
    return {"etcd": {"listen-metrics-urls": "http://%s:2381" % host},
            "controller_manager": {"bind-address": addr},
            "scheduler": {"bind-address": addr}}


def cluster_configuration(s):
    api = api_version(s["kubernetes_version"])
    metrics = metrics_args(s.get("metrics_bind_address", "0.0.0.0"))
    api_args = {}
    if s.get("apiserver_shutdown_delay"):
        # on SIGTERM /readyz fails at once but the server keeps serving this long: haproxy's /readyz check takes it
        # out of the VIP's rotation before its listener closes (no connection reset by a restart)
        api_args["shutdown-delay-duration"] = str(s["apiserver_shutdown_delay"])
    api_args.update(s.get("apiserver_extra_args") or {})
    volumes = []
    if s.get("encryption", True):
        # read at start: the role restarts the API server when the keys change (deterministic, unlike the
        # file watch of --encryption-provider-config-automatic-reload)
        api_args["encryption-provider-config"] = ENCRYPTION_FILE
        volumes.append({"name": "encryption-config", "hostPath": ENCRYPTION_DIR, "mountPath": ENCRYPTION_DIR,
                        "readOnly": True, "pathType": "DirectoryOrCreate"})
    cfg = {
        "apiVersion": api, "kind": "ClusterConfiguration",
        "clusterName": s.get("cluster_name", "kubernetes"),
        "kubernetesVersion": s["kubernetes_version"],
        "controlPlaneEndpoint": s["control_plane_endpoint"],
        "networking": {"podSubnet": s["pod_subnet"], "serviceSubnet": s["service_subnet"],
                       "dnsDomain": s.get("dns_domain", "cluster.local")},
        "apiServer": {"certSANs": sorted(set(x for x in s.get("cert_sans") or [] if x)),
                      "extraArgs": _args(api, api_args)},
        "controllerManager": {"extraArgs": _args(api, dict(metrics["controller_manager"],
                                                           **(s.get("controller_manager_extra_args") or {})))},
        "scheduler": {"extraArgs": _args(api, dict(metrics["scheduler"], **(s.get("scheduler_extra_args") or {})))},
        "etcd": {"local": {"dataDir": s.get("etcd_data_dir", "/var/lib/etcd"),
                           "extraArgs": _args(api, metrics["etcd"])}},
    }
    if volumes:
        cfg["apiServer"]["extraVolumes"] = volumes
    if s.get("image_repository"):
        cfg["imageRepository"] = s["image_repository"]
    return cfg


def init_configuration(s):
    """InitConfiguration for the first control-plane node (bootstrap token and certificate key included)."""
    api = api_version(s["kubernetes_version"])
    cfg = {
        "apiVersion": api, "kind": "InitConfiguration",
        "bootstrapTokens": [{"token": check_token(s["token"]), "ttl": s.get("token_ttl", "2h0m0s"),
                             "usages": ["signing", "authentication"],
                             "groups": ["system:bootstrappers:kubeadm:default-node-token"]}],
        "certificateKey": check_certificate_key(s["certificate_key"]),
        "localAPIEndpoint": {"advertiseAddress": s["node_ip"], "bindPort": int(s.get("bind_port", 6443))},
        "nodeRegistration": _node_registration(api, s, control_plane=True),
    }
    if s.get("cni") == "cilium":
        cfg["skipPhases"] = ["addon/kube-proxy"]  # Cilium replaces kube-proxy
    return cfg


def join_configuration(role, s):
    """JoinConfiguration for a joining control-plane node (role 'server') or a worker ('agent')."""
    if role not in ("server", "agent"):
        raise KubeadmError("a joining node is a server or an agent, not %r" % role)
    api = api_version(s["kubernetes_version"])
    if not re.match(r"^sha256:[a-f0-9]{64}$", s.get("ca_cert_hash") or ""):
        raise KubeadmError("the discovery CA hash must be sha256:<64 hex>; read it from the first control plane")
    cfg = {
        "apiVersion": api, "kind": "JoinConfiguration",
        "discovery": {"bootstrapToken": {"apiServerEndpoint": s["control_plane_endpoint"],
                                         "token": check_token(s["token"]),
                                         "caCertHashes": [s["ca_cert_hash"]]}},
        "nodeRegistration": _node_registration(api, s, control_plane=(role == "server")),
    }
    if role == "server":
        cfg["controlPlane"] = {"localAPIEndpoint": {"advertiseAddress": s["node_ip"],
                                                    "bindPort": int(s.get("bind_port", 6443))},
                               "certificateKey": check_certificate_key(s["certificate_key"])}
    return cfg


def upload_certs_documents(s):
    """The --config file of `kubeadm init phase upload-certs` on the first control plane before a control plane joins.

    The certificate key travels in this file (0600, removed afterwards), never on the command line where every
    local user can read it in /proc. The cluster's ClusterConfiguration comes along so that kubeadm neither looks a
    version up online nor guesses where the certificates are; no bootstrap token is in it.
    """
    api = api_version(s["kubernetes_version"])
    init = {
        "apiVersion": api, "kind": "InitConfiguration",
        "certificateKey": check_certificate_key(s["certificate_key"]),
        "localAPIEndpoint": {"advertiseAddress": s["node_ip"], "bindPort": int(s.get("bind_port", 6443))},
        "nodeRegistration": _node_registration(api, s, control_plane=True),
    }
    return [init, cluster_configuration(s)]


def created_token(stdout):
    """The bootstrap token `kubeadm token create` printed (its last line), checked; the value is never in an error."""
    lines = [line.strip() for line in (stdout or "").splitlines() if line.strip()]
    token = lines[-1] if lines else ""
    if not TOKEN_RE.match(token):
        raise KubeadmError("`kubeadm token create` did not print a bootstrap token ([a-z0-9]{6}.[a-z0-9]{16}) on its "
                           "last line (%d lines of output)" % len(lines))
    return token


def token_id(token):
    """The public half of a bootstrap token (what `kubeadm token delete` takes): never the secret half."""
    return check_token(token).split(".", 1)[0]


def node_documents(role, s):
    """Every document of the node's kubeadm.yaml, in order. role: init, server or agent."""
    if role == "init":
        docs = [init_configuration(s), cluster_configuration(s)]
    else:
        docs = [join_configuration(role, s)]
    docs.append(kubelet_configuration(s))
    return docs
