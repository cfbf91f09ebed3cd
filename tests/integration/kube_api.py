"""A live Kubernetes API server for the integration tests: Debian's etcd (tests/integration/etcd_cluster.py) and
kube-apiserver v1.20.2 built from Debian's source package by scripts/build_kubernetes.sh (cached under
~/.cache/aiinfra/kubernetes/<source version>/).

Every API server serves TLS with a certificate from a CA generated per control plane, authenticates clients by
certificate (the admin kubeconfig's user is in system:masters), authorizes with RBAC (and Node), signs service
account tokens with a generated key, and optionally encrypts Secrets with an EncryptionConfiguration. No insecure
port, no token file, no AlwaysAllow. Several API servers can share one etcd (each on its own loopback address, same
port, as the control_plane_vip role's haproxy expects), and one can be restarted with a new EncryptionConfiguration
while etcd and the others keep running (ControlPlane.restart_apiserver).

Tests that need the binary are skipped only when it is not built AND $AIINFRA_REQUIRE_KUBE_API is unset; with the
variable set (CI sets it) a missing binary fails the test.

Loopback ports 26000-26999 and addresses 127.36.x.y belong to this tier (etcd base ports 26000, 26100, 26200...;
API servers on 26443; the VIP's haproxy on 26444 with its monitor on 26404).
"""

import base64
import datetime
import hashlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from etcd_cluster import ENV as ETCD_ENV, Cluster, Member  # noqa: E402  (shared, read-only)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_SCRIPT = os.path.join(ROOT, "scripts", "build_kubernetes.sh")
REQUIRE_ENV = "AIINFRA_REQUIRE_KUBE_API"
SERVICE_CIDR = "10.96.0.0/12"
API_PORT = 26443
ENV = dict(os.environ, LC_ALL="C")


# --- the binary -------------------------------------------------------------------------------------------------

def cache_dir():
    """Where scripts/build_kubernetes.sh keeps its build (it owns the layout; asked, not guessed)."""
    return subprocess.run(["bash", BUILD_SCRIPT, "--print-dir"], capture_output=True, text=True, check=True,
                          env=ENV).stdout.strip()


def cached_binary(name="kube-apiserver"):
    """The cached binary's path when the build's marker lists it with the checksum it still has; else None."""
    directory = cache_dir()
    path = os.path.join(directory, "bin", name)
    try:
        with open(os.path.join(directory, "complete")) as f:
            wanted = dict(line.split() for line in f if line.strip())
    except OSError:
        return None
    if name not in wanted or not os.access(path, os.X_OK):
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return path if digest.hexdigest() == wanted[name] else None


def require_binary(name="kube-apiserver"):
    """The binary's path; skips the test when it is not built, unless $AIINFRA_REQUIRE_KUBE_API is set: then the
    missing binary is a failure (CI must not skip this tier)."""
    path = cached_binary(name)
    if path:
        return path
    msg = ("%s v1.20.2 is not built (cache %s); run scripts/build_kubernetes.sh (5-9 min once)" % (name, cache_dir()))
    if os.environ.get(REQUIRE_ENV):
        pytest.fail("%s is set but %s" % (REQUIRE_ENV, msg), pytrace=False)
    pytest.skip(msg)


