"""node_address: its own filter file (plugins/filter/node_address.py) over the shared rule in plugin_utils."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.aiinfra.cluster.plugins.filter.node_address import FilterModule, node_address


@pytest.mark.parametrize("host_vars, expected", [
    ({"ansible_host": "m1.lab", "k8s_node_ip": "10.0.0.11"}, "10.0.0.11"),
    ({"ansible_host": "192.168.56.21"}, "192.168.56.21"),
    ({"ansible_host": "192.168.56.21", "k8s_node_ip": ""}, "192.168.56.21"),
    ({"k8s_node_ip": "fd00::11"}, "fd00::11"),
])
def test_node_ip_wins_over_ansible_host(host_vars, expected):
    assert node_address(host_vars) == expected


@pytest.mark.parametrize("host_vars, message", [
    ({"inventory_hostname": "m9", "k8s_node_ip": ""}, "host m9 has neither"),
    ({}, r"host \? has neither"),
    ("m1", "not str"),
    (None, "not NoneType"),
])
def test_bad_input_is_one_clear_error(host_vars, message):
    with pytest.raises(AnsibleFilterError, match=message):
        node_address(host_vars)


def test_registered_under_its_own_name():
    assert FilterModule().filters() == {"node_address": node_address}
