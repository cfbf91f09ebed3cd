"""The kubeadm filters a join uses (issue 16): registered under their names, errors as AnsibleFilterError with no
secret in the message."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.aiinfra.cluster.plugins.filter.kubeadm import FilterModule

FILTERS = FilterModule().filters()
SETTINGS = {"kubernetes_version": "v1.31.4", "node_ip": "10.0.0.11", "node_name": "m1",
            "control_plane_endpoint": "10.0.0.10:8443", "cert_sans": [], "pod_subnet": "10.244.0.0/16",
            "service_subnet": "10.96.0.0/12", "cni": "cilium", "encryption": False, "certificate_key": "e" * 64}


def test_upload_certs_documents_through_the_filter():
    docs = FILTERS["kubeadm_upload_certs_documents"](SETTINGS)
    assert [d["kind"] for d in docs] == ["InitConfiguration", "ClusterConfiguration"]
    with pytest.raises(AnsibleFilterError, match="kubeadm: the certificate key must be"):
        FILTERS["kubeadm_upload_certs_documents"](dict(SETTINGS, certificate_key="x"))


def test_created_token_and_its_id_through_the_filters():
    token = FILTERS["kubeadm_created_token"]("k8sjoi.n0123456789abcde\n")
    assert token == "k8sjoi.n0123456789abcde"
    assert FILTERS["kubeadm_token_id"](token) == "k8sjoi"
    with pytest.raises(AnsibleFilterError) as err:
        FILTERS["kubeadm_created_token"]("error: secretpart0123456 invalid\n")
    assert "secretpart0123456" not in str(err.value)
