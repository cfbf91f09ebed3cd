"""nvidia_mig driven end to end with run_command replaced by recorded transcripts: check mode issues no
mutating command, apply issues exactly the planned ones, a refused layout or busy GPU changes nothing."""

import os

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.aiinfra.cluster.plugins.modules import nvidia_mig as mod
from ansible_collections.aiinfra.cluster.tests.unit.plugins.modules.harness import ModuleExit

FIX = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "nvidia")
READS = {"--query-gpu", "--query-compute-apps", "-lgi", "-lci"}


def fx(name):
    with open(os.path.join(FIX, name)) as f:
        return f.read()


class Transcript:
    """Answers nvidia-smi calls from recorded output; state 'before' until the first mutating call, then 'after'."""

    def __init__(self, before, after=None, fail_on=None):
        self.states = {"before": before, "after": after or before}
        self.state = "before"
        self.calls = []
        self.fail_on = fail_on

    def __call__(self, module_self, args, environ_update=None, **kwargs):
        assert isinstance(args, list), "commands must be argument lists"
        assert environ_update == {"LC_ALL": "C"}
        args = [os.path.basename(args[0])] + args[1:]
        self.calls.append(args)
        key = next((a.split("=")[0] for a in args if a.split("=")[0] in READS), None)
        if key is None:
            if self.fail_on and self.fail_on == args:
                return 6, "", "Unable to create a GPU instance on GPU 0 using profile 7g.80gb: Insufficient Resources"
            self.state = "after"
            return 0, "ok\n", ""
        out = self.states[self.state][key]
        if out.startswith("No "):
            return 6, out, ""
        return 0, out, ""

    def mutations(self):
        return [c for c in self.calls if not any(a.split("=")[0] in READS for a in c)]


STATE_A100 = {"--query-gpu": fx("query_a100_80gb_r510.csv"), "-lgi": fx("lgi_a100_80gb.txt"),
              "-lci": fx("lci_a100_80gb.txt"), "--query-compute-apps": fx("compute_apps_idle.csv")}
AFTER_7G = dict(STATE_A100, **{"-lgi": "|   0  MIG 7g.80gb          0        0          0:8     |\n"})


@pytest.fixture
def module_env(monkeypatch):
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: "/usr/bin/" + name)

    def run(transcript, **args):
        def run_command(self, args, **kwargs):
            return transcript(self, args, **kwargs)
        monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
        with patch_module_args(args):
            with pytest.raises(ModuleExit) as exc:
                mod.main()
        return exc.value
    return run


PLANNED = [["nvidia-smi", "mig", "-i", "0", "-dci"], ["nvidia-smi", "mig", "-i", "0", "-dgi"],
           ["nvidia-smi", "mig", "-i", "0", "-cgi", "7g.80gb", "-C"]]


def test_check_mode_runs_no_mutating_command_and_returns_plan_and_diff(module_env):
    t = Transcript(STATE_A100)
    out = module_env(t, devices=["0"], profiles={"7g.80gb": 1}, _ansible_check_mode=True, _ansible_diff=True)
    assert out.kind == "exit" and out.result["changed"] is True
    assert t.mutations() == []
    assert out.result["plan"][0]["commands"] == PLANNED
    assert out.result["diff"] == {
        "before": {"gpu0": {"mig_enabled": True, "profiles": {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}}},
        "after": {"gpu0": {"mig_enabled": True, "profiles": {"7g.80gb": 1}}}}


def test_apply_runs_exactly_the_planned_commands_then_rereads(module_env):
    t = Transcript(STATE_A100, AFTER_7G)
    out = module_env(t, devices=["0"], profiles={"7g.80gb": 1})
    assert out.kind == "exit" and out.result["changed"] is True
    assert t.mutations() == PLANNED
    assert [(i["gpu"], i["profile"]) for i in out.result["instances"]] == [(0, "7g.80gb")]
    assert out.result["reset_required"] is False


