"""The storage, metrics and data-service choice rules (plugins/module_utils/storage_choice.py), as tables of plain
input and the problems expected (a fragment of each problem; [] = sound)."""

import pytest

from ansible_collections.aiinfra.cluster.plugins.module_utils import storage_choice as sc


def assert_problems(problems, expect, also=""):
    """Exactly as many problems as expected, each containing its expected fragment (and `also`)."""
    assert len(problems) == len(expect), problems
    for got, want in zip(problems, expect):
        assert want in got and also in got


THREE = {"w1": ["/dev/sdb"], "w2": ["/dev/disk/by-id/nvme-Samsung_SSD_980_S64DNX0R123456"], "g1": ["/dev/vdb", "/dev/vdc"]}

DEVICE_CASES = [
    ("three hosts, plain and udev paths", THREE, []),
    ("hosts without devices are fine", {"m1": [], "m2": None, "w1": ["/dev/sdb"]}, []),
    ("nothing at all", {}, []),
    ("relative name", {"w1": ["sdb"]}, ["rook_devices of host w1 names 'sdb'"]),
    ("outside /dev", {"w1": ["/mnt/disk1"]}, ["names '/mnt/disk1'"]),
    ("escapes /dev", {"w1": ["/dev/../etc/passwd"]}, ["names '/dev/../etc/passwd'"]),
    ("trailing slash", {"w1": ["/dev/sdb/"]}, ["names '/dev/sdb/'"]),
    ("bare /dev", {"w1": ["/dev/"]}, ["names '/dev/'"]),
    ("space", {"w1": ["/dev/sd b"]}, ["names '/dev/sd b'"]),
    ("not a string", {"w1": [7]}, ["names 7"]),
    ("a string, not a list", {"w1": "/dev/sdb"}, ["rook_devices of host w1 is '/dev/sdb'; it must be a list"]),
    ("listed twice", {"w1": ["/dev/sdb", "/dev/sdb"]}, ["lists /dev/sdb twice"]),
    ("two hosts wrong, sorted by host", {"w2": ["x"], "w1": ["y"]}, ["host w1", "host w2"]),
]


@pytest.mark.parametrize("devices,expect", [c[1:] for c in DEVICE_CASES], ids=[c[0] for c in DEVICE_CASES])
def test_device_paths(devices, expect):
    assert_problems(sc.rook_device_problems(devices), expect)


COUNT_CASES = [
    ("three hosts for three replicas", THREE, 3, []),
    ("string count from a template", THREE, "3", []),
    ("two hosts for three replicas", {"w1": ["/dev/sdb"], "w2": ["/dev/sdb"], "m1": []}, 3,
     ["k8s_rook_replicas is 3 but only 2 host(s) have rook_devices (w1, w2)"]),
    ("no host has devices", {}, 3, ["only 0 host(s) have rook_devices (none)"]),
    ("two replicas on two hosts", {"w1": ["/dev/sdb"], "w2": ["/dev/sdb"]}, 2, []),
    ("zero replicas", THREE, 0, ["k8s_rook_replicas is 0; it must be a whole number >= 1"]),
    ("a boolean is not a count", THREE, True, ["k8s_rook_replicas is True"]),
    ("words are not a count", THREE, "three", ["k8s_rook_replicas is 'three'"]),
]


@pytest.mark.parametrize("devices,replicas,expect", [c[1:] for c in COUNT_CASES], ids=[c[0] for c in COUNT_CASES])
def test_node_count(devices, replicas, expect):
    assert_problems(sc.rook_node_count_problems(devices, replicas), expect)


def test_rook_problems_reports_paths_before_the_count():
    """A bad path makes the host count meaningless: the paths are reported, the count is not."""
    problems = sc.rook_problems({"w1": ["sdb"]}, 3)
    assert len(problems) == 1 and "names 'sdb'" in problems[0]
    assert sc.rook_problems({"w1": ["/dev/sdb"]}, 3) == sc.rook_node_count_problems({"w1": ["/dev/sdb"]}, 3) != []
    assert sc.rook_problems(THREE, 3) == []
    assert sc.rook_nodes(THREE) == ["g1", "w1", "w2"]


def sc_entry(name, setting, enabled, default):
    return {"name": name, "setting": setting, "enabled": enabled, "default": default}


DEFAULT_CLASS_CASES = [
    ("longhorn alone", [sc_entry("longhorn", "k8s_longhorn_default_class", True, True),
                        sc_entry("ceph-block", "rook_default_class", False, True),
                        sc_entry("nfs-csi", "network_nfs_default_class", False, False)], []),
    ("rook beside longhorn, not default", [sc_entry("longhorn", "k8s_longhorn_default_class", True, True),
                                           sc_entry("ceph-block", "rook_default_class", True, False)], []),
    ("rook instead of longhorn", [sc_entry("longhorn", "k8s_longhorn_default_class", False, True),
                                  sc_entry("ceph-block", "rook_default_class", True, True)], []),
    ("none default (k3s keeps local-path)", [sc_entry("longhorn", "k8s_longhorn_default_class", True, False)], []),
    ("nothing on", [], []),
    ("longhorn and rook both default",
     [sc_entry("longhorn", "k8s_longhorn_default_class", True, True),
      sc_entry("ceph-block", "rook_default_class", True, "true")],
     ["2 StorageClasses would be the cluster default: longhorn (k8s_longhorn_default_class), ceph-block "
      "(rook_default_class)"]),
    ("three defaults", [sc_entry("longhorn", "k8s_longhorn_default_class", "True", "yes"),
                        sc_entry("ceph-block", "rook_default_class", True, True),
                        sc_entry("nfs-csi", "network_nfs_default_class", 1, True)],
     ["3 StorageClasses would be the cluster default", "nfs-csi (network_nfs_default_class)"]),
]


