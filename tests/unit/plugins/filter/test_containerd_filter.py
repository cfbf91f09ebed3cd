import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.aiinfra.cluster.plugins.filter.containerd import FilterModule


def test_filter_is_registered_and_renders():
    flt = FilterModule().filters()["containerd_registry_files"]
    out = flt([{"name": "r.lab:5000", "scheme": "http"}])
    assert out[0]["dir"] == "/etc/containerd/certs.d/r.lab:5000"
    assert 'server = "http://r.lab:5000"' in out[0]["hosts_toml"]


def test_filter_error_names_the_variable():
    flt = FilterModule().filters()["containerd_registry_files"]
    with pytest.raises(AnsibleFilterError, match=r"node_baseline_registries: registry name 'https://x' must be host"):
        flt([{"name": "https://x"}])
