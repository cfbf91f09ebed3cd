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
    """Answers nvidia-smi calls from recorded output: state N until the Nth mutating call, then the next state
    (the last one stays). 'Nothing listed' messages come back with nothing_rc, as drivers differ there."""

    def __init__(self, *states, **kwargs):
        self.states = list(states)
        self.state = 0
        self.calls = []
        self.fail_on = kwargs.get("fail_on")
        self.nothing_rc = kwargs.get("nothing_rc", 6)

    def __call__(self, module_self, args, environ_update=None, **kwargs):
        assert isinstance(args, list), "commands must be argument lists"
        assert environ_update == {"LC_ALL": "C"}
        args = [os.path.basename(args[0])] + args[1:]
        self.calls.append(args)
        key = next((a.split("=")[0] for a in args if a.split("=")[0] in READS), None)
        if key is None:
            if self.fail_on and self.fail_on == args:
                return 6, "", "Unable to create a GPU instance on GPU 0 using profile 7g.80gb: Insufficient Resources"
            self.state = min(self.state + 1, len(self.states) - 1)
            return 0, "ok\n", ""
        out = self.states[self.state][key]
        if out.startswith("No "):
            return self.nothing_rc, out, ""
        if out.startswith("Failed"):
            return 4, out, ""
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


# ---- MIG from scratch: mode off -> enable -> (reset) -> instances once the mode is active ----
MIG_OFF = {"--query-gpu": fx("query_a100_40gb_disabled.csv"), "-lgi": fx("mig_disabled.txt"),
           "-lci": fx("mig_disabled.txt"), "--query-compute-apps": fx("compute_apps_idle.csv")}
ENABLE_PENDING = dict(MIG_OFF, **{"--query-gpu": fx("query_a100_40gb_enable_pending.csv")})
MIG_ON_EMPTY = {"--query-gpu": fx("query_a100_40gb_enabled.csv"), "-lgi": fx("lgi_none.txt"),
                "-lci": fx("lci_none.txt"), "--query-compute-apps": fx("compute_apps_idle.csv")}
MIG_ON_TWO_3G = dict(MIG_ON_EMPTY, **{"-lgi": fx("lgi_a100_40gb_guide.txt"), "-lci": fx("lci_a100_40gb_no_placement.txt")})
ENABLE = ["nvidia-smi", "-i", "0", "-mig", "1"]
RESET = ["nvidia-smi", "-r", "-i", "0"]
CREATE_TWO_3G = ["nvidia-smi", "mig", "-i", "0", "-cgi", "3g.20gb,3g.20gb", "-C"]


@pytest.mark.parametrize("nothing_rc", [0, 6])
def test_mig_off_check_mode_shows_the_whole_plan(module_env, nothing_rc):
    t = Transcript(MIG_OFF, nothing_rc=nothing_rc)
    out = module_env(t, profiles={"3g.20gb": 2}, _ansible_check_mode=True, _ansible_diff=True)
    assert out.kind == "exit", out.result.get("msg")
    assert out.result["changed"] is True and t.mutations() == []
    assert ["nvidia-smi", "mig", "-lgi"] in t.calls  # the 'No MIG-enabled devices found.' answer is read, not fatal
    pl = out.result["plan"][0]
    assert pl["commands"] == [ENABLE, CREATE_TWO_3G] and pl["phases"] == ["now", "after_mode_active"]
    assert out.result["reset_required"] is True
    assert out.result["deferred"] == [{"index": 0, "bus_id": "00000000:10:1C.0", "commands": [CREATE_TWO_3G],
                                       "actions": ["create GPU and compute instances once MIG mode is active"]}]
    assert out.result["msg"].startswith("MIG mode on GPU 0 (00000000:10:1C.0) is not active yet: it needs a GPU reset")
    assert out.result["diff"] == {"before": {"gpu0": {"mig_enabled": False, "profiles": {}}},
                                  "after": {"gpu0": {"mig_enabled": True, "profiles": {"3g.20gb": 2}}}}