def require_tools(*tools):
    """Skip (or, with $AIINFRA_REQUIRE_KUBE_API, fail) when a Debian tool the tier runs is missing."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        msg = "needs %s (Debian packages etcd-server/etcd-client/haproxy)" % ", ".join(missing)
        if os.environ.get(REQUIRE_ENV):
            pytest.fail("%s is set but the tier %s" % (REQUIRE_ENV, msg), pytrace=False)
        pytest.skip(msg)


# --- PKI --------------------------------------------------------------------------------------------------------

def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class PKI:
    """A CA and the certificates a control plane needs, as files under `directory` (keys 0600)."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, mode=0o700, exist_ok=True)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aiinfra-test-ca")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.ca_cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                        .public_key(self.ca_key.public_key()).serial_number(x509.random_serial_number())
                        .not_valid_before(now - datetime.timedelta(minutes=5))
                        .not_valid_after(now + datetime.timedelta(days=2))
                        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                       critical=True)
                        .sign(self.ca_key, hashes.SHA256()))
        self.ca = self._write("ca.crt", self.ca_cert.public_bytes(serialization.Encoding.PEM))
        # service-account token signing key pair
        sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.sa_key = self._write("sa.key", _pem_key(sa), 0o600)
        self.sa_pub = self._write("sa.pub", sa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    def _write(self, name, data, mode=0o644):
        path = os.path.join(self.dir, name)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as f:
            f.write(data)
        return path

    def issue(self, name, common_name, organizations=(), ips=(), dns=(), server=False, client=False):
        """(cert path, key path) of a leaf certificate signed by the CA."""
        import ipaddress

        key = ec.generate_private_key(ec.SECP256R1())
        subject = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        subject += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
        usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + ([ExtendedKeyUsageOID.CLIENT_AUTH]
                                                                          if client else [])
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (x509.CertificateBuilder().subject_name(x509.Name(subject))
                   .issuer_name(self.ca_cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage(usages), critical=False))
        sans = [x509.IPAddress(ipaddress.ip_address(i)) for i in ips] + [x509.DNSName(d) for d in dns]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self.ca_key, hashes.SHA256())
        return (self._write(name + ".crt", cert.public_bytes(serialization.Encoding.PEM)),
                self._write(name + ".key", _pem_key(key), 0o600))


