# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""NVIDIA MIG partitioning: parse nvidia-smi, validate a wanted layout, plan the minimal change (pure).

The wanted layout per GPU is what operators write: ``mig_enabled`` and ``{profile: count}``. Parsers use
tolerant regexes (nvidia-smi widens its columns between drivers; ``-lci`` of older drivers has no Placement
column). The planner returns, per GPU, the whole ordered list of nvidia-smi argument lists with the phase each
may run in (now, GPU reset while the mode is pending, once MIG mode is active), or the reason it must not run
them (busy GPU). The MIG manager strategy's label state machine is here too, as pure functions.

Public API other code may import (kept stable): ``CATALOG`` (catalog key -> compute/memory slices and
``profiles``: name -> (compute slices, memory slices, max instances)), ``catalog_key(name, memory_mib)``,
``resolve_model(model)``, ``allowed_profiles(model)`` and ``layout_problems(model, profiles)``: pure, no
nvidia-smi, for checks on the controller before any host is contacted.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# Profiles per GPU model: name -> (compute slices, memory slices, max instances).
# Sources: NVIDIA MIG user guide profile tables; H100-94GB from `nvidia-smi mig -lgip` on an H100 NVL.
CATALOG = {
    "A100-40GB": {"compute": 7, "memory": 8, "profiles": {
        "1g.5gb": (1, 1, 7), "1g.10gb": (1, 2, 4), "2g.10gb": (2, 2, 3), "3g.20gb": (3, 4, 2),
        "4g.20gb": (4, 4, 1), "7g.40gb": (7, 8, 1)}},
    "A100-80GB": {"compute": 7, "memory": 8, "profiles": {
        "1g.10gb": (1, 1, 7), "1g.20gb": (1, 2, 4), "2g.20gb": (2, 2, 3), "3g.40gb": (3, 4, 2),
        "4g.40gb": (4, 4, 1), "7g.80gb": (7, 8, 1)}},
    "H100-80GB": {"compute": 7, "memory": 8, "profiles": {
        "1g.10gb": (1, 1, 7), "1g.20gb": (1, 2, 4), "2g.20gb": (2, 2, 3), "3g.40gb": (3, 4, 2),
        "4g.40gb": (4, 4, 1), "7g.80gb": (7, 8, 1)}},
    "H100-94GB": {"compute": 7, "memory": 8, "profiles": {
        "1g.12gb": (1, 1, 7), "1g.24gb": (1, 2, 4), "2g.24gb": (2, 2, 3), "3g.47gb": (3, 4, 2),
        "4g.47gb": (4, 4, 1), "7g.94gb": (7, 8, 1)}},
    "H200-141GB": {"compute": 7, "memory": 8, "profiles": {
        "1g.18gb": (1, 1, 7), "1g.35gb": (1, 2, 4), "2g.35gb": (2, 2, 3), "3g.71gb": (3, 4, 2),
        "4g.71gb": (4, 4, 1), "7g.141gb": (7, 8, 1)}},
    "A30-24GB": {"compute": 4, "memory": 4, "profiles": {
        "1g.6gb": (1, 1, 4), "2g.12gb": (2, 2, 2), "4g.24gb": (4, 4, 1)}},
}

# (product-name pattern, nominal GB, catalog key); memory.total is matched within 6% of the nominal size.
_MODELS = [
    (r"A100", 40, "A100-40GB"), (r"A100", 80, "A100-80GB"),
    (r"H100", 80, "H100-80GB"), (r"H100", 94, "H100-94GB"),
    (r"H200", 141, "H200-141GB"), (r"A30\b", 24, "A30-24GB"),
]


class MigError(ValueError):
    pass


def catalog_key(name, memory_mib):
    """GPU product name and memory.total (MiB) as nvidia-smi reports them -> catalog key, or None."""
    for pattern, gb, key in _MODELS:
        if re.search(pattern, name or "") and abs(memory_mib / 1024.0 - gb) <= gb * 0.06:
            return key
    return None


def resolve_model(model):
    """A GPU model as an inventory states it -> catalog key, or None when unknown or ambiguous.

    Accepts a catalog key in any case (``a100-80gb``), or a product name with its size
    (``NVIDIA A100-SXM4-40GB``, ``H100 80GB HBM3``, ``H200``: a family with one size needs none).
    """
    text = str(model or "").strip()
    for key in CATALOG:
        if text.upper() == key.upper():
            return key
    families = [(pattern, gb, key) for pattern, gb, key in _MODELS if re.search(pattern, text, re.I)]
    size = re.search(r"(\d+)\s*G(?:B|iB)?\b", text, re.I)
    if size:
        families = [f for f in families if abs(int(size.group(1)) - f[1]) <= f[1] * 0.06]
    keys = sorted(set(f[2] for f in families))
    return keys[0] if len(keys) == 1 else None


