"""The harbor role's registry TLS material (tasks_from: ca): the platform's own registry CA and Harbor's server
certificate, issued once on the controller with the real community.crypto modules into a temporary credentials
directory. The files and their modes, the subjectAltName for an IP and a DNS registry host, a second run changed=0,
check mode writing nothing, a new host reissuing the server certificate under the same CA, renewal near the end, a
real TLS handshake verified with the CA (Python's strict X.509 checks), and the user's own CA (k8s_registry_ca_file
with harbor_tls_cert_file/_key_file) failing early and clearly when its files are missing."""

import base64
import datetime
import hashlib
import ipaddress
import re
import socket
import ssl
import stat
import sys
import threading

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from ansible_env import ansible_playbook, needs_collection, registry_tls

pytestmark = needs_collection

FILES = {"registry-ca.key": 0o600, "registry-ca.crt": 0o644, "registry-tls.key": 0o600, "registry-tls.crt": 0o644}


def run_ca(tmp_path, host, check=False, **extra):
    """ansible-playbook of harbor's ca entry point on localhost; (finished process, {ok, changed, failed, skipped})."""
    credentials = tmp_path / "credentials"
    play = [{"name": "Registry TLS", "hosts": "localhost", "gather_facts": False,
             "vars": dict({"ansible_python_interpreter": sys.executable, "ansible_connection": "local",
                           "k8s_registry_enabled": True, "k8s_registry_tls": True, "k8s_registry_host": host,
                           "k8s_credentials_dir": str(credentials)}, **extra),
             "tasks": [{"name": "Issue the registry CA and certificate", "ansible.builtin.include_role": {
                 "name": "aiinfra.cluster.harbor", "tasks_from": "ca"}}]}]
    playbook = tmp_path / "ca-play.yml"
    playbook.write_text(yaml.safe_dump(play))
    proc = ansible_playbook("-i", "localhost,", playbook, *(["--check"] if check else []))
    recap = re.search(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)\s+skipped=(\d+)",
                      proc.stdout)
    assert recap, proc.stdout[-3000:] + proc.stderr[-2000:]
    return proc, dict(zip(("ok", "changed", "failed", "skipped"), map(int, recap.groups())))


def ok(proc, counts):
    assert proc.returncode == 0 and counts["failed"] == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def snapshot(directory):
    """{name: bytes} of every file in directory ({} when it does not exist)."""
    if not directory.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def cert(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


def san(certificate):
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(n.value) for n in names]


def issue(tmp_path, host, **extra):
    proc, counts = run_ca(tmp_path, host, **extra)
    ok(proc, counts)
    assert counts["changed"] > 0
    return tmp_path / "credentials"


def test_issues_the_ca_and_an_ip_certificate_once_with_the_right_modes(tmp_path):
    credentials = issue(tmp_path, "192.168.56.11")
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o700  # created by the role, like controller_secret does
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in credentials.iterdir()} == FILES

    ca, server = cert(credentials / "registry-ca.crt"), cert(credentials / "registry-tls.crt")
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    assert ca.subject == ca.issuer
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert datetime.timedelta(days=3649) <= lifetime <= datetime.timedelta(days=3651)  # about ten years

    server.verify_directly_issued_by(ca)
    assert server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH])
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("192.168.56.11")]
    assert names.get_values_for_type(x509.DNSName) == []

    before = snapshot(credentials)
    proc, counts = run_ca(tmp_path, "192.168.56.11")
    ok(proc, counts)
    assert counts["changed"] == 0, proc.stdout[-4000:]
    assert snapshot(credentials) == before


def test_a_dns_host_gets_a_dns_name(tmp_path):
    credentials = issue(tmp_path, "registry.example.test")
    names = cert(credentials / "registry-tls.crt").extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["registry.example.test"]
    assert names.get_values_for_type(x509.IPAddress) == []


def test_check_mode_writes_nothing_before_and_after(tmp_path):
    credentials = tmp_path / "credentials"
    proc, counts = run_ca(tmp_path, "192.168.56.11", check=True)
    ok(proc, counts)
    assert counts["changed"] > 0  # it says what it would create
    assert not credentials.exists()

    issue(tmp_path, "192.168.56.11")
    before = snapshot(credentials)
    proc, counts = run_ca(tmp_path, "192.168.56.11", check=True)
    ok(proc, counts)
    assert counts["changed"] == 0, proc.stdout[-4000:]
    # a new host in check mode: reported, not written
    proc, counts = run_ca(tmp_path, "192.168.56.99", check=True)
    ok(proc, counts)
    assert counts["changed"] == 1, proc.stdout[-4000:]
    assert snapshot(credentials) == before