def test_already_correct_is_unchanged_and_runs_only_reads(module_env):
    t = Transcript(STATE_A100)
    out = module_env(t, devices=["0"], profiles={"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1})
    assert out.kind == "exit" and out.result["changed"] is False
    assert t.mutations() == []


def test_invalid_profile_fails_before_any_change(module_env):
    t = Transcript(STATE_A100)
    out = module_env(t, profiles={"1g.5gb": 7})
    assert out.kind == "fail" and t.mutations() == []
    assert out.result["msg"].startswith("MIG layout refused, nothing was changed: GPU 0 (00000000:05:00.0, "
                                        "NVIDIA A100 80GB PCIe) is a A100-80GB: profile 1g.5gb does not exist there")


def test_busy_gpu_refused_without_force(module_env):
    t = Transcript(dict(STATE_A100, **{"--query-compute-apps": fx("compute_apps_busy.csv")}))
    out = module_env(t, devices=["0"], profiles={"7g.80gb": 1})
    assert out.kind == "fail" and t.mutations() == []
    assert "Refusing to change busy GPUs, nothing was changed: GPU 0 (00000000:05:00.0) is in use by 2 process(es)" \
        in out.result["msg"]


def test_busy_gpu_changed_with_force(module_env):
    t = Transcript(dict(STATE_A100, **{"--query-compute-apps": fx("compute_apps_busy.csv")}), AFTER_7G)
    out = module_env(t, devices=["0"], profiles={"7g.80gb": 1}, force=True)
    assert out.kind == "exit" and t.mutations() == PLANNED


def test_pending_mode_reports_reset_and_never_resets_by_default(module_env):
    before = {"--query-gpu": fx("query_a100_40gb_disabled.csv"), "-lgi": fx("lgi_none.txt"),
              "-lci": fx("lci_none.txt"), "--query-compute-apps": fx("compute_apps_idle.csv")}
    after = dict(before, **{"--query-gpu": "0, 00000000:10:1C.0, NVIDIA A100-SXM4-40GB, 40960, Disabled, Enabled\n"})
    t = Transcript(before, after)
    out = module_env(t, profiles={"1g.5gb": 7})
    assert out.kind == "exit" and out.result["changed"] is True
    assert t.mutations() == [["nvidia-smi", "-i", "0", "-mig", "1"]]
    assert out.result["reset_required"] is True
    assert not any("-r" in c for c in t.calls)


def test_failed_command_reports_rc_and_stderr(module_env):
    t = Transcript(STATE_A100, fail_on=["nvidia-smi", "mig", "-i", "0", "-cgi", "7g.80gb", "-C"])
    out = module_env(t, devices=["0"], profiles={"7g.80gb": 1})
    assert out.kind == "fail" and out.result["rc"] == 6
    assert "Insufficient Resources" in out.result["msg"] and "Insufficient Resources" in out.result["stderr"]


def test_non_mig_gpu_reads_no_instance_lists(module_env):
    t = Transcript({"--query-gpu": fx("query_t4_no_mig.csv"), "--query-compute-apps": ""})
    out = module_env(t, mig_enabled=False)
    assert out.kind == "exit" and out.result["changed"] is False
    assert not any("-lgi" in c for c in t.calls)


class FakeNodes:
    """CoreV1Api stand-in for the mig-manager strategy: node labels change as the MIG manager would."""

    def __init__(self, labels, states):
        self.labels = dict(labels)
        self.states = list(states)  # successive values of nvidia.com/mig.config.state after the patch
        self.patches = []

    def read_node(self, name):
        if self.patches and self.states:
            self.labels["nvidia.com/mig.config.state"] = self.states.pop(0)

        class Meta:
            labels = dict(self.labels)

        class Node:
            metadata = Meta()
        return Node()

    def patch_node(self, name, body):
        self.patches.append((name, body))
        self.labels.update(body["metadata"]["labels"])


@pytest.fixture
def mig_manager(monkeypatch):
    import kubernetes
    monkeypatch.setattr(kubernetes.config, "load_kube_config", lambda **kw: None)
    monkeypatch.setattr(mod.time, "sleep", lambda s: None)

    def run(nodes, **args):
        monkeypatch.setattr(kubernetes.client, "CoreV1Api", lambda: nodes)
        base = {"strategy": "mig-manager", "node_name": "g1", "mig_config": "all-1g.10gb"}
        base.update(args)
        with patch_module_args(base):
            with pytest.raises(ModuleExit) as exc:
                mod.main()
        return exc.value
    return run


def test_mig_manager_sets_label_and_waits_for_success(mig_manager):
    nodes = FakeNodes({"nvidia.com/mig.config": "all-disabled", "nvidia.com/mig.config.state": "success"},
                      ["pending", "pending", "success"])
    out = mig_manager(nodes)
    assert out.kind == "exit" and out.result["changed"] is True and out.result["state"] == "success"
    assert nodes.patches == [("g1", {"metadata": {"labels": {"nvidia.com/mig.config": "all-1g.10gb"}}})]


def test_mig_manager_already_applied_is_unchanged(mig_manager):
    nodes = FakeNodes({"nvidia.com/mig.config": "all-1g.10gb", "nvidia.com/mig.config.state": "success"}, [])
    out = mig_manager(nodes)
    assert out.kind == "exit" and out.result["changed"] is False and nodes.patches == []


def test_mig_manager_check_mode_does_not_label(mig_manager):
    nodes = FakeNodes({"nvidia.com/mig.config": "all-disabled", "nvidia.com/mig.config.state": "success"}, [])
    out = mig_manager(nodes, _ansible_check_mode=True)
    assert out.kind == "exit" and out.result["changed"] is True and nodes.patches == []


def test_mig_manager_failed_state_fails(mig_manager):
    nodes = FakeNodes({"nvidia.com/mig.config": "all-disabled"}, ["pending", "failed"])
    out = mig_manager(nodes)
    assert out.kind == "fail"
    assert out.result["msg"].startswith("The MIG manager failed to apply all-1g.10gb on node g1")


def test_mig_manager_times_out_on_pending(mig_manager):
    nodes = FakeNodes({"nvidia.com/mig.config": "all-disabled", "nvidia.com/mig.config.state": "pending"}, [])
    out = mig_manager(nodes, timeout=0)
    assert out.kind == "fail"
    assert out.result["msg"] == ("Timed out after 0s waiting for the MIG manager on node g1 "
                                 "(nvidia.com/mig.config.state=pending)")