def allowed_profiles(model):
    """Profile names a GPU model can hold, in catalog order ([] for an unknown model)."""
    key = resolve_model(model)
    return list(CATALOG[key]["profiles"]) if key else []


def whole_count(profile, value):
    """A profile count as operators write it (2, "2", 2.0) -> int; anything else raises MigError, never truncates."""
    if isinstance(value, bool):
        raise MigError("count for %s must be a whole number >= 0, not %r" % (profile, value))
    if isinstance(value, int):
        count = value
    elif isinstance(value, float) and value.is_integer():
        count = int(value)
    elif isinstance(value, str) and re.match(r"^\s*\d+\s*$", value):
        count = int(value)
    else:
        raise MigError("count for %s must be a whole number >= 0, not %r" % (profile, value))
    if count < 0:
        raise MigError("count for %s must be a whole number >= 0, not %r" % (profile, value))
    return count


def _layout_problems(key, profiles):
    cat = CATALOG[key]
    problems = []
    compute = memory = 0
    for profile, count in sorted((profiles or {}).items()):
        prof = normalize_profile(profile)
        try:
            count = whole_count(prof, count)
        except MigError as exc:
            problems.append(str(exc))
            continue
        if prof not in cat["profiles"]:
            problems.append("profile %s does not exist there; allowed: %s" % (prof, ", ".join(cat["profiles"])))
            continue
        c, m, most = cat["profiles"][prof]
        if count > most:
            problems.append("at most %d x %s fit, %d asked" % (most, prof, count))
        compute += c * count
        memory += m * count
    if compute > cat["compute"] or memory > cat["memory"]:
        problems.append("the layout needs %d compute and %d memory slices, the GPU has %d and %d" % (
            compute, memory, cat["compute"], cat["memory"]))
    return problems


def layout_problems(model, profiles):
    """Pure check of a MIG layout ({profile: count}) against the catalog, for controller-side preflights.

    ``model`` is what :func:`resolve_model` accepts. Returns one line per problem, each naming the model
    (and, for an unknown profile, the allowed ones); [] when the layout fits.
    """
    key = resolve_model(model)
    if key is None:
        return ["GPU model %r is not in the MIG profile catalog (known: %s)" % (model, ", ".join(sorted(CATALOG)))]
    return ["%s: %s" % (key, p) for p in _layout_problems(key, profiles)]


_MODE_VALUES = {"enabled": True, "disabled": False}


def _mode(value, line):
    value = value.strip()
    if value.startswith("[") or value in ("N/A", ""):
        return None  # [N/A]: this GPU has no MIG
    if value.lower() not in _MODE_VALUES:
        raise MigError("unexpected MIG mode %r in nvidia-smi --query-gpu line %r (want Enabled, Disabled or [N/A])" % (
            value, line))
    return _MODE_VALUES[value.lower()]


def parse_query_gpu(text):
    """--query-gpu=index,pci.bus_id,name,memory.total,mig.mode.current,mig.mode.pending --format=csv,noheader

    Raises MigError naming the line for anything that is not such a row (never a bare ValueError)."""
    gpus = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 6:
            raise MigError("unexpected nvidia-smi --query-gpu line (want 6 fields): %r" % line)
        if not fields[0].isdigit():
            raise MigError("unexpected GPU index %r in nvidia-smi --query-gpu line %r" % (fields[0], line))
        mem = re.match(r"^(\d+)(\s*MiB)?$", fields[3])
        if not mem:
            raise MigError("unexpected memory.total %r in nvidia-smi --query-gpu line %r (want MiB)" % (
                fields[3], line))
        gpus.append({
            "index": int(fields[0]), "bus_id": fields[1], "name": fields[2],
            "memory_mib": int(mem.group(1)),
            "mig_current": _mode(fields[4], line), "mig_pending": _mode(fields[5], line),
        })
    return gpus