def test_a_new_host_reissues_the_certificate_under_the_same_ca(tmp_path):
    credentials = issue(tmp_path, "192.168.56.11")
    before = snapshot(credentials)
    issue(tmp_path, "registry.example.test")
    after = snapshot(credentials)
    for kept in ("registry-ca.key", "registry-ca.crt", "registry-tls.key"):
        assert after[kept] == before[kept], kept
    assert after["registry-tls.crt"] != before["registry-tls.crt"]
    server = cert(credentials / "registry-tls.crt")
    assert san(server) == ["registry.example.test"]
    server.verify_directly_issued_by(cert(credentials / "registry-ca.crt"))


def test_a_certificate_near_its_end_is_issued_again_and_then_kept(tmp_path):
    credentials = issue(tmp_path, "192.168.56.11", harbor_tls_cert_valid_days=10)  # within harbor_tls_renew_days (30)
    short = cert(credentials / "registry-tls.crt")
    ca_before = (credentials / "registry-ca.crt").read_bytes()
    issue(tmp_path, "192.168.56.11")
    renewed = cert(credentials / "registry-tls.crt")
    assert renewed.not_valid_after_utc - short.not_valid_after_utc > datetime.timedelta(days=800)
    assert (credentials / "registry-ca.crt").read_bytes() == ca_before
    proc, counts = run_ca(tmp_path, "192.168.56.11")
    ok(proc, counts)
    assert counts["changed"] == 0, proc.stdout[-4000:]


def test_a_client_verifying_with_the_ca_accepts_the_certificate(tmp_path):
    """A real handshake: a TLS server with Harbor's certificate and key on 127.0.0.1, a client that trusts only the CA
    file, checks the host name and applies the strict X.509 rules (as Go's and OpenSSL 3's verifiers do)."""
    credentials = issue(tmp_path, "127.0.0.1")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(credentials / "registry-tls.crt", credentials / "registry-tls.key")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        conn = listener.accept()[0]
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"ok")
        except ssl.SSLError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=str(credentials / "registry-ca.crt"))
    client_ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.recv(2) == b"ok"
    thread.join(10)
    listener.close()

    # and a client trusting another CA refuses it
    (tmp_path / "other").mkdir()
    other = issue(tmp_path / "other", "127.0.0.1")
    refusing = ssl.create_default_context(cafile=str(other / "registry-ca.crt"))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            refusing.wrap_socket(raw, server_hostname="127.0.0.1")
    thread.join(10)
    listener.close()


def test_your_own_ca_needs_the_certificate_files_and_says_so(tmp_path):
    (tmp_path / "mine").mkdir()
    mine = issue(tmp_path / "mine", "192.168.56.11")
    run_dir = tmp_path / "run"
    run_dir.mkdir()

    proc, counts = run_ca(run_dir, "192.168.56.11", k8s_registry_ca_file=str(mine / "registry-ca.crt"))
    assert proc.returncode != 0 and counts["failed"] == 1
    assert "set harbor_tls_cert_file (unset) and harbor_tls_key_file (unset)" in proc.stdout, proc.stdout[-3000:]
    assert not (run_dir / "credentials").exists()  # nothing issued in their place

    proc, counts = run_ca(run_dir, "192.168.56.11", k8s_registry_ca_file=str(mine / "registry-ca.crt"),
                          harbor_tls_cert_file=str(mine / "missing.crt"), harbor_tls_key_file=str(mine / "registry-tls.key"))
    assert proc.returncode != 0 and "harbor_tls_cert_file (%s)" % (mine / "missing.crt") in proc.stdout

    # a certificate for another host is refused before Harbor would serve it
    proc, counts = run_ca(run_dir, "192.168.56.12", k8s_registry_ca_file=str(mine / "registry-ca.crt"),
                          harbor_tls_cert_file=str(mine / "registry-tls.crt"), harbor_tls_key_file=str(mine / "registry-tls.key"))
    assert proc.returncode != 0 and "not IP:192.168.56.12" in proc.stdout, proc.stdout[-3000:]

    # the right files: accepted, nothing issued, nothing changed
    proc, counts = run_ca(run_dir, "192.168.56.11", k8s_registry_ca_file=str(mine / "registry-ca.crt"),
                          harbor_tls_cert_file=str(mine / "registry-tls.crt"), harbor_tls_key_file=str(mine / "registry-tls.key"))
    ok(proc, counts)
    assert counts["changed"] == 0 and not (run_dir / "credentials").exists()

    # the certificate files without your CA: refused (the nodes would not trust it)
    proc, counts = run_ca(run_dir, "192.168.56.11", harbor_tls_cert_file=str(mine / "registry-tls.crt"),
                          harbor_tls_key_file=str(mine / "registry-tls.key"))
    assert proc.returncode != 0 and "set k8s_registry_ca_file to that CA too" in proc.stdout
    assert "BEGIN" not in proc.stdout  # no key or certificate in the log


