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
    assert cis[0] == {"gpu": 0, "gi": 9, "profile": "1g.10gb", "ci": 0, "placement": "0:1"}
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
    ("mode-change-needed-reports-reset", "query_a100_40gb_disabled.csv", "mig_disabled.txt", "mig_disabled.txt",
     "compute_apps_idle.csv", {"profiles": {"1g.5gb": 7}}, {},
     {0: [["nvidia-smi", "-i", "0", "-mig", "1"],
          ["nvidia-smi", "mig", "-i", "0", "-cgi", ",".join(["1g.5gb"] * 7), "-C"]]}),
    ("enable-pending-already-only-waits", "query_a100_40gb_enable_pending.csv", "mig_disabled.txt",
     "mig_disabled.txt", "compute_apps_idle.csv", {"profiles": {"3g.20gb": 2}}, {},
     {0: [["nvidia-smi", "mig", "-i", "0", "-cgi", "3g.20gb,3g.20gb", "-C"]]}),
    ("old-driver-lci-without-placement-already-correct", "query_a100_40gb_enabled.csv", "lgi_a100_40gb_guide.txt",
     "lci_a100_40gb_no_placement.txt", "compute_apps_idle.csv", {"profiles": {"3g.20gb": 2}}, {}, {0: []}),
    ("h100-seven-1g-already-correct", "query_h100_sxm.csv", "lgi_h100_80gb.txt", "lci_h100_80gb.txt",
     "compute_apps_idle.csv", {"profiles": {"1g.10gb": 7}}, {}, {0: []}),
    ("disable-pending-is-cancelled", "query_a100_40gb_enabled.csv", "lgi_a100_40gb_guide.txt",
     "lci_a100_40gb_no_placement.txt", "compute_apps_idle.csv", {"profiles": {"3g.20gb": 2}}, {"pending_off": True},
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
    if options.get("pending_off"):
        gpus[0]["mig_pending"] = False
    wanted = dict({"mig_enabled": True}, **wanted)
    plans = mig.plan(gpus, gis, cis, busy, wanted, options.get("devices", "all"), options.get("force", False),
                     options.get("allow_reset", False))
    assert {p["index"]: p["commands"] for p in plans} == expected
    assert all(p["blocked"] is None for p in plans)
    if _id == "mode-change-needed-reports-reset":
        assert plans[0]["reset_required"] is True
        assert plans[0]["phases"] == [mig.NOW, mig.MODE_ACTIVE]
        assert mig.runs_now(plans[0]) == [["nvidia-smi", "-i", "0", "-mig", "1"]]
        assert plans[0]["before"] == {"mig_enabled": False, "profiles": {}}
        assert plans[0]["after"] == {"mig_enabled": True, "profiles": {"1g.5gb": 7}}
    if _id == "mode-change-with-allowed-reset":
        assert plans[0]["reset_required"] is False
        assert plans[0]["phases"] == [mig.NOW, mig.RESET, mig.MODE_ACTIVE]
    if _id == "enable-pending-already-only-waits":
        # nothing can change before the reset: not a change, but reported
        assert plans[0]["reset_required"] is True and mig.will_change(plans[0]) is False
        assert plans[0]["before"]["mig_pending"] is True


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


# ---- MIG off, and the two -lci formats ----
@pytest.mark.parametrize("text", [
    "No MIG-enabled devices found.\n", "No MIG-enabled devices found\n", "No GPU instances found: Not Found\n",
    "No compute instances found: Not Found\n", "No GPU instances found.\n", "\nNo MIG-enabled devices found.\n\n"])
def test_nothing_listed_messages(text):
    assert mig.nothing_listed(text)
    assert mig.parse_lgi(text) == [] and mig.parse_lci(text) == []


@pytest.mark.parametrize("text", [
    "", "Failed to display GPU instances: Insufficient Permissions\n", "No GPU instances found: Permission denied\n",
    "Failed to display compute instances: Insufficient Permissions\n", "No MIG-enabled devices found.\nSegfault\n"])
def test_errors_are_not_taken_for_nothing(text):
    assert not mig.nothing_listed(text)


def test_lci_without_placement_column_old_driver():
    cis = mig.parse_lci(fx("lci_a100_40gb_1c_no_placement.txt"))
    assert cis == [{"gpu": 0, "gi": 1, "profile": "1c.3g.20gb", "ci": n, "placement": None} for n in (0, 1, 2)]


def test_both_lci_formats_give_the_same_instances():
    old = mig.parse_lci(fx("lci_a100_40gb_no_placement.txt"))
    assert [(c["gpu"], c["gi"], c["profile"], c["ci"]) for c in old] == [(0, 1, "3g.20gb", 0), (0, 2, "3g.20gb", 0)]
    new = mig.parse_lci(fx("lci_h100_80gb.txt"))
    assert [c["gi"] for c in new] == list(range(7, 14)) and all(c["placement"] == "0:1" for c in new)


def test_lgi_h100_and_guide_narrow_columns():
    assert [(g["gi"], g["placement"]) for g in mig.parse_lgi(fx("lgi_h100_80gb.txt"))] == [
        (n, "%d:1" % (n - 7)) for n in range(7, 14)]
    assert [(g["profile"], g["gi"], g["placement"]) for g in mig.parse_lgi(fx("lgi_a100_40gb_guide.txt"))] == [
        ("3g.20gb", 1, "4:4"), ("3g.20gb", 2, "0:4")]


# ---- bad input: one clear MigError each, never a bare exception ----
@pytest.mark.parametrize("line,message", [
    ("0, 00000000:05:00.0, NVIDIA A100\n", "want 6 fields"),
    ("x, 00000000:05:00.0, NVIDIA A100 80GB PCIe, 81920, Enabled, Enabled\n", "unexpected GPU index 'x'"),
    ("0, 00000000:05:00.0, NVIDIA A100 80GB PCIe, [N/A], Enabled, Enabled\n", "unexpected memory.total '[N/A]'"),
    ("0, 00000000:05:00.0, NVIDIA A100 80GB PCIe, 81920, Maybe, Enabled\n", "unexpected MIG mode 'Maybe'"),
    ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n", "want 6 fields"),
])
def test_malformed_query_lines(line, message):
    with pytest.raises(mig.MigError) as err:
        mig.parse_query_gpu(line)
    assert message in str(err.value) and line.strip() in str(err.value)


@pytest.mark.parametrize("count", [1.5, "1.5", "two", -1, True, None, [1]])
def test_fractional_or_odd_counts_are_refused_not_truncated(count):
    gpus = mig.parse_query_gpu(fx(A100))
    with pytest.raises(mig.MigError, match="count for 1g.10gb must be a whole number >= 0"):
        mig.plan(gpus, [], [], {}, {"mig_enabled": True, "profiles": {"1g.10gb": count}})


@pytest.mark.parametrize("count,expected", [(2, 2), ("2", 2), (2.0, 2), (" 3 ", 3), (0, 0)])
def test_whole_counts(count, expected):
    assert mig.whole_count("1g.10gb", count) == expected


def test_bad_device_index():
    with pytest.raises(mig.MigError, match=r"devices must be GPU indexes or all, not 'gpu0'"):
        mig.plan(mig.parse_query_gpu(fx(A100)), [], [], {}, {"mig_enabled": True, "profiles": {}}, ["gpu0"])


# ---- the catalog as a pure API for controller-side checks (preflight) ----
@pytest.mark.parametrize("model,key", [
    ("A100-80GB", "A100-80GB"), ("a100-80gb", "A100-80GB"), ("NVIDIA A100-SXM4-40GB", "A100-40GB"),
    ("NVIDIA A100 80GB PCIe", "A100-80GB"), ("NVIDIA H100 80GB HBM3", "H100-80GB"), ("H100 NVL 94GB", "H100-94GB"),
    ("H200", "H200-141GB"), ("NVIDIA A30", "A30-24GB"), ("A100", None), ("H100", None), ("Tesla T4", None),
    ("", None), (None, None)])
def test_resolve_model(model, key):
    assert mig.resolve_model(model) == key


def test_layout_problems_one_line_per_problem():
    assert mig.layout_problems("A100-80GB", {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}) == []
    assert mig.layout_problems("H100-80GB", {"MIG 1g.10gb": "7"}) == []
    assert mig.layout_problems("A100-80GB", {"1g.5gb": 1, "1g.10gb": 8}) == [
        "A100-80GB: at most 7 x 1g.10gb fit, 8 asked",
        "A100-80GB: profile 1g.5gb does not exist there; allowed: 1g.10gb, 1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, "
        "7g.80gb",
        "A100-80GB: the layout needs 8 compute and 8 memory slices, the GPU has 7 and 8"]
    assert mig.layout_problems("A30-24GB", {"1g.6gb": 1.5}) == [
        "A30-24GB: count for 1g.6gb must be a whole number >= 0, not 1.5"]
    assert mig.layout_problems("T4", {"1g.5gb": 1}) == [
        "GPU model 'T4' is not in the MIG profile catalog (known: A100-40GB, A100-80GB, A30-24GB, H100-80GB, "
        "H100-94GB, H200-141GB)"]


def test_allowed_profiles():
    assert mig.allowed_profiles("A30-24GB") == ["1g.6gb", "2g.12gb", "4g.24gb"]
    assert mig.allowed_profiles("nonsense") == []


# ---- the MIG manager's state machine (strategy mig-manager) ----
L, S = mig.CONFIG_LABEL, mig.STATE_LABEL
OLD, NEW = "all-disabled", "all-1g.10gb"
MANAGER = [
    # (id, labels before, labels read after, expected start verdict, expected verdicts per read)
    ("already-applied-success-no-change", {L: NEW, S: "success"}, [], "unchanged", []),
    ("already-applied-failed-fails-at-once", {L: NEW, S: "failed"}, [], "failed", []),
    ("already-applied-still-pending-waits", {L: NEW, S: "pending"}, [{L: NEW, S: "success"}], "wait", ["success"]),
    ("stale-success-on-first-reads", {L: OLD, S: "success"}, [{L: NEW, S: "success"}, {L: NEW, S: "success"}],
     "set", ["wait", "wait"]),
    ("stale-success-then-pending-then-success", {L: OLD, S: "success"},
     [{L: NEW, S: "success"}, {L: NEW, S: "pending"}, {L: NEW, S: "success"}], "set", ["wait", "wait", "success"]),
    ("pending-then-failed", {L: OLD, S: "success"}, [{L: NEW, S: "pending"}, {L: NEW, S: "failed"}],
     "set", ["wait", "failed"]),
    ("rebooting-then-success", {L: OLD, S: "success"},
     [{L: NEW, S: "pending"}, {L: NEW, S: "rebooting"}, {L: NEW}, {L: NEW, S: "success"}],
     "set", ["wait", "wait", "wait", "success"]),
    ("previous-failed-then-success-without-seeing-pending", {L: OLD, S: "failed"}, [{L: NEW, S: "success"}],
     "set", ["success"]),
    ("no-state-before-then-success", {L: OLD}, [{L: NEW}, {L: NEW, S: "success"}], "set", ["wait", "success"]),
    ("stale-failed-is-not-the-answer", {L: OLD, S: "failed"},
     [{L: NEW, S: "failed"}, {L: NEW, S: "pending"}, {L: NEW, S: "failed"}], "set", ["wait", "wait", "failed"]),
    ("changed-while-manager-applies-the-previous-config", {L: OLD, S: "pending"},
     [{L: NEW, S: "pending"}, {L: NEW, S: "success"}, {L: NEW, S: "pending"}, {L: NEW, S: "success"}],
     "set", ["wait", "wait", "wait", "success"]),
    ("previous-config-failed-mid-apply-then-ours-fails-too", {L: OLD, S: "pending"},
     [{L: NEW, S: "failed"}, {L: NEW, S: "pending"}, {L: NEW, S: "failed"}], "set", ["wait", "wait", "failed"]),
    ("changed-while-node-reboots-for-the-previous-config", {L: OLD, S: "rebooting"},
     [{L: NEW, S: "pending"}, {L: NEW, S: "success"}], "set", ["wait", "success"]),
    ("label-changed-by-someone-else", {L: OLD, S: "success"}, [{L: "all-7g.80gb", S: "pending"}],
     "set", ["overridden"]),
]


@pytest.mark.parametrize("case", MANAGER, ids=[c[0] for c in MANAGER])
def test_mig_manager_state_machine(case):
    _id, before, reads, start, verdicts = case
    verdict, tracker = mig.mig_manager_start(before, NEW)
    assert verdict == start
    got = []
    for labels in reads:
        verdict, tracker = mig.mig_manager_observe(tracker, labels)
        got.append(verdict)
    assert got == verdicts


def test_mig_manager_observe_is_pure():
    _v, tracker = mig.mig_manager_start({L: OLD, S: "success"}, NEW)
    frozen = dict(tracker)
    mig.mig_manager_observe(tracker, {L: NEW, S: "pending"})
    assert tracker == frozen


def test_mig_manager_timeout_reasons():
    _v, tracker = mig.mig_manager_start({L: OLD, S: "success"}, NEW)
    _v, tracker = mig.mig_manager_observe(tracker, {L: NEW, S: "success"})
    assert mig.mig_manager_timeout_reason(tracker).startswith(
        "the MIG manager never picked the change up (nvidia.com/mig.config.state stayed 'success'")
    _v, tracker = mig.mig_manager_observe(tracker, {L: NEW, S: "rebooting"})
    assert mig.mig_manager_timeout_reason(tracker) == "the MIG manager is still at it (nvidia.com/mig.config.state=rebooting)"


def test_manager_log_excerpt_prefers_error_lines():
    log = ("time=1 level=info msg=\"Updating to MIG config: all-1g.10gb\"\n"
           "time=2 level=info msg=\"Asserting MIG mode: Enabled\"\n"
           "Error: unable to enable MIG mode on GPU 0: In use by another client\n"
           "time=3 level=info msg=\"Changing the 'nvidia.com/mig.config.state' node label to 'failed'\"\n")
    assert mig.manager_log_excerpt(log) == (
        "Error: unable to enable MIG mode on GPU 0: In use by another client | time=3 level=info msg=\"Changing the "
        "'nvidia.com/mig.config.state' node label to 'failed'\"")
    assert mig.manager_log_excerpt("a\nb\nc\n", lines=2) == "b | c"
    assert mig.manager_log_excerpt("") == ""