# Rows of the -lgi / -lci tables. Whitespace-separated tokens, never column positions (nvidia-smi widens its
# columns between drivers); the Placement column is optional: -lci of older drivers has none.
_LGI_ROW = re.compile(r"^\|\s*(\d+)\s+MIG\s+(\S+)\s+(\d+)\s+(\d+)(?:\s+(\d+):(\d+))?\s*\|$")
_LCI_ROW = re.compile(r"^\|\s*(\d+)\s+(\d+)\s+MIG\s+(\S+)\s+(\d+)\s+(\d+)(?:\s+(\d+):(\d+))?\s*\|$")
# What nvidia-smi prints instead of a table when there is nothing to list (with rc 0 or 6 depending on the driver).
# "No MIG-enabled devices found." comes when no GPU has MIG mode on: an empty list, not an error.
_NOTHING = re.compile(r"^(No (GPU|compute) instances found(\.|: Not Found)?|No MIG-enabled devices found\.?)$")


def nothing_listed(text):
    """True when nvidia-smi mig -lgi/-lci output says there is nothing to list (no instances, or MIG off)."""
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return bool(lines) and all(_NOTHING.match(ln) for ln in lines)


def _placement(m, start):
    return "%s:%s" % (m.group(start), m.group(start + 1)) if m.group(start) is not None else None


def parse_lgi(text):
    """``nvidia-smi mig -lgi`` -> [{gpu, profile, profile_id, gi, placement}]; the 'nothing' messages -> []."""
    out = []
    for line in (text or "").splitlines():
        m = _LGI_ROW.match(line.strip())
        if m:
            out.append({"gpu": int(m.group(1)), "profile": m.group(2), "profile_id": int(m.group(3)),
                        "gi": int(m.group(4)), "placement": _placement(m, 5)})
    return out


def parse_lci(text):
    """``nvidia-smi mig -lci`` (with or without the Placement column) -> [{gpu, gi, profile, ci, placement}]."""
    out = []
    for line in (text or "").splitlines():
        m = _LCI_ROW.match(line.strip())
        if m:
            out.append({"gpu": int(m.group(1)), "gi": int(m.group(2)), "profile": m.group(3),
                        "ci": int(m.group(5)), "placement": _placement(m, 6)})
    return out


def parse_compute_apps(text):
    """--query-compute-apps=gpu_bus_id,pid,process_name --format=csv,noheader -> {bus_id: [pid, ...]}."""
    busy = {}
    for line in (text or "").splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) >= 2 and fields[1].isdigit():
            busy.setdefault(fields[0].upper(), []).append(int(fields[1]))
    return busy


def normalize_profile(name):
    name = str(name).strip()
    return name[4:].strip() if name.upper().startswith("MIG ") else name


def validate_layout(gpu, wanted):
    """Raise MigError naming the GPU, its model and the problems when ``wanted`` cannot fit on ``gpu``."""
    label = "GPU %d (%s, %s)" % (gpu["index"], gpu["bus_id"], gpu["name"])
    if not wanted.get("mig_enabled"):
        return
    if gpu["mig_current"] is None:
        raise MigError("%s does not support MIG (mig.mode is [N/A])" % label)
    key = catalog_key(gpu["name"], gpu["memory_mib"])
    if key is None:
        raise MigError("%s with %d MiB is not in the MIG profile catalog (known: %s)" % (
            label, gpu["memory_mib"], ", ".join(sorted(CATALOG))))
    problems = _layout_problems(key, wanted.get("profiles", {}))
    if problems:
        raise MigError("%s is a %s: %s" % (label, key, "; ".join(problems)))


def _counts(instances):
    counts = {}
    for inst in instances:
        counts[inst["profile"]] = counts.get(inst["profile"], 0) + 1
    return counts


def _smi(*args):
    return ["nvidia-smi"] + [str(a) for a in args]


# When a planned command may run: NOW; RESET only while the MIG mode change is still pending after the
# commands before it (the driver may activate the mode itself); MODE_ACTIVE only once MIG mode is current.
NOW, RESET, MODE_ACTIVE = "now", "if_mode_pending", "after_mode_active"