# --- The lab with TLS rendered (playbooks/render.yml, then the real harbor 1.16.0 chart): the chart serves our Secret --

def _rendered_tls_secret(render):
    docs = [d for d in yaml.safe_load_all((render.out / "harbor" / "tls-secret.yaml").read_text()) if d]
    assert len(docs) == 1
    return docs[0]


def test_the_rendered_chart_serves_our_certificate_secret_and_generates_none():
    render = registry_tls()
    releases, problems = render.charts()
    assert problems == []  # every value we set (certSource, secret.secretName, caSecretName, podAnnotations) is read
    values = yaml.safe_load((render.out / "harbor" / "values" / "harbor.yaml").read_text())
    assert values["expose"]["tls"] == {"enabled": True, "certSource": "secret", "secret": {"secretName": "harbor-tls"}}
    assert values["caSecretName"] == "harbor-tls"

    nginx = render.one("harbor", "Deployment", "harbor-nginx")["spec"]["template"]
    volumes = {v["name"]: v for v in nginx["spec"]["volumes"]}
    assert volumes["certificate"]["secret"]["secretName"] == "harbor-tls"
    core = render.one("harbor", "Deployment", "harbor-core")["spec"]["template"]["spec"]
    assert {v["name"]: v for v in core["volumes"]}["ca-download"]["secret"]["secretName"] == "harbor-tls"
    # the chart generates no registry certificate or CA of its own (certSource auto did: harbor-nginx, a new CA on every
    # render; harbor-core's tls.crt is the token service's signing certificate, not served to clients)
    assert render.objects("harbor", "Secret", "harbor-nginx") == []
    assert [s["metadata"]["name"] for s in render.objects("harbor", "Secret") if "ca.crt" in (s.get("data") or {})] == []

    ours = _rendered_tls_secret(render)
    assert (ours["kind"], ours["type"], ours["metadata"]["name"], ours["metadata"]["namespace"]) == (
        "Secret", "kubernetes.io/tls", "harbor-tls", "harbor")
    data = {k: base64.b64decode(v) for k, v in ours["data"].items()}
    assert set(data) == {"tls.crt", "tls.key", "ca.crt"}
    server, ca = x509.load_pem_x509_certificate(data["tls.crt"]), x509.load_pem_x509_certificate(data["ca.crt"])
    server.verify_directly_issued_by(ca)
    assert san(server) == ["192.168.56.11"]
    assert data["tls.key"].startswith(b"-----BEGIN") and b"PRIVATE KEY" in data["tls.key"]
    # nginx rolls when its certificate changes
    assert nginx["metadata"]["annotations"]["aiinfra.io/tls-certificate-sha256"] == hashlib.sha256(
        data["tls.crt"].rstrip(b"\n")).hexdigest()
    # Kaniko's ConfigMap carries the same CA
    for ns in ("jenkins", "team-a"):
        configmap = yaml.safe_load((render.out / "harbor" / ("registry-ca-%s.yaml" % ns)).read_text())
        assert configmap["data"]["ca.crt"].strip() == data["ca.crt"].decode().strip()
    assert stat.S_IMODE((render.out / "harbor" / "tls-secret.yaml").stat().st_mode) == 0o600
