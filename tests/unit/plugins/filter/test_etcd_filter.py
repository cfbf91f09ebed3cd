import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.aiinfra.cluster.plugins.filter.etcd import FilterModule, etcd_client_url


def test_node_ip_wins_over_ansible_host():
    assert etcd_client_url({"ansible_host": "192.168.56.11"}) == "https://192.168.56.11:2379"
    assert etcd_client_url({"ansible_host": "m1.lab", "k8s_node_ip": "10.0.0.11"}) == "https://10.0.0.11:2379"
    assert etcd_client_url({"ansible_host": "fd00::11"}, 2379) == "https://[fd00::11]:2379"
    assert etcd_client_url({"ansible_host": "10.0.0.11"}, "2380") == "https://10.0.0.11:2380"


def test_a_host_without_address_is_named():
    with pytest.raises(AnsibleFilterError, match="host m9 has neither"):
        etcd_client_url({"inventory_hostname": "m9"})


def test_etcd_filter_file_holds_only_etcd_filters():
    assert sorted(FilterModule().filters()) == ["etcd_client_url"]