def plan_gpu(gpu, gis, cis, wanted, busy_pids, force=False, allow_reset=False):
    """Plan for one GPU (pure).

    Returns {index, bus_id, actions, commands, phases, blocked, reset_required, before, after}: ``commands`` is the
    whole ordered plan (what check mode shows) and ``phases`` says for each command when it may run (NOW, RESET,
    MODE_ACTIVE). ``reset_required`` means instances wait for a GPU reset or reboot the plan will not do itself.
    """
    idx = gpu["index"]
    want_profiles = {normalize_profile(p): c for p, c in (wanted.get("profiles") or {}).items() if c}
    current = _counts(gis)
    before = {"mig_enabled": bool(gpu["mig_current"]), "profiles": current}
    after = {"mig_enabled": bool(wanted.get("mig_enabled")),
             "profiles": want_profiles if wanted.get("mig_enabled") else {}}
    plan = {"index": idx, "bus_id": gpu["bus_id"], "actions": [], "commands": [], "phases": [], "blocked": None,
            "reset_required": False, "before": before, "after": after}
    if gpu["mig_pending"] is not None and gpu["mig_pending"] != gpu["mig_current"]:
        before["mig_pending"] = bool(gpu["mig_pending"])

    def add(action, cmd, phase=NOW):
        plan["actions"].append(action)
        plan["commands"].append(cmd)
        plan["phases"].append(phase)

    gi_with_ci = set(c["gi"] for c in cis)
    if not wanted.get("mig_enabled"):
        if gpu["mig_current"] is None:
            return plan  # no MIG on this GPU: already as wanted
        if gis:
            add("destroy compute instances", _smi("mig", "-i", idx, "-dci"))
            add("destroy GPU instances", _smi("mig", "-i", idx, "-dgi"))
        if gpu["mig_current"] or gpu["mig_pending"]:
            add("disable MIG mode", _smi("-i", idx, "-mig", 0))
    elif not gpu["mig_current"]:
        # MIG off (or an enable pending): enable, then the mode becomes current after a GPU reset or reboot
        # (some drivers reset the GPU themselves); instances can be created only then, on an empty GPU.
        if not gpu["mig_pending"]:
            add("enable MIG mode", _smi("-i", idx, "-mig", 1))
        if allow_reset:
            add("reset GPU if the MIG mode is still pending", _smi("-r", "-i", idx), RESET)
        else:
            plan["reset_required"] = True
        if want_profiles:
            add("create GPU and compute instances once MIG mode is active", _create(idx, want_profiles), MODE_ACTIVE)
    else:
        if gpu["mig_pending"] is False:
            add("keep MIG mode enabled (a disable is pending)", _smi("-i", idx, "-mig", 1))
        missing_ci = sorted(gi["gi"] for gi in gis if gi["gi"] not in gi_with_ci)
        if current == want_profiles:
            for gid in missing_ci:
                add("create compute instance on GPU instance %d" % gid, _smi("mig", "-i", idx, "-gi", gid, "-cci"))
        elif all(want_profiles.get(p, 0) >= n for p, n in current.items()):
            extra = dict((p, n - current.get(p, 0)) for p, n in want_profiles.items() if n > current.get(p, 0))
            for gid in missing_ci:
                add("create compute instance on GPU instance %d" % gid, _smi("mig", "-i", idx, "-gi", gid, "-cci"))
            add("create GPU and compute instances", _create(idx, extra))
        else:
            if gis:
                add("destroy compute instances", _smi("mig", "-i", idx, "-dci"))
                add("destroy GPU instances", _smi("mig", "-i", idx, "-dgi"))
            if want_profiles:
                add("create GPU and compute instances", _create(idx, want_profiles))
    if plan["actions"] and busy_pids and not force:
        plan["blocked"] = ("GPU %d (%s) is in use by %d process(es) (pids %s): stop them or set force=true" % (
            idx, gpu["bus_id"], len(busy_pids), ", ".join(str(p) for p in busy_pids)))
    return plan


def runs_now(plan_):
    """The commands of a plan that run in this pass, before anything waits on the MIG mode."""
    return [c for c, ph in zip(plan_["commands"], plan_["phases"]) if ph == NOW]


def will_change(plan_):
    """Whether applying the plan changes something in this run (a pending reset the module may do counts)."""
    return any(ph in (NOW, RESET) for ph in plan_["phases"])


def _create(idx, profiles):
    # Largest first: big instances need aligned placements that small ones would fragment.
    order = sorted(profiles, key=lambda p: (-int(p.split("g.")[0]), p))
    names = [p for p in order for _unused in range(profiles[p])]
    return _smi("mig", "-i", idx, "-cgi", ",".join(names), "-C")


def select_gpus(gpus, devices):
    if devices in ("all", ["all"]):
        return list(gpus)
    bad = [d for d in devices if not str(d).strip().isdigit()]
    if bad:
        raise MigError("devices must be GPU indexes or all, not %s" % ", ".join(repr(d) for d in bad))
    wanted = set(int(d) for d in devices)
    found = [g for g in gpus if g["index"] in wanted]
    missing = sorted(wanted - set(g["index"] for g in found))
    if missing:
        raise MigError("no GPU with index %s (present: %s)" % (
            ", ".join(map(str, missing)), ", ".join(str(g["index"]) for g in gpus) or "none"))
    return found


