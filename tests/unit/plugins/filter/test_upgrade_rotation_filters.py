"""The filters over the upgrade decision and the key rotation: k8s_info's resources list in, errors as
AnsibleFilterError naming the filter (issue 13 items 4 and 5)."""

import base64

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.aiinfra.cluster.plugins.filter import kubeadm as kubeadm_filter
from ansible_collections.aiinfra.cluster.plugins.filter import node_upgrade as upgrade_filter
from ansible_collections.aiinfra.cluster.plugins.plugin_utils import kubeadm

NODE = {"metadata": {"annotations": {"aiinfra.io/upgrading-to": "v1.31.4"}}, "spec": {"unschedulable": True},
        "status": {"nodeInfo": {"kubeletVersion": "v1.31.4"}, "conditions": [{"type": "Ready", "status": "True"}]}}


def test_node_upgrade_step_takes_k8s_info_resources():
    f = upgrade_filter.FilterModule().filters()["node_upgrade_step"]
    assert f([NODE], "none", "1.31.4")["action"] == "finish"
    assert f([], "upgrade", "v1.31.4")["action"] == "upgrade"  # not registered
    with pytest.raises(AnsibleFilterError, match="node_upgrade_step: binary action"):
        f([NODE], "bogus", "v1.31.4")
    with pytest.raises(AnsibleFilterError, match="resources list"):
        f(NODE, "none", "v1.31.4")


def test_kubeadm_encryption_rotation_filter():
    f = kubeadm_filter.FilterModule().filters()["kubeadm_encryption_rotation"]
    secret = base64.b64encode(b"s" * 32).decode()
    conf = kubeadm.encryption_configuration("aescbc", [{"name": "key-1", "secret": secret}])
    plan = f({"cp1": {"config": conf, "mtime": 1, "started": ""}}, "key-1", "aescbc",
             [{"name": "key-1", "secret": secret}])
    assert plan["phase"] == "none" and plan["join_config"] == conf
    with pytest.raises(AnsibleFilterError, match="kubeadm: the write key 'key-2'"):
        f({"cp1": {"config": conf, "mtime": 1, "started": ""}}, "key-2", "aescbc", [])
