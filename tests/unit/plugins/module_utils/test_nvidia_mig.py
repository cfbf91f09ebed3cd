import os

import pytest

from ansible_collections.aiinfra.cluster.plugins.module_utils import nvidia_mig as mig

FIX = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "nvidia")


def fx(name):
    with open(os.path.join(FIX, name)) as f:
        return f.read()


def test_query_a100_80gb():
    gpus = mig.parse_query_gpu(fx("query_a100_80gb_r510.csv"))
    assert gpus == [
        {"index": 0, "bus_id": "00000000:05:00.0", "name": "NVIDIA A100 80GB PCIe", "memory_mib": 81920,
         "mig_current": True, "mig_pending": True},
        {"index": 1, "bus_id": "00000000:86:00.0", "name": "NVIDIA A100 80GB PCIe", "memory_mib": 81920,
         "mig_current": True, "mig_pending": True}]
    assert mig.catalog_key(gpus[0]["name"], gpus[0]["memory_mib"]) == "A100-80GB"


@pytest.mark.parametrize("name,key", [
    ("query_h100_pcie_r535.csv", "H100-80GB"), ("query_a100_40gb_disabled.csv", "A100-40GB"),
    ("query_a30.csv", "A30-24GB"), ("query_a100_mixed_units_r510.csv", "A100-80GB"), ("query_t4_no_mig.csv", None)])
def test_models(name, key):
    gpu = mig.parse_query_gpu(fx(name))[0]
    assert mig.catalog_key(gpu["name"], gpu["memory_mib"]) == key


def test_units_and_modes():
    gpus = mig.parse_query_gpu(fx("query_a100_mixed_units_r510.csv"))
    assert [g["memory_mib"] for g in gpus] == [81920, 81920]
    assert [(g["mig_current"], g["mig_pending"]) for g in gpus] == [(False, False), (True, True)]
    t4 = mig.parse_query_gpu(fx("query_t4_no_mig.csv"))[0]
    assert t4["mig_current"] is None and t4["mig_pending"] is None


def test_bad_query_line():
    with pytest.raises(mig.MigError, match="want 6 fields"):
        mig.parse_query_gpu("0, 00000000:05:00.0, NVIDIA A100\n")


def test_lgi_real_a100():
    gis = mig.parse_lgi(fx("lgi_a100_80gb.txt"))
    assert len(gis) == 8
    assert gis[0] == {"gpu": 0, "profile": "1g.10gb", "profile_id": 19, "gi": 9, "placement": "2:1"}
    assert gis[3] == {"gpu": 0, "profile": "3g.40gb", "profile_id": 9, "gi": 2, "placement": "4:4"}


def test_lgi_narrow_columns_and_none():
    assert [(g["profile"], g["gi"]) for g in mig.parse_lgi(fx("lgi_a30_narrow_r470.txt"))] == [("2g.12gb", 1), ("1g.6gb", 5)]
    assert mig.parse_lgi(fx("lgi_none.txt")) == []
    assert mig.parse_lci(fx("lci_none.txt")) == []


def test_lci():
    cis = mig.parse_lci(fx("lci_a100_80gb.txt"))
    assert len(cis) == 7
    assert cis[0] == {"gpu": 0, "gi": 9, "profile": "1g.10gb", "ci": 0}
    assert sorted(c["gi"] for c in cis if c["gpu"] == 1) == [5, 13, 14]


def test_compute_apps():
    assert mig.parse_compute_apps(fx("compute_apps_busy.csv")) == {"00000000:05:00.0": [41234, 41301]}
    assert mig.parse_compute_apps(fx("compute_apps_idle.csv")) == {}


