"""The RDMA layer's rules (plugins/module_utils/rdma.py) as tables of plain input and the problems expected (a fragment
of each problem, in order; [] = sound), and the filter that the network_operator role calls."""

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.aiinfra.cluster.plugins.filter.rdma import FilterModule
from ansible_collections.aiinfra.cluster.plugins.module_utils import rdma

GPU = ["g1", "g2", "g3"]

GROUP_CASES = [
    ("subset", ["g1"], GPU, []),
    ("equal", ["g3", "g1", "g2"], GPU, []),
    ("group missing", None, GPU, ["group rdma_nodes is missing"]),
    ("group empty", [], GPU, ["group rdma_nodes is empty"]),
    ("one host outside", ["g1", "w1"], GPU, ["Host w1 is in rdma_nodes but not in gpu_nodes", "Add it to gpu_nodes"]),
    ("two outside, sorted, once each", ["w2", "g1", "w1", "w2"], GPU,
     ["Hosts w1, w2 are in rdma_nodes but not in gpu_nodes", "remove them from rdma_nodes"]),
    ("no GPU nodes at all", ["g1"], [], ["Host g1 is in rdma_nodes but not in gpu_nodes"]),
    ("GPU nodes unknown (None)", ["g1"], None, ["Host g1 is in rdma_nodes"]),
]


@pytest.mark.parametrize("hosts,gpu,expect", [c[1:] for c in GROUP_CASES], ids=[c[0] for c in GROUP_CASES])
def test_group_against_gpu_nodes(hosts, gpu, expect):
    problems = rdma.rdma_group_problems(hosts, gpu)
    assert len(problems) == (1 if expect else 0), problems
    for fragment in expect:
        assert fragment in problems[0], problems


def test_group_names_come_from_the_caller():
    problems = rdma.rdma_group_problems(["w1"], ["g1"], group="roce", gpu_group="accelerators")
    assert problems and "in roce but not in accelerators" in problems[0]


INTERFACE_CASES = [
    ("plain names", {"g1": ["ens1f0np0", "ib0"], "g2": ["enp65s0f1.100"]}, []),
    ("hosts without the variable", {}, []),
    ("empty list", {"g1": []}, []),
    ("a string, not a list", {"g1": "ens1f0"}, ["Host g1: rdma_interfaces is 'ens1f0'; it must be a list"]),
    ("too long (16 characters)", {"g1": ["enp129s0f1np1abc"]}, ["Host g1: rdma_interfaces has 'enp129s0f1np1abc'"]),
    ("15 characters is fine", {"g1": ["enp129s0f1np1ab"]}, []),
    ("slash", {"g1": ["ens/1"]}, ["has 'ens/1'"]),
    ("space", {"g1": ["ens 1"]}, ["has 'ens 1'"]),
    ("not a string", {"g1": [5]}, ["has 5"]),
    ("twice", {"g1": ["ib0", "ib0"]}, ["Host g1: rdma_interfaces lists ib0 more than once"]),
    ("sorted by host", {"g2": ["a b"], "g1": ["c d"]}, ["Host g1", "Host g2"]),
]


@pytest.mark.parametrize("interfaces,expect", [c[1:] for c in INTERFACE_CASES], ids=[c[0] for c in INTERFACE_CASES])
def test_interfaces(interfaces, expect):
    problems = rdma.interface_problems(interfaces)
    assert len(problems) == len(expect), problems
    for problem, fragment in zip(problems, expect):
        assert fragment in problem


SHARED = [{"name": "rdma_shared_device_a", "vendors": ["15b3"], "device_ids": ["101b", "a2dc"]}]
RESOURCE_CASES = [
    ("the default", SHARED, []),
    ("name only", [{"name": "hostdev"}], []),
    ("two resources", SHARED + [{"name": "rdma_b", "vendors": ["15B3"]}], []),
    ("empty list", [], ["must list at least one resource"]),
    ("not a list", {"name": "a"}, ["must list at least one resource"]),
    ("not a mapping", ["rdma_a"], ["[0] is 'rdma_a'; each resource is a mapping"]),
    ("no name", [{"vendors": ["15b3"]}], ["[0]: name None is not a valid resource name"]),
    ("bad name", [{"name": "rdma/a"}], ["name 'rdma/a' is not a valid resource name"]),
    ("name ends with -", [{"name": "rdma-"}], ["name 'rdma-' is not"]),
    ("same name twice", [{"name": "a"}, {"name": "a"}], ["resource a is defined twice"]),
    ("0x prefix", [{"name": "a", "vendors": ["0x15b3"]}], ["vendors has '0x15b3'; PCI IDs are four hex digits"]),
    ("device id as a number", [{"name": "a", "device_ids": [4123]}], ["device_ids has 4123"]),
    ("ids as a string", [{"name": "a", "vendors": "15b3"}], ["vendors is '15b3'; it must be a list"]),
]


@pytest.mark.parametrize("resources,expect", [c[1:] for c in RESOURCE_CASES], ids=[c[0] for c in RESOURCE_CASES])
def test_resources(resources, expect):
    problems = rdma.resource_problems(resources, "network_operator_rdma_shared_devices")
    assert len(problems) == len(expect), problems
    for problem, fragment in zip(problems, expect):
        assert fragment in problem
        assert problem.startswith("network_operator_rdma_shared_devices")


def test_all_rules_together_in_order():
    settings = {"group": "rdma_nodes", "hosts": ["g1", "w1"], "gpu_hosts": ["g1"], "interfaces": {"g1": "ib0"},
                "shared_devices": [], "sriov_enabled": True, "sriov_resources": [{"name": "x", "vendors": ["z"]}]}
    problems = rdma.problems(settings)
    assert [p.split(" ")[0].split("[")[0] for p in problems] == [
        "Host", "Host", "network_operator_rdma_shared_devices", "network_operator_sriov_resources"], problems
    assert "w1" in problems[0] and "rdma_interfaces is 'ib0'" in problems[1]


def test_the_gpu_layer_must_be_on():
    problems = rdma.problems({"gpu_enabled": False, "hosts": ["g1"], "gpu_hosts": ["g1"]})
    assert len(problems) == 1 and "the GPU layer is off" in problems[0] and "k8s_gpu_enabled" in problems[0]
    assert rdma.problems({"gpu_enabled": "True", "hosts": ["g1"], "gpu_hosts": ["g1"]}) == []


@pytest.mark.parametrize("enabled", [False, "False", "no", 0])
def test_layer_off_means_no_problems(enabled):
    assert rdma.problems({"enabled": enabled, "hosts": None, "gpu_hosts": []}) == []


def test_preflight_settings_leave_the_resources_unchecked():
    """The preflight passes no resources (they are the role's settings): only the group and interfaces count."""
    assert rdma.problems({"hosts": ["g1"], "gpu_hosts": ["g1"], "interfaces": {"g1": ["ib0"]}}) == []
    assert rdma.problems({"hosts": ["g1"], "gpu_hosts": ["g1"], "sriov_enabled": False,
                          "sriov_resources": []}) == []  # SR-IOV off: its resources are not read


def test_filter():
    rdma_problems = FilterModule().filters()["rdma_problems"]
    assert rdma_problems({"hosts": ["g1"], "gpu_hosts": ["g1"]}) == []
    assert "Host w1 is in rdma_nodes" in rdma_problems({"hosts": ["w1"], "gpu_hosts": ["g1"]})[0]
    with pytest.raises(AnsibleFilterError, match="expects a mapping of settings, got list"):
        rdma_problems(["g1"])