def test_mig_off_enable_stays_pending_reports_reset_and_never_resets_by_default(module_env):
    t = Transcript(MIG_OFF, ENABLE_PENDING)
    out = module_env(t, profiles={"3g.20gb": 2})
    assert out.kind == "exit", out.result.get("msg")
    assert out.result["changed"] is True and t.mutations() == [ENABLE]
    assert out.result["reset_required"] is True
    assert [d["commands"] for d in out.result["deferred"]] == [[CREATE_TWO_3G]]
    assert out.result["msg"] == ("MIG mode on GPU 0 (00000000:10:1C.0) is not active yet: it needs a GPU reset "
                                 "(nvidia-smi -r -i N, or allow_reset=true) or a reboot; run again afterwards to "
                                 "create the instances")


def test_mig_off_driver_activates_the_mode_itself_instances_in_the_same_run(module_env):
    t = Transcript(MIG_OFF, MIG_ON_EMPTY, MIG_ON_TWO_3G)
    out = module_env(t, profiles={"3g.20gb": 2})
    assert out.kind == "exit", out.result.get("msg")
    assert t.mutations() == [ENABLE, CREATE_TWO_3G]  # no reset: the mode was already active
    assert out.result["changed"] is True and out.result["reset_required"] is False and out.result["deferred"] == []
    assert [(i["profile"], i["gi"]) for i in out.result["instances"]] == [("3g.20gb", 1), ("3g.20gb", 2)]


def test_mig_off_allow_reset_resets_only_while_pending_then_creates(module_env):
    t = Transcript(MIG_OFF, ENABLE_PENDING, MIG_ON_EMPTY, MIG_ON_TWO_3G)
    out = module_env(t, profiles={"3g.20gb": 2}, allow_reset=True)
    assert out.kind == "exit", out.result.get("msg")
    assert t.mutations() == [ENABLE, RESET, CREATE_TWO_3G]
    assert out.result["reset_required"] is False and out.result["deferred"] == []


def test_enable_pending_second_run_is_unchanged_but_says_reset_needed(module_env):
    t = Transcript(ENABLE_PENDING)
    out = module_env(t, profiles={"3g.20gb": 2})
    assert out.kind == "exit" and out.result["changed"] is False and t.mutations() == []
    assert out.result["reset_required"] is True and out.result["deferred"][0]["commands"] == [CREATE_TWO_3G]


def test_after_the_reset_the_next_run_creates_then_is_idempotent(module_env):
    t = Transcript(MIG_ON_EMPTY, MIG_ON_TWO_3G)
    out = module_env(t, profiles={"3g.20gb": 2})
    assert out.kind == "exit" and t.mutations() == [CREATE_TWO_3G]
    again = Transcript(MIG_ON_TWO_3G)
    out = module_env(again, profiles={"3g.20gb": 2})
    assert out.kind == "exit" and out.result["changed"] is False and again.mutations() == []


def test_process_started_after_the_enable_blocks_instances_with_an_honest_message(module_env):
    busy = dict(MIG_ON_EMPTY, **{"--query-compute-apps": "00000000:10:1C.0, 5150, python3\n"})
    t = Transcript(MIG_OFF, busy)
    out = module_env(t, profiles={"3g.20gb": 2})
    assert out.kind == "fail" and t.mutations() == [ENABLE]
    assert out.result["msg"].startswith("Refusing to change busy GPUs, MIG mode was enabled but no instance was "
                                        "created: GPU 0 (00000000:10:1C.0) is in use by 1 process(es)")


def test_mig_off_busy_gpu_refused_before_enabling(module_env):
    busy = "00000000:10:1C.0, 5150, python3\n"
    t = Transcript(dict(MIG_OFF, **{"--query-compute-apps": busy}))
    out = module_env(t, profiles={"3g.20gb": 2})
    assert out.kind == "fail" and t.mutations() == []
    assert "GPU 0 (00000000:10:1C.0) is in use by 1 process(es) (pids 5150)" in out.result["msg"]


def test_old_driver_lci_without_placement_already_correct_is_unchanged(module_env):
    t = Transcript(MIG_ON_TWO_3G)
    out = module_env(t, profiles={"3g.20gb": 2})
    assert out.kind == "exit" and out.result["changed"] is False and t.mutations() == []


