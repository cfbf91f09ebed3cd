import tomllib

import pytest

from ansible_collections.aiinfra.cluster.plugins.plugin_utils.containerd import (
    RegistryConfigError, registry_files, render_hosts_toml)


def test_plain_http_registry_keeps_port_in_directory_name():
    files = registry_files([{"name": "harbor.lab:30002", "scheme": "http"}], "/etc/containerd/certs.d/")
    assert files[0]["dir"] == "/etc/containerd/certs.d/harbor.lab:30002"
    doc = tomllib.loads(files[0]["hosts_toml"])
    assert doc == {"server": "http://harbor.lab:30002",
                   "host": {"http://harbor.lab:30002": {"capabilities": ["pull", "resolve", "push"]}}}


def test_https_registry_with_ca_and_skip_verify():
    files = registry_files([{"name": "reg.example:443", "ca": "-----BEGIN CERTIFICATE-----\n", "skip_verify": True}],
                           "/etc/containerd/certs.d")
    doc = tomllib.loads(files[0]["hosts_toml"])
    host = doc["host"]["https://reg.example:443"]
    assert host["ca"] == "/etc/containerd/certs.d/reg.example:443/ca.crt"
    assert host["skip_verify"] is True
    assert files[0]["ca_path"] == "/etc/containerd/certs.d/reg.example:443/ca.crt"


def test_https_registry_without_extras_needs_only_server():
    doc = tomllib.loads(render_hosts_toml({"name": "ghcr.io"}))
    assert doc["server"] == "https://ghcr.io"
    assert "ghcr.io" in str(doc["host"])  # explicit host entry keeps push capability


def test_docker_io_mirror_falls_back_to_upstream():
    doc = tomllib.loads(render_hosts_toml({"name": "docker.io", "mirrors": [
        "http://198.18.0.11:5000", {"url": "https://mirror.lab", "skip_verify": True, "override_path": True}]}))
    assert doc["server"] == "https://registry-1.docker.io"
    assert list(doc["host"]) == ["http://198.18.0.11:5000", "https://mirror.lab"]  # order = try order
    assert doc["host"]["http://198.18.0.11:5000"]["capabilities"] == ["pull", "resolve"]
    expected = {"capabilities": ["pull", "resolve"], "skip_verify": True, "override_path": True}
    assert doc["host"]["https://mirror.lab"] == expected


def test_absent_entries_are_listed_for_removal():
    files = registry_files([{"name": "old.lab:5000", "state": "absent"}], "/c")
    assert files[0]["state"] == "absent" and files[0]["dir"] == "/c/old.lab:5000"


def test_ipv6_registry_name():
    files = registry_files([{"name": "[fd00::1]:5000", "scheme": "http"}], "/c")
    assert tomllib.loads(files[0]["hosts_toml"])["server"] == "http://[fd00::1]:5000"


@pytest.mark.parametrize("entry,message", [
    ({"name": "http://harbor.lab:30002"}, "must be host or host:port with no scheme"),
    ({"name": "harbor.lab/library"}, "must be host or host:port with no scheme or path"),
    ({"name": "harbor.lab:99999"}, "port 99999 is out of range"),
    ({"name": "harbor.lab", "scheme": "ftp"}, "scheme must be http or https"),
    ({"name": "docker.io", "mirrors": ["mirror.lab:5000"]}, "mirror url 'mirror.lab:5000' must be an http"),
    ({"name": "docker.io", "mirrors": [{"url": "http://m", "capabilities": ["pull", "delete"]}]},
     "unknown capabilities ['delete']"),
    ({"name": "a.lab", "state": "gone"}, "state must be present or absent"),
    ({"scheme": "http"}, "every registry entry needs a name"),
])
def test_bad_entries_are_rejected_with_a_clear_message(entry, message):
    with pytest.raises(RegistryConfigError) as err:
        registry_files([entry], "/c")
    assert message in str(err.value)


def test_duplicate_registry_rejected():
    with pytest.raises(RegistryConfigError, match="listed twice"):
        registry_files([{"name": "a.lab"}, {"name": "a.lab"}], "/c")


def test_toml_strings_are_escaped():
    doc = tomllib.loads(render_hosts_toml({"name": "a.lab", "server": 'https://a.lab/x"y'}))
    assert doc["server"] == 'https://a.lab/x"y'