# ---- planner table: (id, query fixture, lgi, lci, apps, wanted, options, expected) ----
A100 = "query_a100_80gb_r510.csv"
CASES = [
    ("already-correct-no-change", A100, "lgi_a100_80gb.txt", "lci_a100_80gb.txt", "compute_apps_idle.csv",
     {"profiles": {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}}, {"devices": ["0"]},
     {0: []}),
    ("missing-compute-instance-only", A100, "lgi_a100_80gb.txt", "lci_a100_80gb.txt", "compute_apps_idle.csv",
     {"profiles": {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}}, {"devices": ["1"]},
     {1: [["nvidia-smi", "mig", "-i", "1", "-gi", "1", "-cci"]]}),
    ("count-change-grow-keeps-existing", "query_a30.csv", "lgi_a30_narrow_r470.txt", "lci_none.txt",
     "compute_apps_idle.csv", {"profiles": {"2g.12gb": 1, "1g.6gb": 2}}, {},
     {0: [["nvidia-smi", "mig", "-i", "0", "-gi", "1", "-cci"], ["nvidia-smi", "mig", "-i", "0", "-gi", "5", "-cci"],
          ["nvidia-smi", "mig", "-i", "0", "-cgi", "1g.6gb", "-C"]]}),
    ("count-change-shrink-recreates", A100, "lgi_a100_80gb.txt", "lci_a100_80gb.txt", "compute_apps_idle.csv",
     {"profiles": {"1g.10gb": 7}}, {"devices": ["0"]},
     {0: [["nvidia-smi", "mig", "-i", "0", "-dci"], ["nvidia-smi", "mig", "-i", "0", "-dgi"],
          ["nvidia-smi", "mig", "-i", "0", "-cgi", ",".join(["1g.10gb"] * 7), "-C"]]}),
    ("mode-change-needed-reports-reset", "query_a100_40gb_disabled.csv", "lgi_none.txt", "lci_none.txt",
     "compute_apps_idle.csv", {"profiles": {"1g.5gb": 7}}, {},
     {0: [["nvidia-smi", "-i", "0", "-mig", "1"]]}),
    ("mode-change-with-allowed-reset", "query_a100_40gb_disabled.csv", "lgi_none.txt", "lci_none.txt",
     "compute_apps_idle.csv", {"profiles": {"3g.20gb": 1, "2g.10gb": 2}}, {"allow_reset": True},
     {0: [["nvidia-smi", "-i", "0", "-mig", "1"], ["nvidia-smi", "-r", "-i", "0"],
          ["nvidia-smi", "mig", "-i", "0", "-cgi", "3g.20gb,2g.10gb,2g.10gb", "-C"]]}),
    ("disable-mig", A100, "lgi_a100_80gb.txt", "lci_a100_80gb.txt", "compute_apps_idle.csv",
     {"mig_enabled": False}, {"devices": ["0"]},
     {0: [["nvidia-smi", "mig", "-i", "0", "-dci"], ["nvidia-smi", "mig", "-i", "0", "-dgi"],
          ["nvidia-smi", "-i", "0", "-mig", "0"]]}),
    ("disable-on-non-mig-gpu-is-no-change", "query_t4_no_mig.csv", "lgi_none.txt", "lci_none.txt",
     "compute_apps_idle.csv", {"mig_enabled": False}, {}, {0: []}),
    ("busy-gpu-with-force", A100, "lgi_a100_80gb.txt", "lci_a100_80gb.txt", "compute_apps_busy.csv",
     {"profiles": {"7g.80gb": 1}}, {"devices": ["0"], "force": True},
     {0: [["nvidia-smi", "mig", "-i", "0", "-dci"], ["nvidia-smi", "mig", "-i", "0", "-dgi"],
          ["nvidia-smi", "mig", "-i", "0", "-cgi", "7g.80gb", "-C"]]}),
    ("busy-gpu-already-correct-is-fine", A100, "lgi_a100_80gb.txt", "lci_a100_80gb.txt", "compute_apps_busy.csv",
     {"profiles": {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}}, {"devices": ["0"]}, {0: []}),
]