def test_lgi_permission_error_still_fails(module_env):
    t = Transcript(dict(MIG_ON_EMPTY, **{"-lgi": "Failed to display GPU instances: Insufficient Permissions\n"}))
    out = module_env(t, profiles={"3g.20gb": 2})
    assert out.kind == "fail" and "Insufficient Permissions" in out.result["msg"]


# ---- bad input: one clear fail_json each, never a traceback ----
@pytest.mark.parametrize("query,message", [
    ("0, 00000000:05:00.0, NVIDIA A100\n", "want 6 fields"),
    ("zero, 00000000:05:00.0, NVIDIA A100 80GB PCIe, 81920, Enabled, Enabled\n", "unexpected GPU index 'zero'"),
    ("0, 00000000:05:00.0, NVIDIA A100 80GB PCIe, lots, Enabled, Enabled\n", "unexpected memory.total 'lots'"),
    ("0, 00000000:05:00.0, NVIDIA A100 80GB PCIe, 81920, Enabled, Sometimes\n", "unexpected MIG mode 'Sometimes'"),
])
def test_malformed_query_output_fails_cleanly(module_env, query, message):
    t = Transcript(dict(STATE_A100, **{"--query-gpu": query}))
    out = module_env(t, profiles={"7g.80gb": 1})
    assert out.kind == "fail" and t.mutations() == []
    assert out.result["msg"].startswith("Could not parse the GPUs that nvidia-smi --query-gpu reports on this host: ")
    assert message in out.result["msg"] and out.result["stdout"] == query


@pytest.mark.parametrize("args,message", [
    ({"profiles": {"1g.10gb": 1.5}}, "count for 1g.10gb must be a whole number >= 0, not 1.5"),
    ({"profiles": {"1g.10gb": "7.0"}}, "count for 1g.10gb must be a whole number >= 0, not '7.0'"),
    ({"profiles": {"1g.10gb": -2}}, "count for 1g.10gb must be a whole number >= 0, not -2"),
    ({"devices": ["first"], "profiles": {"7g.80gb": 1}}, "devices must be GPU indexes or all, not 'first'"),
])
def test_bad_arguments_fail_cleanly(module_env, args, message):
    t = Transcript(STATE_A100)
    out = module_env(t, **args)
    assert out.kind == "fail" and t.mutations() == []
    assert out.result["msg"] == "MIG layout refused, nothing was changed: " + message


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


# ---- strategy mig-manager: a fake API server whose node labels change as the MIG manager would ----
class Obj:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class FakeCluster:
    """CoreV1Api stand-in: read_node/patch_node bump a resourceVersion; after the patch, `script` gives the label
    writes the MIG manager makes, delivered by FakeWatch in order from the resourceVersion asked for."""

    def __init__(self, labels, script=(), log="", pods=True, gone_once=False):
        self.labels = dict(labels)
        self.rv = 100
        self.history = []  # (rv, labels) after the patch
        self.script = list(script)
        self.patches = []
        self.log = log
        self.pods = pods
        self.gone_once = gone_once
        self.watches = []

    def node(self, labels=None, rv=None):
        return Obj(metadata=Obj(labels=dict(self.labels if labels is None else labels),
                                resource_version=str(self.rv if rv is None else rv)))

    def read_node(self, name):
        assert name == "g1"
        return self.node()

    def patch_node(self, name, body):
        self.patches.append((name, body))
        self.labels.update(body["metadata"]["labels"])
        self.rv += 1
        for change in self.script:  # the manager's writes, each a new resourceVersion
            self.labels.update(change)
            self.rv += 1
            self.history.append((self.rv, dict(self.labels)))
        return self.node(rv=self.rv - len(self.script))

    def list_node(self, **kwargs):
        raise AssertionError("only through FakeWatch")

    def list_pod_for_all_namespaces(self, label_selector, field_selector):
        assert (label_selector, field_selector) == ("app=nvidia-mig-manager", "spec.nodeName=g1")
        items = [Obj(metadata=Obj(name="nvidia-mig-manager-x7k2p", namespace="gpu-operator"),
                     spec=Obj(containers=[Obj(name="nvidia-mig-manager")]))] if self.pods else []
        return Obj(items=items)

    def read_namespaced_pod_log(self, name, namespace, tail_lines=None, container=None):
        assert container == "nvidia-mig-manager"
        return self.log


