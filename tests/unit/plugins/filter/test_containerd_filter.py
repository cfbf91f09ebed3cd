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


def test_config_problems_filter_is_registered():
    flt = FilterModule().filters()["containerd_config_problems"]
    dump = '[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "registry.k8s.io/pause:3.6"\n'
    assert flt(dump, {"sandbox_image": "registry.k8s.io/pause:3.10"}) == [
        'sandbox_image is "registry.k8s.io/pause:3.6", not "registry.k8s.io/pause:3.10"', "runtime runc is missing"]
    with pytest.raises(AnsibleFilterError, match="containerd_config_problems: containerd config dump did not print TOML"):
        flt("containerd: not found", {})