def build(query, lgi, lci, apps):
    return mig.parse_query_gpu(fx(query)), mig.parse_lgi(fx(lgi)), mig.parse_lci(fx(lci)), mig.parse_compute_apps(fx(apps))


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_planner(case):
    _id, query, lgi, lci, apps, wanted, options, expected = case
    gpus, gis, cis, busy = build(query, lgi, lci, apps)
    wanted = dict({"mig_enabled": True}, **wanted)
    plans = mig.plan(gpus, gis, cis, busy, wanted, options.get("devices", "all"), options.get("force", False),
                     options.get("allow_reset", False))
    assert {p["index"]: p["commands"] for p in plans} == expected
    assert all(p["blocked"] is None for p in plans)
    if _id == "mode-change-needed-reports-reset":
        assert plans[0]["reset_required"] is True


def test_busy_gpu_without_force_is_blocked():
    gpus, gis, cis, busy = build(A100, "lgi_a100_80gb.txt", "lci_a100_80gb.txt", "compute_apps_busy.csv")
    plans = mig.plan(gpus, gis, cis, busy, {"mig_enabled": True, "profiles": {"7g.80gb": 1}}, ["0", "1"])
    assert plans[0]["blocked"] == ("GPU 0 (00000000:05:00.0) is in use by 2 process(es) (pids 41234, 41301): "
                                   "stop them or set force=true")
    assert plans[1]["blocked"] is None  # GPU 1 has no processes


@pytest.mark.parametrize("query,wanted,message", [
    (A100, {"1g.5gb": 7}, "GPU 0 (00000000:05:00.0, NVIDIA A100 80GB PCIe) is a A100-80GB: profile 1g.5gb does not "
                          "exist there; allowed: 1g.10gb, 1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb"),
    (A100, {"1g.10gb": 8}, "is a A100-80GB: at most 7 x 1g.10gb fit, 8 asked"),
    (A100, {"4g.40gb": 1, "3g.40gb": 1, "1g.10gb": 1}, "the layout needs 8 compute and 9 memory slices, the GPU has 7 and 8"),
    (A100, {"3g.40gb": 2, "1g.20gb": 1}, "the layout needs 7 compute and 10 memory slices, the GPU has 7 and 8"),
    ("query_a30.csv", {"2g.12gb": 2, "1g.6gb": 1}, "is a A30-24GB: the layout needs 5 compute and 5 memory slices"),
    ("query_t4_no_mig.csv", {"1g.5gb": 1}, "GPU 0 (00000000:83:00.0, Tesla T4) does not support MIG"),
    (A100, {"1g.10gb": "many"}, "count for 1g.10gb must be a whole number"),
])
def test_invalid_layouts_are_refused(query, wanted, message):
    gpus = mig.parse_query_gpu(fx(query))
    with pytest.raises(mig.MigError) as err:
        mig.plan(gpus, [], [], {}, {"mig_enabled": True, "profiles": wanted})
    assert message in str(err.value)


def test_profile_names_may_carry_mig_prefix_and_string_counts():
    gpus, gis, cis, busy = build(A100, "lgi_a100_80gb.txt", "lci_a100_80gb.txt", "compute_apps_idle.csv")
    plans = mig.plan(gpus, gis, cis, busy, {"mig_enabled": True, "profiles": {
        "MIG 1g.10gb": "2", "2g.20gb": 1, "3g.40gb": 1}}, ["0"])
    assert plans[0]["commands"] == []


def test_unknown_device_index():
    gpus = mig.parse_query_gpu(fx(A100))
    with pytest.raises(mig.MigError, match=r"no GPU with index 5 \(present: 0, 1\)"):
        mig.plan(gpus, [], [], {}, {"mig_enabled": True, "profiles": {}}, ["5"])


def test_every_catalog_full_layout_fits():
    for key, cat in mig.CATALOG.items():
        for profile, (c, m, most) in cat["profiles"].items():
            assert c * most <= cat["compute"] and m * most <= cat["memory"], (key, profile)