class FakeWatch:
    cluster = None

    def stream(self, func, field_selector=None, resource_version=None, timeout_seconds=None):
        from kubernetes.client.rest import ApiException
        cluster = FakeWatch.cluster
        assert func == cluster.list_node and field_selector == "metadata.name=g1" and timeout_seconds >= 1
        cluster.watches.append(resource_version)
        if cluster.gone_once:
            cluster.gone_once = False
            raise ApiException(status=410, reason="Expired: too old resource version")
        for rv, labels in cluster.history:
            if rv > int(resource_version):
                yield {"type": "MODIFIED", "object": cluster.node(labels, rv)}


@pytest.fixture
def mig_manager(monkeypatch):
    import kubernetes
    clock = [1000.0]
    monkeypatch.setattr(kubernetes.config, "load_kube_config", lambda **kw: None)
    monkeypatch.setattr(mod.time, "time", lambda: clock[0])
    monkeypatch.setattr(mod.time, "sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    monkeypatch.setattr(mod.watch, "Watch", FakeWatch)

    def run(cluster, **args):
        FakeWatch.cluster = cluster
        monkeypatch.setattr(mod.client, "CoreV1Api", lambda: cluster)
        base = {"strategy": "mig-manager", "node_name": "g1", "mig_config": "all-1g.10gb", "timeout": 30}
        base.update(args)
        with patch_module_args(base):
            with pytest.raises(ModuleExit) as exc:
                mod.main()
        return exc.value
    return run


CFG, STATE = "nvidia.com/mig.config", "nvidia.com/mig.config.state"
PREVIOUS_OK = {CFG: "all-disabled", STATE: "success"}
LABEL_PATCH = [("g1", {"metadata": {"labels": {CFG: "all-1g.10gb"}}})]
MANAGER_LOG = ("time=\"2026-12-01T06:40:00Z\" level=info msg=\"Updating to MIG config: all-1g.10gb\"\n"
               "Error: error setting MIG mode: In use by another client\n"
               "Changing the 'nvidia.com/mig.config.state' node label to 'failed'\n")


def test_mig_manager_stale_success_then_pending_then_success(mig_manager):
    cluster = FakeCluster(PREVIOUS_OK, [{STATE: "success"}, {STATE: "pending"}, {STATE: "success"}])
    out = mig_manager(cluster)
    assert out.kind == "exit", out.result.get("msg")
    assert out.result["changed"] is True and out.result["state"] == "success"
    assert cluster.patches == LABEL_PATCH
    assert cluster.watches == ["101"]  # watched from the patch's own resourceVersion


def test_mig_manager_stale_success_only_times_out_saying_the_manager_never_picked_it_up(mig_manager):
    cluster = FakeCluster(PREVIOUS_OK, [{STATE: "success"}], log="level=info msg=\"Waiting for change to label\"\n")
    out = mig_manager(cluster, timeout=5)
    assert out.kind == "fail"
    assert out.result["msg"].startswith(
        "Timed out after 5s waiting for the MIG manager to apply all-1g.10gb on node g1: the MIG manager never "
        "picked the change up (nvidia.com/mig.config.state stayed 'success', the state of the previous config)")
    assert "nvidia-mig-manager pod gpu-operator/nvidia-mig-manager-x7k2p says: level=info" in out.result["msg"]


def test_mig_manager_pending_then_failed_reports_the_managers_error(mig_manager):
    cluster = FakeCluster(PREVIOUS_OK, [{STATE: "pending"}, {STATE: "failed"}], log=MANAGER_LOG)
    out = mig_manager(cluster)
    assert out.kind == "fail" and out.result["state"] == "failed"
    assert out.result["msg"] == (
        "The MIG manager failed to apply all-1g.10gb on node g1 (nvidia.com/mig.config.state=failed). "
        "nvidia-mig-manager pod gpu-operator/nvidia-mig-manager-x7k2p says: Error: error setting MIG mode: In use by "
        "another client | Changing the 'nvidia.com/mig.config.state' node label to 'failed'")


def test_mig_manager_pending_forever_times_out(mig_manager):
    cluster = FakeCluster(PREVIOUS_OK, [{STATE: "pending"}], pods=False)
    out = mig_manager(cluster, timeout=3)
    assert out.kind == "fail"
    assert out.result["msg"] == (
        "Timed out after 3s waiting for the MIG manager to apply all-1g.10gb on node g1: the MIG manager is still at "
        "it (nvidia.com/mig.config.state=pending). no nvidia-mig-manager pod runs on node g1")


def test_mig_manager_already_applied_is_unchanged_and_waits_for_nothing(mig_manager):
    cluster = FakeCluster({CFG: "all-1g.10gb", STATE: "success"})
    out = mig_manager(cluster)
    assert out.kind == "exit" and out.result["changed"] is False and out.result["state"] == "success"
    assert cluster.patches == [] and cluster.watches == []


def test_mig_manager_already_failed_fails_at_once_without_relabelling(mig_manager):
    cluster = FakeCluster({CFG: "all-1g.10gb", STATE: "failed"}, log=MANAGER_LOG)
    out = mig_manager(cluster)
    assert out.kind == "fail" and cluster.patches == [] and cluster.watches == []
    assert "retries only when nvidia.com/mig.config changes" in out.result["msg"]
    assert "In use by another client" in out.result["msg"]


def test_mig_manager_check_mode_neither_labels_nor_waits(mig_manager):
    cluster = FakeCluster(PREVIOUS_OK, [{STATE: "pending"}, {STATE: "success"}])
    out = mig_manager(cluster, _ansible_check_mode=True)
    assert out.kind == "exit" and out.result["changed"] is True and out.result["state"] == "success"
    assert cluster.patches == [] and cluster.watches == []
    assert out.result["diff"] == {"before": {CFG: "all-disabled"}, "after": {CFG: "all-1g.10gb"}}


def test_mig_manager_expired_watch_rereads_the_node_and_goes_on(mig_manager):
    cluster = FakeCluster(PREVIOUS_OK, [{STATE: "pending"}], gone_once=True)
    out = mig_manager(cluster, timeout=4)
    # after the 410 the node is read (state pending: the transition is seen) and the manager never finishes
    assert out.kind == "fail" and "the MIG manager is still at it" in out.result["msg"]
    assert len(cluster.watches) >= 2


def test_mig_manager_label_taken_over_by_someone_else(mig_manager):
    cluster = FakeCluster(PREVIOUS_OK, [{CFG: "all-7g.80gb", STATE: "pending"}])
    out = mig_manager(cluster)
    assert out.kind == "fail"
    assert out.result["msg"] == ("nvidia.com/mig.config on node g1 was changed to 'all-7g.80gb' by someone else while "
                                 "waiting for all-1g.10gb")


def test_mig_manager_bad_kubeconfig_fails_cleanly(mig_manager, monkeypatch):
    import kubernetes

    def broken(**kw):
        raise kubernetes.config.ConfigException("Invalid kube-config file. No configuration found.")
    monkeypatch.setattr(kubernetes.config, "load_kube_config", broken)
    out = mig_manager(FakeCluster(PREVIOUS_OK), kubeconfig="/nonexistent/kubeconfig")
    assert out.kind == "fail"
    assert out.result["msg"] == ("Could not read node g1 to set nvidia.com/mig.config (kubeconfig /nonexistent/kubeconfig): "
                                 "Invalid kube-config file. No configuration found.")


def test_mig_manager_dropped_watch_connection_is_watched_again(mig_manager, monkeypatch):
    from urllib3.exceptions import ProtocolError
    cluster = FakeCluster(PREVIOUS_OK, [{STATE: "pending"}, {STATE: "success"}])
    real_stream = FakeWatch.stream
    calls = []

    def flaky(self, func, **kw):
        calls.append(kw["resource_version"])
        if len(calls) == 1:
            raise ProtocolError("Connection broken: IncompleteRead")
        return real_stream(self, func, **kw)
    monkeypatch.setattr(FakeWatch, "stream", flaky)
    out = mig_manager(cluster)
    assert out.kind == "exit" and out.result["state"] == "success" and calls == ["101", "101"]