@pytest.mark.parametrize("classes,expect", [c[1:] for c in DEFAULT_CLASS_CASES],
                         ids=[c[0] for c in DEFAULT_CLASS_CASES])
def test_one_default_storage_class(classes, expect):
    problems = sc.default_storage_class_problems(classes)
    if not expect:
        assert problems == []
        return
    assert len(problems) == 1
    for want in expect:
        assert want in problems[0]
    assert "Exactly one default StorageClass" in problems[0]


METRICS_CASES = [
    ("prometheus", [{"name": "kube-prometheus-stack", "setting": "k8s_observability_enabled", "enabled": True},
                    {"name": "VictoriaMetrics", "setting": "k8s_victoriametrics_enabled", "enabled": False}], []),
    ("victoriametrics", [{"name": "kube-prometheus-stack", "setting": "k8s_observability_enabled", "enabled": "false"},
                         {"name": "VictoriaMetrics", "setting": "k8s_victoriametrics_enabled", "enabled": "true"}], []),
    ("neither", [{"name": "kube-prometheus-stack", "enabled": False}], []),
    ("both", [{"name": "kube-prometheus-stack", "setting": "k8s_observability_enabled", "enabled": True},
              {"name": "VictoriaMetrics", "setting": "k8s_victoriametrics_enabled", "enabled": "yes"}],
     ["2 metrics stacks are turned on: kube-prometheus-stack (k8s_observability_enabled), VictoriaMetrics "
      "(k8s_victoriametrics_enabled)"]),
]


@pytest.mark.parametrize("stacks,expect", [c[1:] for c in METRICS_CASES], ids=[c[0] for c in METRICS_CASES])
def test_one_metrics_stack(stacks, expect):
    assert_problems(sc.metrics_stack_problems(stacks), expect, also="Exactly one metrics stack")


META_CASES = [
    ("redis on", "redis", {"redis": True, "tikv": False}, []),
    ("tikv on", "tikv", {"redis": False, "tikv": "True"}, []),
    ("redis chosen, off", "redis", {"redis": False, "tikv": True},
     ["JuiceFS keeps its metadata in redis (k8s_juicefs_meta_engine), but that layer is off: set "
      "k8s_redis_enabled: true"]),
    ("tikv chosen, nothing known", "tikv", None, ["k8s_tikv_enabled: true"]),
    ("unknown engine", "mysql", {"redis": True}, ["k8s_juicefs_meta_engine is 'mysql'; choose one of redis, tikv"]),
]


@pytest.mark.parametrize("engine,engines_on,expect", [c[1:] for c in META_CASES], ids=[c[0] for c in META_CASES])
def test_juicefs_meta_engine(engine, engines_on, expect):
    assert_problems(sc.juicefs_meta_engine_problems(engine, engines_on), expect)


HOSTS = [{"name": "m1", "rook_devices": ["/dev/sdb"]}, {"name": "m2"}, {"name": "w1", "rook_devices": ["/dev/sdc"]},
         {"name": "g1", "rook_devices": ["/dev/vdb"]}]
LAB_CHOICES = {
    "rook": {"enabled": True, "replicas": 3},
    "default_classes": [sc_entry("longhorn", "k8s_longhorn_default_class", True, True),
                        sc_entry("ceph-block", "k8s_rook_default_class", True, False)],
    "metrics_stacks": [{"name": "kube-prometheus-stack", "setting": "k8s_observability_enabled", "enabled": True}],
    "juicefs": {"enabled": True, "meta_engine": "redis", "engines": {"redis": True, "tikv": False}},
}

ALL_CASES = [
    ("sound", HOSTS, LAB_CHOICES, []),
    ("nothing gathered", [], None, []),
    ("rook off: its devices are not checked", [{"name": "w1", "rook_devices": ["sdb"]}],
     dict(LAB_CHOICES, rook={"enabled": False, "replicas": 3}), []),
    ("rook on, too few hosts", HOSTS[:2], LAB_CHOICES, ["k8s_rook_replicas is 3 but only 1 host(s)"]),
    ("rook on, a bad path", HOSTS + [{"name": "w2", "rook_devices": ["/dev/../sda"]}], LAB_CHOICES,
     ["rook_devices of host w2 names '/dev/../sda'"]),
    ("juicefs off: its engine is not checked", HOSTS,
     dict(LAB_CHOICES, juicefs={"enabled": False, "meta_engine": "tikv", "engines": {}}), []),
    ("everything wrong at once", [], {
        "rook": {"enabled": "true", "replicas": 3},
        "default_classes": [sc_entry("longhorn", "k8s_longhorn_default_class", True, True),
                            sc_entry("ceph-block", "k8s_rook_default_class", True, True)],
        "metrics_stacks": [{"name": "kube-prometheus-stack", "enabled": True},
                           {"name": "VictoriaMetrics", "enabled": True}],
        "juicefs": {"enabled": True, "meta_engine": "tikv", "engines": {"redis": True}}},
     ["only 0 host(s) have rook_devices", "2 StorageClasses would be the cluster default",
      "2 metrics stacks are turned on", "JuiceFS keeps its metadata in tikv"]),
]


@pytest.mark.parametrize("hosts,data,expect", [c[1:] for c in ALL_CASES], ids=[c[0] for c in ALL_CASES])
def test_data_service_problems(hosts, data, expect):
    assert_problems(sc.data_service_problems(hosts, data), expect)