def kubeconfig_document(server, ca, cert, key, name="aiinfra-test"):
    """A kubeconfig (dict) for `server` with the CA and client certificate embedded."""
    def b64(path):
        with open(path, "rb") as f:
            return base64.b64encode(f.read()).decode()
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": name,
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": b64(ca)}}],
        "users": [{"name": name, "user": {"client-certificate-data": b64(cert), "client-key-data": b64(key)}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
    }


# --- etcd with TLS (as kubeadm's stacked etcd: client and peer certificates from the CA) ----------------------

class TLSMember(Member):
    """etcd_cluster.Member serving clients and peers over TLS with client-certificate authentication."""

    def __init__(self, name, client, peer, data_dir, tls):
        super().__init__(name, client, peer, data_dir)
        self.tls = tls  # dict: ca, cert, key

    def start(self, initial_cluster, state="new", token="aiinfra-kapi"):
        log = open(self.data_dir + ".log", "ab")
        t = self.tls
        self.proc = subprocess.Popen(
            ["etcd", "--name", self.name, "--data-dir", self.data_dir, "--listen-client-urls", self.client,
             "--advertise-client-urls", self.client, "--listen-peer-urls", self.peer,
             "--initial-advertise-peer-urls", self.peer, "--initial-cluster", initial_cluster,
             "--initial-cluster-state", state, "--initial-cluster-token", token,
             "--cert-file", t["cert"], "--key-file", t["key"], "--trusted-ca-file", t["ca"],
             "--client-cert-auth",
             "--peer-cert-file", t["cert"], "--peer-key-file", t["key"], "--peer-trusted-ca-file", t["ca"],
             "--peer-client-cert-auth"],
            stdout=log, stderr=subprocess.STDOUT, env=ENV)
        log.close()


class TLSCluster(Cluster):
    """etcd_cluster.Cluster over TLS: members on https://127.0.0.1:<base_port + 10 n>, certificates from `pki`.
    `client` is the (cert, key) an API server (kubeadm: apiserver-etcd-client) uses."""

    def __init__(self, pki, size=3, base_port=26000):
        super().__init__(size=size, base_port=base_port)
        cert, key = pki.issue("etcd-member", "etcd", ips=["127.0.0.1"], dns=["localhost"], server=True, client=True)
        self.tls = {"ca": pki.ca, "cert": cert, "key": key}
        self.client = pki.issue("apiserver-etcd-client", "kube-apiserver-etcd-client", client=True)
        self.members = [TLSMember(m.name, m.client.replace("http://", "https://"),
                                  m.peer.replace("http://", "https://"), m.data_dir, self.tls) for m in self.members]
        self.initial = ",".join("%s=%s" % (m.name, m.peer) for m in self.members)

    def etcdctl(self, *args, endpoints=None, check=True):
        return subprocess.run(["etcdctl", "--endpoints=%s" % ",".join(endpoints or self.endpoints),
                               "--cacert=%s" % self.tls["ca"], "--cert=%s" % self.client[0],
                               "--key=%s" % self.client[1],
                               "--dial-timeout=2s", "--command-timeout=5s", *args],
                              env=ETCD_ENV, capture_output=True, text=True, check=check)

    def ssl_context(self):
        ctx = ssl.create_default_context(cafile=self.tls["ca"])
        ctx.load_cert_chain(*self.client)
        return ctx

    def member_pids(self):
        return [m.proc.pid if m.proc and m.proc.poll() is None else None for m in self.members]


# --- one API server ---------------------------------------------------------------------------------------------

class APIServer:
    """One kube-apiserver process on `address`:`port` against `etcd_endpoints`."""

    def __init__(self, name, address, port, etcd, pki, workdir, binary, encryption_config=None, extra_args=()):
        self.name, self.address, self.port = name, address, port
        self.etcd, self.pki, self.binary = etcd, pki, binary
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.encryption_config = encryption_config
        self.extra_args = list(extra_args)
        self.proc = None
        self.starts = 0
        self.cert, self.key = pki.issue(name + "-serving", "kube-apiserver",
                                        ips=[address, "127.0.0.1", "10.96.0.1"],
                                        dns=["localhost", "kubernetes", "kubernetes.default",
                                             "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"],
                                        server=True)

    @property
    def url(self):
        return "https://%s:%d" % (self.address, self.port)

    @property
    def log_path(self):
        return os.path.join(self.dir, "kube-apiserver.log")

    @property
    def encryption_config_path(self):
        return os.path.join(self.dir, "encryption-config.yaml")

    def args(self):
        args = [self.binary,
                "--etcd-servers=%s" % ",".join(self.etcd.endpoints),
                "--etcd-cafile=%s" % self.etcd.tls["ca"], "--etcd-certfile=%s" % self.etcd.client[0],
                "--etcd-keyfile=%s" % self.etcd.client[1],
                "--bind-address=%s" % self.address, "--advertise-address=%s" % self.address,
                "--secure-port=%d" % self.port,
                "--tls-cert-file=%s" % self.cert, "--tls-private-key-file=%s" % self.key,
                "--client-ca-file=%s" % self.pki.ca,
                "--authorization-mode=Node,RBAC",
                "--service-account-key-file=%s" % self.pki.sa_pub,
                "--service-account-signing-key-file=%s" % self.pki.sa_key,
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                "--service-cluster-ip-range=%s" % SERVICE_CIDR,
                "--cert-dir=%s" % os.path.join(self.dir, "certs"),
                "--profiling=false",
                "--logtostderr=true", "--v=1"]
        if self.encryption_config is not None:
            args.append("--encryption-provider-config=%s" % self.encryption_config_path)
        return args + self.extra_args

    def start(self):
        if self.encryption_config is not None:
            with open(os.open(self.encryption_config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                yaml.safe_dump(self.encryption_config, f)
        log = open(self.log_path, "ab")
        log.write(("\n=== start %d ===\n" % (self.starts + 1)).encode())
        log.flush()
        self.proc = subprocess.Popen(self.args(), stdout=log, stderr=subprocess.STDOUT, env=ENV,
                                     start_new_session=True)
        log.close()
        self.starts += 1

    def ssl_context(self, cert=None, key=None):
        ctx = ssl.create_default_context(cafile=self.pki.ca)
        if cert:
            ctx.load_cert_chain(cert, key)
        return ctx

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, timeout=180):
        """Poll /readyz (anonymous, as the haproxy health check and kubeadm do) until it answers 200."""
        deadline = time.time() + timeout
        ctx = self.ssl_context()
        last = None
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("kube-apiserver %s exited with rc %s before it was ready; log %s:\n%s" % (
                    self.name, self.proc.returncode, self.log_path, self.log_tail()))
            try:
                with urllib.request.urlopen(self.url + "/readyz", context=ctx, timeout=5) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError) as exc:
                last = exc
            if time.time() > deadline:
                raise AssertionError("kube-apiserver %s not ready at %s/readyz after %d s (last: %s); log %s:\n%s" % (
                    self.name, self.url, timeout, last, self.log_path, self.log_tail()))
            time.sleep(0.5)

    def stop(self, timeout=30):
        """SIGTERM (graceful shutdown), then SIGKILL after `timeout` seconds."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None


def api_request(url, ctx, method="GET", body=None, content_type="application/json"):
    """(status, decoded JSON; plain text for /readyz and the like; {"raw": text} for an error that is not JSON) of
    one request with the client certificate of `ctx`. `body`: an object (sent as JSON) or bytes."""
    data = None if body is None else (json.dumps(body).encode() if not isinstance(body, bytes) else body)
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": content_type, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            raw = resp.read()
            try:
                return resp.status, json.loads(raw or b"null")
            except ValueError:
                return resp.status, raw.decode(errors="replace")  # /readyz, /healthz: plain text
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, {"raw": raw.decode(errors="replace")}


# --- a control plane --------------------------------------------------------------------------------------------

class ControlPlane:
    """`etcd_members` etcd members over TLS (TLSCluster, clients on 127.0.0.1:26010+100*slot, 26020, ...) and
    `apiservers` API servers on 127.36.<slot>.<n>:26443, all with the same optional EncryptionConfiguration (a
    dict). Slots keep concurrently used control planes apart (one per test module)."""

    def __init__(self, slot, apiservers=1, etcd_members=1, encryption_config=None, extra_args=()):
        assert 0 <= slot <= 9, "slot 0-9 keeps the ports in 26000-26999"
        self.binary = require_binary("kube-apiserver")
        require_tools("etcd", "etcdctl")
        self.slot = slot
        self.dir = tempfile.mkdtemp(prefix="aiinfra-kapi-")
        self.pki = PKI(os.path.join(self.dir, "pki"))
        self.etcd = TLSCluster(self.pki, size=etcd_members, base_port=26000 + 100 * slot)
        self.admin_cert, self.admin_key = self.pki.issue("admin", "aiinfra-admin", organizations=["system:masters"],
                                                         client=True)
        self.servers = [APIServer("api%d" % n, "127.36.%d.%d" % (slot, n), API_PORT, self.etcd, self.pki,
                                  self.dir, self.binary, encryption_config, extra_args)
                        for n in range(1, apiservers + 1)]

    def start(self):
        try:
            self.etcd.start()
            for server in self.servers:
                server.start()
            for server in self.servers:
                server.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        for server in self.servers:
            server.stop()
        self.etcd.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def restart_apiserver(self, index, encryption_config=None, keep_encryption=False):
        """Restart one API server with `encryption_config` (a dict; None turns encryption off unless
        keep_encryption) while etcd and the other API servers keep running; returns when it is ready again."""
        server = self.servers[index]
        server.stop()
        if not keep_encryption:
            server.encryption_config = encryption_config
        server.start()
        server.wait_ready()
        return server

    def kubeconfig(self, path=None, server=None):
        """Write an admin kubeconfig (system:masters client certificate) for `server` (URL; default the first API
        server) to `path` (default in the control plane's directory); the path."""
        path = path or os.path.join(self.dir, "admin.kubeconfig")
        doc = kubeconfig_document(server or self.servers[0].url, self.pki.ca, self.admin_cert, self.admin_key)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            yaml.safe_dump(doc, f)
        return path

    def request(self, method, path, body=None, server=None, content_type="application/json"):
        """(status, decoded JSON) of an admin request to `server` (URL; default the first API server)."""
        return api_request((server or self.servers[0].url) + path,
                           self.servers[0].ssl_context(self.admin_cert, self.admin_key), method, body, content_type)

    def served(self):
        """{group/version: set of kinds} the API server serves (discovery), built-ins and CRDs alike."""
        found = {}
        status, core = self.request("GET", "/api/v1")
        assert status == 200, core
        found["v1"] = {r["kind"] for r in core["resources"] if "/" not in r["name"]}
        status, groups = self.request("GET", "/apis")
        assert status == 200, groups
        for group in groups["groups"]:
            for version in group["versions"]:
                gv = version["groupVersion"]
                status, res = self.request("GET", "/apis/" + gv)
                if status == 200:
                    found[gv] = {r["kind"] for r in res["resources"] if "/" not in r["name"]}
        return found

    def etcd_raw(self, key):
        """The raw bytes stored in etcd at `key` (what the API server wrote: clear protobuf or k8s:enc:...), read
        through etcd's JSON gateway; None when the key does not exist."""
        body = json.dumps({"key": base64.b64encode(key.encode()).decode()}).encode()
        req = urllib.request.Request(self.etcd.endpoints[0] + "/v3/kv/range", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self.etcd.ssl_context(), timeout=10) as resp:
            kvs = json.loads(resp.read()).get("kvs") or []
        return base64.b64decode(kvs[0]["value"]) if kvs else None


# One lab render for the whole tier (the roles whose non-Helm objects the tests apply), shared within a pytest run.
LAB_RENDER_ROLES = ("security_baseline", "argocd", "network")


def running_plane(slot, prefix, audit=False):
    """A started one-API-server ControlPlane on `slot` with a scratch directory (plane.work); stopped and removed
    when the generator closes (the body of a module-scoped pytest fixture). With `audit` the API server writes an
    audit log of every write request (AUDIT_POLICY) to plane.audit_log (read it with audit_writes)."""
    work = tempfile.mkdtemp(prefix=prefix)
    extra = ()
    if audit:
        policy = os.path.join(work, "audit-policy.yaml")
        with open(policy, "w") as f:
            yaml.safe_dump(AUDIT_POLICY, f)
        log = os.path.join(work, "audit.log")
        extra = ("--audit-policy-file=%s" % policy, "--audit-log-path=%s" % log, "--audit-log-format=json",
                 "--audit-log-mode=blocking", "--audit-log-maxbackup=0", "--audit-log-maxsize=0")
    try:
        plane = ControlPlane(slot=slot, extra_args=extra).start()
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    plane.work = work
    plane.audit_log = os.path.join(work, "audit.log") if audit else None
    yield plane
    plane.stop()
    shutil.rmtree(plane.work, ignore_errors=True)


# --- who wrote what: the API server's audit log, attributed to the Ansible task that was running -----------------

# Every write request at Metadata level (verb, user, objectRef, response code, requestURI with dryRun): no bodies,
# so no Secret's data lands in the log. Reads are not logged.
AUDIT_POLICY = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
                "rules": [{"level": "Metadata", "verbs": ["create", "update", "patch", "delete", "deletecollection"]},
                          {"level": "None"}]}


def _utc(stamp):
    """Seconds since the epoch of an RFC 3339 timestamp (2026-12-01T10:30:00.123456Z)."""
    stamp = stamp.rstrip("Z")
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if "." in stamp else "%Y-%m-%dT%H:%M:%S"
    return datetime.datetime.strptime(stamp, fmt).replace(tzinfo=datetime.timezone.utc).timestamp()


def audit_writes(path, since=0.0, until=None):
    """The write requests the API server completed between `since` and `until` (epoch seconds), oldest first:
    dicts with time, verb, code, dry_run, user, ref (the objectRef: apiGroup, apiVersion, resource, namespace, name,
    subresource) and uri."""
    out = []
    try:
        with open(path) as f:
            lines = f.readlines()
    except OSError:
        return out
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("stage") != "ResponseComplete":
            continue
        when = _utc(event["requestReceivedTimestamp"])
        if when < since or (until is not None and when > until):
            continue
        uri = event.get("requestURI", "")
        out.append({"time": when, "verb": event.get("verb"), "code": (event.get("responseStatus") or {}).get("code"),
                    "dry_run": "dryRun=All" in uri, "user": (event.get("user") or {}).get("username"),
                    "ref": event.get("objectRef") or {}, "uri": uri})
    return sorted(out, key=lambda e: e["time"])


def ref_namespace(ref):
    """The namespace of an audit objectRef's object ('' when cluster-scoped: the API server files a request on a
    Namespace under the Namespace's own name)."""
    if ref.get("resource") == "namespaces" and not ref.get("apiGroup"):
        return ""
    return ref.get("namespace") or ""


def ref_path(ref):
    """The REST path of an audit objectRef (the object itself, or its subresource)."""
    group, version = ref.get("apiGroup", ""), ref.get("apiVersion", "v1")
    base = "/api/%s" % version if not group else "/apis/%s/%s" % (group, version)
    ns = "/namespaces/%s" % ref_namespace(ref) if ref_namespace(ref) else ""
    path = "%s%s/%s/%s" % (base, ns, ref["resource"], ref.get("name", ""))
    return path + ("/" + ref["subresource"] if ref.get("subresource") else "")


def describe_ref(ref):
    group = ref.get("apiGroup") or "core"
    name = "%s/%s" % (ref_namespace(ref), ref.get("name")) if ref_namespace(ref) else ref.get("name")
    return "%s/%s %s %s%s" % (group, ref.get("apiVersion"), ref["resource"], name,
                              " (" + ref["subresource"] + ")" if ref.get("subresource") else "")


# A notification callback that records when each task (and handler) starts, with its role: ansible-playbook runs the
# cluster layers' tasks one after another on one host, so each audited request belongs to the last task started
# before it (task_of). Enabled with the environment from timeline_env().
TIMELINE_CALLBACK = '''
import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "aiinfra_task_timeline"
    CALLBACK_NEEDS_ENABLED = True

    def _log(self, kind, task=None):
        role = task._role.get_name() if task is not None and task._role else ""
        with open(os.environ["AIINFRA_TASK_TIMELINE"], "a") as f:
            f.write(json.dumps({"time": time.time(), "kind": kind, "role": role.rsplit(".", 1)[-1],
                                "task": task.get_name() if task is not None else "",
                                "action": task.action if task is not None else ""}) + "\\n")

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._log("task", task)

    def v2_playbook_on_handler_task_start(self, task):
        self._log("handler", task)

    def v2_playbook_on_stats(self, stats):
        self._log("end")
'''


def timeline_env(directory, timeline):
    """Environment additions for ansible-playbook that make it append its task timeline to `timeline` (JSON lines)."""
    plugins = os.path.join(directory, "callback_plugins")
    os.makedirs(plugins, exist_ok=True)
    with open(os.path.join(plugins, "aiinfra_task_timeline.py"), "w") as f:
        f.write(TIMELINE_CALLBACK)
    return {"ANSIBLE_CALLBACK_PLUGINS": plugins, "ANSIBLE_CALLBACKS_ENABLED": "aiinfra_task_timeline",
            "AIINFRA_TASK_TIMELINE": timeline}


def read_timeline(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def task_of(event, timeline):
    """The timeline entry (task) that was running when the audited request `event` arrived; None before the first."""
    current = None
    for entry in timeline:
        if entry["time"] > event["time"]:
            break
        current = entry
    return current


def lab_render():
    """playbooks/render.yml on the lab inventory for LAB_RENDER_ROLES, once per pytest process (ansible_env's
    shared_render); the Render."""
    from ansible_env import shared_render  # noqa: PLC0415

    return shared_render("lab-kube-api", "inventories/lab", roles=list(LAB_RENDER_ROLES))


def not_served(objects, served):
    """The objects (dicts) whose apiVersion/kind the server does not serve: [(object, reason)]."""
    out = []
    for obj in objects:
        gv, kind = obj.get("apiVersion", ""), obj.get("kind", "")
        if gv not in served:
            group = gv.split("/")[0] if "/" in gv else ""
            others = sorted(v for v in served if group and v.split("/")[0] == group)
            builtin = group == "" or group.endswith(".k8s.io") or "." not in group
            reason = ("API %s is not served by Kubernetes v1.20 (it serves %s)" % (gv, ", ".join(others)) if others
                      else "API group %s is not served by Kubernetes v1.20" % (group or gv) if builtin
                      else "custom resource: no CRD for group %s on this server (the chart's CRDs are applied in "
                           "test_kube_api_crds.py)" % group)
            out.append((obj, reason))
        elif kind not in served[gv]:
            out.append((obj, "kind %s is not served in %s by Kubernetes v1.20" % (kind, gv)))
    return out


def describe(obj):
    meta = obj.get("metadata", {})
    name = meta.get("name", "?")
    if meta.get("namespace"):
        name = meta["namespace"] + "/" + name
    return "%s %s %s" % (obj.get("apiVersion"), obj.get("kind"), name)


# --- the control_plane_vip role's haproxy in front of the API servers ---------------------------------------------

VIP_PORT = 26444
VIP_HEALTH_PORT = 26404


def render_vip_haproxy(plane, directory):
    """Render haproxy.cfg with the control_plane_vip role's own render tasks (ansible-playbook, connection local)
    for `plane`'s API servers as the control-plane nodes; (path of haproxy.cfg, finished ansible-playbook)."""
    from ansible_env import ansible_playbook  # noqa: PLC0415  (shared, read-only; imports pytest fixtures' deps)

    os.makedirs(directory, exist_ok=True)
    inventory = {"all": {"children": {"k8s_control_plane": {"hosts": {
        s.name: {"k8s_node_ip": s.address} for s in plane.servers}}},
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "k8s_api_vip": "127.36.%d.100" % plane.slot,
                 "control_plane_vip_port": VIP_PORT, "control_plane_vip_apiserver_port": API_PORT,
                 "control_plane_vip_health_port": VIP_HEALTH_PORT, "control_plane_vip_interface": "lo"}}}
    playbook = [{"name": "Render the control-plane VIP configuration for the live API-server tier",
                 "hosts": plane.servers[0].name, "gather_facts": False,
                 "tasks": [{"name": "Render with the role's tasks", "ansible.builtin.include_role": {
                     "name": "aiinfra.cluster.control_plane_vip", "tasks_from": "render"}}]}]
    inv_path, pb_path = os.path.join(directory, "inventory.yml"), os.path.join(directory, "render-vip.yml")
    with open(inv_path, "w") as f:
        yaml.safe_dump(inventory, f)
    with open(pb_path, "w") as f:
        yaml.safe_dump(playbook, f, sort_keys=False)
    render_dir = os.path.join(directory, "render")
    proc = ansible_playbook("-i", inv_path, pb_path, "-e", "render_dir=%s" % render_dir)
    assert proc.returncode == 0, "rendering the control_plane_vip role's haproxy.cfg failed:\n%s%s" % (
        proc.stdout[-3000:], proc.stderr[-2000:])
    return os.path.join(render_dir, "control_plane_vip", plane.servers[0].name, "haproxy.cfg"), proc


class Haproxy:
    """Debian's haproxy running a rendered haproxy.cfg in the foreground (-db), on loopback."""

    def __init__(self, config, log_path):
        self.config, self.log_path = config, log_path
        self.proc = None

    def start(self):
        require_tools("haproxy")
        check = subprocess.run(["haproxy", "-c", "-f", self.config], capture_output=True, text=True, env=ENV,
                               check=False)
        assert check.returncode == 0, "haproxy -c refuses %s: %s%s" % (self.config, check.stdout, check.stderr)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", self.config], stdout=log, stderr=subprocess.STDOUT,
                                     env=ENV, start_new_session=True)
        log.close()

    def wait_backends(self, plane, want, timeout=60):
        """Wait until the VIP monitor is up and `want` backends answer through the VIP (round robin)."""
        deadline = time.time() + timeout
        while True:
            assert self.proc.poll() is None, "haproxy exited with rc %s; log %s:\n%s" % (
                self.proc.returncode, self.log_path, self.log_tail())
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % VIP_HEALTH_PORT, timeout=2) as resp:
                    if resp.status == 200:
                        seen = set()
                        for _attempt in range(3 * want):
                            status, _body = plane.request("GET", "/readyz", server=vip_url(plane))
                            seen.add(status)
                        if seen == {200}:
                            return
            except (urllib.error.URLError, OSError):
                pass
            assert time.time() < deadline, "the VIP did not serve %d backends within %d s" % (want, timeout)
            time.sleep(0.5)

    def log_tail(self, lines=20):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        stop_process(self.proc, 10)


def stop_process(proc, timeout):
    """SIGTERM a started process (None or finished: nothing to do), SIGKILL after `timeout` seconds."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def vip_url(plane):
    """The VIP as clients use it: haproxy's frontend on loopback (the serving certificates carry 127.0.0.1)."""
    return "https://127.0.0.1:%d" % VIP_PORT


# --- CustomResourceDefinitions of the real charts on a v1.20 server ------------------------------------------------

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def crd_path(name):
    return CRD_PATH + "/" + name


def uses_cel(node):
    """Whether a CRD (or any part of one) carries x-kubernetes-validations: CEL rules, Kubernetes 1.25+."""
    if isinstance(node, dict):
        return "x-kubernetes-validations" in node or any(uses_cel(v) for v in node.values())
    if isinstance(node, list):
        return any(uses_cel(v) for v in node)
    return False


def without_cel(node):
    """The same CRD without its CEL rules (what a v1.20 server that refuses them can be given)."""
    if isinstance(node, dict):
        return {k: without_cel(v) for k, v in node.items() if k != "x-kubernetes-validations"}
    if isinstance(node, list):
        return [without_cel(v) for v in node]
    return node