def plan(gpus, gis, cis, busy, wanted, devices="all", force=False, allow_reset=False):
    """Validate every selected GPU first, then plan each. Returns the list of per-GPU plans."""
    selected = select_gpus(gpus, devices)
    profiles = {}
    for name, count in (wanted.get("profiles") or {}).items():
        profiles[normalize_profile(name)] = whole_count(normalize_profile(name), count)
    wanted = dict(wanted, profiles=profiles)
    for gpu in selected:
        validate_layout(gpu, wanted)
    return [plan_gpu(g, [x for x in gis if x["gpu"] == g["index"]], [x for x in cis if x["gpu"] == g["index"]],
                     wanted, busy.get(g["bus_id"].upper(), []), force, allow_reset) for g in selected]


# ---- strategy mig-manager: the state machine of the GPU Operator's MIG manager, as seen in node labels ----
# The manager reacts to a change of CONFIG_LABEL: it sets STATE_LABEL to pending (rebooting while it reboots the
# node), applies the config, then sets success or failed. Right after we change CONFIG_LABEL the state still
# shows the outcome of the previous config, so a first 'success' proves nothing.
CONFIG_LABEL = "nvidia.com/mig.config"
STATE_LABEL = "nvidia.com/mig.config.state"
IN_PROGRESS = ("pending", "rebooting")
FINAL = ("success", "failed")


def mig_manager_start(labels, desired):
    """Decide from the node labels read before any change (pure).

    Returns (verdict, tracker): verdict is 'unchanged' (config applied and success), 'failed' (config applied and
    failed: the manager reacts only to a change of the label, so it will not retry by itself), 'wait' (config
    applied, manager still at it) or 'set' (the label must be changed, then the transition it causes awaited).
    The tracker is what :func:`mig_manager_observe` needs.
    """
    labels = labels or {}
    state = labels.get(STATE_LABEL)
    tracker = {"desired": desired, "previous_state": state, "seen": False, "state": state}
    if labels.get(CONFIG_LABEL) == desired:
        if state == "success":
            return "unchanged", tracker
        if state == "failed":
            return "failed", tracker
        # pending/rebooting: the manager is applying this very config; no state yet: it has not reported at all.
        # Whatever final state comes next is fresh.
        tracker["seen"] = True
        return "wait", tracker
    # Changed while the manager is applying the previous config: its next final state is that config's outcome,
    # and only the pending after it belongs to ours. (After 'rebooting' the manager restarts with whatever the label
    # says then, i.e. ours, so that one needs no such care.)
    tracker["busy_with_previous"] = state == "pending"
    return "set", tracker


def mig_manager_observe(tracker, labels):
    """Feed one later read of the node labels (pure). Returns (verdict, new tracker).

    verdict: 'wait', 'success', 'failed', or 'overridden' (someone else changed the config label meanwhile).
    A final state counts only once the manager was seen working (pending/rebooting) or when it differs from
    the state read before the change (the manager went through pending between two reads).
    """
    labels = labels or {}
    tracker = dict(tracker)
    state = labels.get(STATE_LABEL)
    tracker["state"] = state
    if labels.get(CONFIG_LABEL) != tracker["desired"]:
        tracker["overridden_by"] = labels.get(CONFIG_LABEL)
        return "overridden", tracker
    if tracker.get("busy_with_previous"):
        if state in FINAL:  # the previous config's outcome; ours starts with the next pending
            tracker.update(busy_with_previous=False, previous_state=state)
        return "wait", tracker
    if state in IN_PROGRESS:
        tracker["seen"] = True
        return "wait", tracker
    if state in FINAL and (tracker["seen"] or state != tracker["previous_state"]):
        tracker["seen"] = True
        return state, tracker
    return "wait", tracker


def mig_manager_timeout_reason(tracker):
    """Why a wait timed out, in words for the failure message."""
    if not tracker["seen"]:
        return ("the MIG manager never picked the change up (%s stayed %r, the state of the previous config): "
                "check that the GPU Operator's migManager is enabled and its nvidia-mig-manager pod runs on the node"
                % (STATE_LABEL, tracker["state"]))
    return "the MIG manager is still at it (%s=%s)" % (STATE_LABEL, tracker["state"])


def manager_log_excerpt(text, lines=5):
    """The MIG manager's own error from its pod log: the last lines that mention an error, else the last lines."""
    all_lines = [ln.rstrip() for ln in (text or "").splitlines() if ln.strip()]
    errors = [ln for ln in all_lines if re.search(r"error|fail|unable|insufficient|in use", ln, re.I)]
    return " | ".join((errors or all_lines)[-lines:])
