# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""NVIDIA MIG partitioning: parse nvidia-smi, validate a wanted layout, plan the minimal change (pure).

The wanted layout per GPU is what operators write: ``mig_enabled`` and ``{profile: count}``. Parsers use
tolerant regexes (nvidia-smi widens its columns between drivers). The planner returns, per GPU, the
ordered nvidia-smi argument lists to run, or the reason it must not run them (busy GPU, pending mode).
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
    for pattern, gb, key in _MODELS:
        if re.search(pattern, name or "") and abs(memory_mib / 1024.0 - gb) <= gb * 0.06:
            return key
    return None


def _mode(value):
    value = value.strip()
    if value.startswith("[") or value in ("N/A", ""):
        return None  # [N/A]: this GPU has no MIG
    return value.lower() == "enabled"


def parse_query_gpu(text):
    """--query-gpu=index,pci.bus_id,name,memory.total,mig.mode.current,mig.mode.pending --format=csv,noheader"""
    gpus = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 6:
            raise MigError("unexpected nvidia-smi --query-gpu line (want 6 fields): %r" % line)
        mem = re.match(r"(\d+)", fields[3])
        gpus.append({
            "index": int(fields[0]), "bus_id": fields[1], "name": fields[2],
            "memory_mib": int(mem.group(1)) if mem else 0,
            "mig_current": _mode(fields[4]), "mig_pending": _mode(fields[5]),
        })
    return gpus


_LGI_ROW = re.compile(r"^\|\s*(\d+)\s+MIG\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+):(\d+)\s*\|")
_LCI_ROW = re.compile(r"^\|\s*(\d+)\s+(\d+)\s+MIG\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+):(\d+)\s*\|")


def parse_lgi(text):
    """``nvidia-smi mig -lgi`` -> [{gpu, profile, profile_id, gi, placement}]; 'No GPU instances found' -> []."""
    out = []
    for line in (text or "").splitlines():
        m = _LGI_ROW.match(line.strip())
        if m:
            out.append({"gpu": int(m.group(1)), "profile": m.group(2), "profile_id": int(m.group(3)),
                        "gi": int(m.group(4)), "placement": "%s:%s" % (m.group(5), m.group(6))})
    return out


def parse_lci(text):
    """``nvidia-smi mig -lci`` -> [{gpu, gi, profile, ci}]; 'No compute instances found' -> []."""
    out = []
    for line in (text or "").splitlines():
        m = _LCI_ROW.match(line.strip())
        if m:
            out.append({"gpu": int(m.group(1)), "gi": int(m.group(2)), "profile": m.group(3), "ci": int(m.group(5))})
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
    """Raise MigError naming the GPU model and allowed profiles when ``wanted`` cannot fit."""
    label = "GPU %d (%s, %s)" % (gpu["index"], gpu["bus_id"], gpu["name"])
    if not wanted.get("mig_enabled"):
        return
    if gpu["mig_current"] is None:
        raise MigError("%s does not support MIG (mig.mode is [N/A])" % label)
    key = catalog_key(gpu["name"], gpu["memory_mib"])
    if key is None:
        raise MigError("%s with %d MiB is not in the MIG profile catalog (known: %s)" % (
            label, gpu["memory_mib"], ", ".join(sorted(CATALOG))))
    cat = CATALOG[key]
    compute = memory = 0
    for profile, count in sorted(wanted.get("profiles", {}).items()):
        prof = normalize_profile(profile)
        if prof not in cat["profiles"]:
            raise MigError("%s is a %s: profile %s does not exist there; allowed: %s" % (
                label, key, prof, ", ".join(cat["profiles"])))
        c, m, most = cat["profiles"][prof]
        if not isinstance(count, int) or count < 0:
            raise MigError("%s: count for %s must be a whole number >= 0, not %r" % (label, prof, count))
        if count > most:
            raise MigError("%s is a %s: at most %d x %s fit, %d asked" % (label, key, most, prof, count))
        compute += c * count
        memory += m * count
    if compute > cat["compute"] or memory > cat["memory"]:
        raise MigError("%s is a %s: the layout needs %d compute and %d memory slices, the GPU has %d and %d" % (
            label, key, compute, memory, cat["compute"], cat["memory"]))


def _counts(instances):
    counts = {}
    for inst in instances:
        counts[inst["profile"]] = counts.get(inst["profile"], 0) + 1
    return counts


def _smi(*args):
    return ["nvidia-smi"] + [str(a) for a in args]


def plan_gpu(gpu, gis, cis, wanted, busy_pids, force=False, allow_reset=False):
    """Plan for one GPU: {index, actions: [...], commands: [[...]], blocked: reason|None, reset_required, before, after}."""
    idx = gpu["index"]
    want_profiles = {normalize_profile(p): c for p, c in (wanted.get("profiles") or {}).items() if c}
    current = _counts(gis)
    before = {"mig_enabled": bool(gpu["mig_current"]), "profiles": current}
    after = {"mig_enabled": bool(wanted.get("mig_enabled")),
             "profiles": want_profiles if wanted.get("mig_enabled") else {}}
    plan = {"index": idx, "bus_id": gpu["bus_id"], "actions": [], "commands": [], "blocked": None,
            "reset_required": False, "before": before, "after": after}

    def add(action, cmd):
        plan["actions"].append(action)
        plan["commands"].append(cmd)

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
        if not gpu["mig_pending"]:
            add("enable MIG mode", _smi("-i", idx, "-mig", 1))
        # The mode becomes current only after a GPU reset (or reboot); instances cannot be created before.
        if allow_reset:
            add("reset GPU", _smi("-r", "-i", idx))
            if want_profiles:
                add("create GPU and compute instances", _create(idx, want_profiles))
        else:
            plan["reset_required"] = True
    else:
        if gpu["mig_pending"] is False:
            plan["reset_required"] = True  # a disable is pending; enabling again needs no command
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


def _create(idx, profiles):
    # Largest first: big instances need aligned placements that small ones would fragment.
    order = sorted(profiles, key=lambda p: (-int(p.split("g.")[0]), p))
    names = [p for p in order for _unused in range(profiles[p])]
    return _smi("mig", "-i", idx, "-cgi", ",".join(names), "-C")


def select_gpus(gpus, devices):
    if devices in ("all", ["all"]):
        return list(gpus)
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
        try:
            profiles[normalize_profile(name)] = int(count)
        except (TypeError, ValueError):
            raise MigError("count for %s must be a whole number, not %r" % (name, count))
    wanted = dict(wanted, profiles=profiles)
    for gpu in selected:
        validate_layout(gpu, wanted)
    return [plan_gpu(g, [x for x in gis if x["gpu"] == g["index"]], [x for x in cis if x["gpu"] == g["index"]],
                     wanted, busy.get(g["bus_id"].upper(), []), force, allow_reset) for g in selected]
