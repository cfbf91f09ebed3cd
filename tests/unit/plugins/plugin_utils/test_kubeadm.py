import base64
import subprocess

import pytest

from ansible_collections.aiinfra.cluster.plugins.plugin_utils import kubeadm

TOKEN = "abc123.0123456789abcdef"
CERT_KEY = "f" * 64
HASH = "sha256:" + "a" * 64
BASE = {"kubernetes_version": "v1.31.4", "node_ip": "10.0.0.11", "node_name": "m1",
        "control_plane_endpoint": "10.0.0.10:8443", "cert_sans": ["10.0.0.10", "10.0.0.11", "m1", "", "m1"],
        "pod_subnet": "10.244.0.0/16", "service_subnet": "10.96.0.0/12", "cni": "cilium", "encryption": True,
        "token": TOKEN, "certificate_key": CERT_KEY, "ca_cert_hash": HASH}
KEY = base64.b64encode(b"k" * 32).decode()


def by_kind(docs):
    return {d["kind"]: d for d in docs}


def test_first_control_plane_documents():
    docs = by_kind(kubeadm.node_documents("init", BASE))
    assert set(docs) == {"InitConfiguration", "ClusterConfiguration", "KubeletConfiguration"}
    init, cluster, kubelet = docs["InitConfiguration"], docs["ClusterConfiguration"], docs["KubeletConfiguration"]
    assert init["apiVersion"] == cluster["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    assert init["bootstrapTokens"][0]["token"] == TOKEN and init["certificateKey"] == CERT_KEY
    assert init["localAPIEndpoint"] == {"advertiseAddress": "10.0.0.11", "bindPort": 6443}
    assert init["skipPhases"] == ["addon/kube-proxy"]  # Cilium replaces kube-proxy
    assert init["nodeRegistration"]["criSocket"] == "unix:///run/containerd/containerd.sock"
    assert {"name": "node-ip", "value": "10.0.0.11"} in init["nodeRegistration"]["kubeletExtraArgs"]
    assert cluster["controlPlaneEndpoint"] == "10.0.0.10:8443"
    assert cluster["kubernetesVersion"] == "v1.31.4"
    assert cluster["apiServer"]["certSANs"] == ["10.0.0.10", "10.0.0.11", "m1"]
    assert cluster["networking"]["podSubnet"] == "10.244.0.0/16"
    assert kubelet["cgroupDriver"] == "systemd"


def test_encryption_is_wired_into_the_api_server():
    cluster = kubeadm.cluster_configuration(BASE)
    args = {a["name"]: a["value"] for a in cluster["apiServer"]["extraArgs"]}
    assert args["encryption-provider-config"] == "/etc/kubernetes/enc/encryption-config.yaml"
    vol = cluster["apiServer"]["extraVolumes"][0]
    assert (vol["hostPath"], vol["mountPath"], vol["readOnly"]) == ("/etc/kubernetes/enc", "/etc/kubernetes/enc", True)
    off = kubeadm.cluster_configuration(dict(BASE, encryption=False))
    assert "extraVolumes" not in off["apiServer"] and off["apiServer"]["extraArgs"] == []


def test_api_version_and_argument_shape_follow_the_release():
    old = by_kind(kubeadm.node_documents("init", dict(BASE, kubernetes_version="v1.30.8")))
    assert old["InitConfiguration"]["apiVersion"] == "kubeadm.k8s.io/v1beta3"
    # v1beta3 takes maps, v1beta4 lists of name/value
    assert old["InitConfiguration"]["nodeRegistration"]["kubeletExtraArgs"] == {"node-ip": "10.0.0.11"}
    assert old["ClusterConfiguration"]["apiServer"]["extraArgs"]["encryption-provider-config"].endswith(".yaml")


def test_no_kube_proxy_skip_without_cilium():
    init = kubeadm.init_configuration(dict(BASE, cni="calico"))
    assert "skipPhases" not in init


def test_joining_control_plane_and_gpu_worker():
    server = kubeadm.join_configuration("server", dict(BASE, node_ip="10.0.0.12", node_name="m2"))
    assert server["discovery"]["bootstrapToken"] == {"apiServerEndpoint": "10.0.0.10:8443", "token": TOKEN,
                                                     "caCertHashes": [HASH]}
    assert server["controlPlane"] == {"localAPIEndpoint": {"advertiseAddress": "10.0.0.12", "bindPort": 6443},
                                      "certificateKey": CERT_KEY}
    assert server["nodeRegistration"]["taints"] == [{"key": "node-role.kubernetes.io/control-plane",
                                                     "effect": "NoSchedule"}]
    gpu = kubeadm.join_configuration("agent", dict(BASE, node_ip="10.0.0.31", node_name="g1",
                                                   node_labels={"aiinfra.io/gpu": "true"},
                                                   node_taints=["nvidia.com/gpu=present:NoSchedule"]))
    assert "controlPlane" not in gpu
    assert gpu["nodeRegistration"]["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
    assert {"name": "node-labels", "value": "aiinfra.io/gpu=true"} in gpu["nodeRegistration"]["kubeletExtraArgs"]
    assert [d["kind"] for d in kubeadm.node_documents("agent", BASE)] == ["JoinConfiguration", "KubeletConfiguration"]


@pytest.mark.parametrize("change, message", [
    ({"token": "ABCDEF.0123456789abcdef"}, "bootstrap token must look like"),
    ({"token": "abc.def"}, "bootstrap token must look like"),
    ({"certificate_key": "xyz"}, "certificate key must be 64 lowercase hex"),
    ({"ca_cert_hash": "sha256:abc"}, "discovery CA hash"),
    ({"node_taints": ["nvidia.com/gpu:Sometimes"]}, "taint 'nvidia.com/gpu:Sometimes'"),
    ({"kubernetes_version": "1.31"}, "not a Kubernetes release"),
])
def test_bad_settings_are_refused(change, message):
    with pytest.raises(kubeadm.KubeadmError, match=message):
        kubeadm.node_documents("server", dict(BASE, **change))


def test_join_role_is_checked():
    with pytest.raises(kubeadm.KubeadmError, match="server or an agent"):
        kubeadm.join_configuration("init", BASE)


@pytest.mark.parametrize("installed, wanted, action", [
    (None, "v1.31.4", "install"),
    ("v1.31.4", "v1.31.4", "none"),
    ("v1.31.4", "1.31.4", "none"),
    ("v1.31.2", "v1.31.4", "upgrade"),
    ("v1.30.8", "v1.31.4", "upgrade"),
])
def test_upgrade_action(installed, wanted, action):
    assert kubeadm.upgrade_action(installed, wanted) == action


def test_upgrade_refuses_skipping_a_minor_and_downgrades():
    with pytest.raises(kubeadm.KubeadmError, match="one minor release at a time; upgrade to v1.30.x first"):
        kubeadm.upgrade_action("v1.29.9", "v1.31.4")
    with pytest.raises(kubeadm.KubeadmError, match="cannot downgrade"):
        kubeadm.upgrade_action("v1.31.4", "v1.31.2")
    assert kubeadm.upgrade_action("v1.31.4", "v1.31.2", allow_downgrade=True) == "upgrade"


@pytest.mark.parametrize("text, version", [
    ("v1.31.4\n", "v1.31.4"),
    ('kubeadm version: &version.Info{Major:"1", Minor:"31", GitVersion:"v1.31.4", GitCommit:"a78aa47"}', "v1.31.4"),
    ("", None),
    ("bash: kubeadm: command not found", None),
])
def test_parse_version(text, version):
    assert kubeadm.parse_version(text) == version


def test_encryption_configuration_write_key_first_then_identity():
    keys = [{"name": "key-2", "secret": KEY}, {"name": "key-1", "secret": base64.b64encode(b"o" * 32).decode()}]
    cfg = kubeadm.encryption_configuration("aescbc", keys)
    assert cfg["apiVersion"] == "apiserver.config.k8s.io/v1" and cfg["kind"] == "EncryptionConfiguration"
    res = cfg["resources"][0]
    assert res["resources"] == ["secrets"]
    assert [k["name"] for k in res["providers"][0]["aescbc"]["keys"]] == ["key-2", "key-1"]
    assert res["providers"][1] == {"identity": {}}


@pytest.mark.parametrize("keys, provider, message", [
    ([{"name": "key-1", "secret": base64.b64encode(b"short").decode()}], "aescbc", "must be 32 bytes"),
    ([{"name": "key-1", "secret": "not base64!"}], "aescbc", "not valid base64"),
    ([{"name": "Key_1", "secret": KEY}], "aescbc", "lowercase letters"),
    ([{"name": "key-1", "secret": KEY}, {"name": "key-1", "secret": KEY}], "aescbc", "used twice"),
    ([], "aescbc", "at least one"),
    ([{"name": "key-1", "secret": KEY}], "rot13", "provider must be one of"),
])
def test_bad_encryption_keys(keys, provider, message):
    with pytest.raises(kubeadm.KubeadmError, match=message):
        kubeadm.encryption_configuration(provider, keys)


def test_rotation_is_idempotent_and_keeps_old_keys():
    keys = [{"name": "key-1", "secret": "one"}]
    rotated = kubeadm.rotate_keys(keys, "key-2", "two")
    assert rotated == [{"name": "key-2", "secret": "two"}, {"name": "key-1", "secret": "one"}]
    # the same rotation again changes nothing, and a fresh random secret is not used for a known key
    assert kubeadm.rotate_keys(rotated, "key-2", "other") == rotated
    # going back to an older key moves it first, with its own secret
    back = [{"name": "key-1", "secret": "one"}, {"name": "key-2", "secret": "two"}]
    assert kubeadm.rotate_keys(rotated, "key-1", "other") == back
    assert kubeadm.rotate_keys([], "key-1", "s") == [{"name": "key-1", "secret": "s"}]


@pytest.mark.parametrize("keytype", [["-newkey", "rsa:2048"], ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]])
def test_ca_cert_hash_matches_openssl(tmp_path, keytype):
    """The hash kubeadm pins: sha256 of the DER SubjectPublicKeyInfo, checked against openssl's own answer."""
    key, crt = tmp_path / "ca.key", tmp_path / "ca.crt"
    subprocess.run(["openssl", "req", "-x509", *keytype, "-nodes", "-keyout", str(key), "-out", str(crt),
                    "-subj", "/CN=kubernetes", "-days", "1"], check=True, capture_output=True)
    pub = subprocess.run(["openssl", "x509", "-in", str(crt), "-pubkey", "-noout"], check=True,
                         capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub, check=True,
                         capture_output=True).stdout
    want = "sha256:" + subprocess.run(["sha256sum"], input=der, check=True, capture_output=True).stdout.decode()[:64]
    assert kubeadm.ca_cert_hash(crt.read_text()) == want


def test_ca_cert_hash_rejects_garbage():
    with pytest.raises(kubeadm.KubeadmError, match="no PEM certificate"):
        kubeadm.ca_cert_hash("hello")


# --- issue 16: bootstrap credentials through --config files, a fresh token per join ---------------------------------

@pytest.mark.parametrize("version, api", [("v1.31.4", "kubeadm.k8s.io/v1beta4"), ("v1.30.8", "kubeadm.k8s.io/v1beta3")])
def test_upload_certs_documents_carry_the_certificate_key_and_no_token(version, api):
    docs = kubeadm.upload_certs_documents(dict(BASE, kubernetes_version=version))
    assert [d["kind"] for d in docs] == ["InitConfiguration", "ClusterConfiguration"]
    init, cluster = docs
    assert init["apiVersion"] == cluster["apiVersion"] == api
    assert init["certificateKey"] == CERT_KEY
    assert "bootstrapTokens" not in init and TOKEN not in repr(docs)
    assert cluster == kubeadm.cluster_configuration(dict(BASE, kubernetes_version=version))


@pytest.mark.parametrize("key", ["", "F" * 64, "f" * 63, None])
def test_upload_certs_documents_refuse_a_bad_certificate_key(key):
    with pytest.raises(kubeadm.KubeadmError, match="certificate key must be 64 lowercase hex"):
        kubeadm.upload_certs_documents(dict(BASE, certificate_key=key))


@pytest.mark.parametrize("stdout, token", [
    ("abc123.0123456789abcdef\n", "abc123.0123456789abcdef"),
    ("W1201 warning: something\nabc123.0123456789abcdef\n\n", "abc123.0123456789abcdef"),
])
def test_created_token_is_the_last_line(stdout, token):
    assert kubeadm.created_token(stdout) == token


@pytest.mark.parametrize("stdout", ["", None, "timed out waiting for the condition\n", "ABC123.0123456789ABCDEF\n",
                                    "abc123.0123456789abcdef extra\n"])
def test_created_token_refuses_other_output_without_repeating_it(stdout):
    with pytest.raises(kubeadm.KubeadmError, match="did not print a bootstrap token") as err:
        kubeadm.created_token(stdout)
    assert "0123456789" not in str(err.value) and "timed out" not in str(err.value)


def test_token_id_is_the_public_half_only():
    assert kubeadm.token_id(TOKEN) == "abc123"
    with pytest.raises(kubeadm.KubeadmError, match="bootstrap token must look like"):
        kubeadm.token_id("not-a-token")
