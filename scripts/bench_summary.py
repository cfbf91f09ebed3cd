"""Parse and summarise scripts/bench.sh runs of site.yml.

    bench_summary.py record --results R.jsonl --nodes N --round I --run rerun --seconds S --forks F --log LOG
        parse LOG's PLAY RECAP (summed over hosts) and append one JSON line to R.jsonl
    bench_summary.py table R.jsonl        the markdown table: median (min-max) per node count and run,
                                          task results per run, the ratios
    bench_summary.py table --rounds R.jsonl   each round's wall times with the load average at their start
    bench_summary.py profile LOG [--top 15] [--by-role]
                                          the slowest tasks (or the time per role) from LOG's profile_tasks
                                          summary, as a markdown table

Ansible's recap counts a changed task result in `ok` too, so `ok` is every task result that ran
(ok + changed in the sense of "executed") and `changed` is the part of it that changed something.
"""

import argparse
import json
import re
import statistics
import sys

RECAP_HEADER = re.compile(r"^PLAY RECAP \**\s*$")
RECAP_LINE = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counts>(?:\w+=\d+\s*)+)$")
# profile_tasks: "<task name> ----------- 1.23s" (dashes pad to the terminal width; none when the name is long).
PROFILE_LINE = re.compile(r"^(?P<name>.*?)\s+-*\s?(?P<seconds>\d+\.\d+)s\s*$")
RUNS = ("converge", "rerun", "check")
RUN_TITLES = {"converge": "first converge", "rerun": "idempotent re-run", "check": "--check"}
COUNTS = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")


class SummaryError(Exception):
    pass


def parse_recap(text):
    """The last PLAY RECAP in an ansible-playbook log: {host: {ok, changed, unreachable, failed, skipped, ...}}."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if RECAP_HEADER.match(line)]
    if not starts:
        raise SummaryError("no PLAY RECAP in the log (did ansible-playbook finish?)")
    hosts = {}
    for line in lines[starts[-1] + 1:]:
        match = RECAP_LINE.match(line.strip())
        if not match:
            if hosts:
                break
            continue
        counts = dict.fromkeys(COUNTS, 0)
        for pair in match.group("counts").split():
            key, _sep, value = pair.partition("=")
            counts[key] = int(value)
        hosts[match.group("host")] = counts
    if not hosts:
        raise SummaryError("PLAY RECAP lists no host")
    return hosts


def recap_totals(hosts):
    """Sum the per-host recap counts."""
    return {key: sum(counts.get(key, 0) for counts in hosts.values()) for key in COUNTS}


def parse_profile(text):
    """profile_tasks' summary after the last ruler line: [(task name, seconds)] as printed (slowest first)."""
    lines = text.splitlines()
    rulers = [i for i, line in enumerate(lines) if line.strip() and set(line.strip()) == {"="}]
    if not rulers:
        raise SummaryError("no profile_tasks summary in the log (ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks)")
    tasks = []
    for line in lines[rulers[-1] + 1:]:
        match = PROFILE_LINE.match(line.rstrip())
        if match:
            tasks.append((match.group("name").strip(), float(match.group("seconds"))))
    return tasks


def spread(values):
    """'median (min-max)' or the single value."""
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.1f}"
    return f"{med:.1f} ({min(values):.1f}-{max(values):.1f})"


def load_results(path):
    rows = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError as exc:
                    raise SummaryError(f"{path}:{number}: not a JSON line ({exc})") from exc
    return rows


def summarise(rows):
    """{nodes: {run: {seconds: [...], ok, changed, skipped, forks, rounds, load}}} from the recorded rows."""
    out = {}
    for row in rows:
        entry = out.setdefault(int(row["nodes"]), {}).setdefault(row["run"], {
            "seconds": [], "ok": [], "changed": [], "skipped": [], "forks": row.get("forks"), "load1": []})
        entry["seconds"].append(float(row["seconds"]))
        for key in ("ok", "changed", "skipped"):
            entry[key].append(int(row[key]))
        if row.get("load1") is not None:
            entry["load1"].append(float(row["load1"]))
    return out


def _counts(values):
    """One number when every round agrees, else 'min-max'."""
    return str(values[0]) if min(values) == max(values) else f"{min(values)}-{max(values)}"


def render_table(rows, reference_nodes=3):
    """The markdown table bench.sh prints."""
    data = summarise(rows)
    if not data:
        raise SummaryError("no results recorded")
    ref = data.get(reference_nodes, {}).get("rerun")
    ref_median = statistics.median(ref["seconds"]) if ref else None
    head = ("| nodes | forks | rounds | run | wall s: median (min-max) | tasks ok (executed) | changed | skipped "
            "| re-run / converge | re-run / 3-node re-run | load avg (1 min) at start |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for nodes in sorted(data):
        runs = data[nodes]
        conv = runs.get("converge")
        for run in RUNS:
            entry = runs.get(run)
            if not entry:
                continue
            ratio = per_ref = ""
            if run == "rerun":
                med = statistics.median(entry["seconds"])
                if conv:
                    ratio = f"{med / statistics.median(conv['seconds']):.0%}"
                if ref_median:
                    per_ref = f"{med / ref_median:.2f}x"
            load = f"{statistics.median(entry['load1']):.2f}" if entry["load1"] else ""
            lines.append(f"| {nodes} | {entry['forks']} | {len(entry['seconds'])} | {RUN_TITLES[run]} "
                         f"| {spread(entry['seconds'])} | {_counts(entry['ok'])} | {_counts(entry['changed'])} "
                         f"| {_counts(entry['skipped'])} | {ratio} | {per_ref} | {load} |")
    return "\n".join(lines)


def render_rounds(rows):
    """One row per node count and round: each run's wall time with the load average at its start."""
    per_round = {}
    for row in rows:
        per_round.setdefault((int(row["nodes"]), int(row["round"])), {})[row["run"]] = row
    lines = ["| nodes | round | " + " | ".join(f"{RUN_TITLES[run]} s (load)" for run in RUNS) + " |",
             "|" + "---|" * (2 + len(RUNS))]
    for (nodes, round_), runs in sorted(per_round.items()):
        cells = []
        for run in RUNS:
            row = runs.get(run)
            load = f" ({float(row['load1']):.1f})" if row and row.get("load1") is not None else ""
            cells.append(f"{float(row['seconds']):.1f}{load}" if row else "")
        lines.append(f"| {nodes} | {round_} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_profile(tasks, top=15):
    total = sum(seconds for _name, seconds in tasks)
    lines = ["| # | task | s | share |", "|---|---|---|---|"]
    for rank, (name, seconds) in enumerate(sorted(tasks, key=lambda t: -t[1])[:top], 1):
        share = f"{seconds / total:.0%}" if total else ""
        lines.append(f"| {rank} | {name.replace('|', '/')} | {seconds:.2f} | {share} |")
    lines.append(f"| | all {len(tasks)} tasks | {total:.2f} | 100% |")
    return "\n".join(lines)


def role_of(task_name):
    """'aiinfra.cluster.node_baseline : Install x' -> 'node_baseline'; a play-level task (no role) -> '(play)'."""
    role, sep, _task = task_name.partition(" : ")
    return role.rsplit(".", 1)[-1] if sep else "(play)"


def render_roles(tasks):
    """Time per role, slowest first: | role | tasks | s | share |."""
    per_role = {}
    for name, seconds in tasks:
        count, total = per_role.get(role_of(name), (0, 0.0))
        per_role[role_of(name)] = (count + 1, total + seconds)
    total = sum(seconds for _count, seconds in per_role.values())
    lines = ["| role | tasks | s | share |", "|---|---|---|---|"]
    for role, (count, seconds) in sorted(per_role.items(), key=lambda item: (-item[1][1], item[0])):
        share = f"{seconds / total:.0%}" if total else ""
        lines.append(f"| {role} | {count} | {seconds:.2f} | {share} |")
    return "\n".join(lines)


def cmd_record(args):
    with open(args.log, errors="replace") as f:
        totals = recap_totals(parse_recap(f.read()))
    row = {"nodes": args.nodes, "round": args.round, "run": args.run, "seconds": round(args.seconds, 2),
           "forks": args.forks, "load1": args.load1, **totals}
    with open(args.results, "a") as f:
        f.write(json.dumps(row) + "\n")
    print(f"{args.run}: {args.seconds:.1f}s ok={totals['ok']} changed={totals['changed']} "
          f"skipped={totals['skipped']} failed={totals['failed']} unreachable={totals['unreachable']}")
    if args.fail_on_changed and totals["changed"]:
        print(f"error: the {args.run} reported changed={totals['changed']} (must be 0): see {args.log}",
              file=sys.stderr)
        return 3
    if totals["failed"] or totals["unreachable"]:
        print(f"error: the {args.run} reported failed={totals['failed']} unreachable={totals['unreachable']}: "
              f"see {args.log}", file=sys.stderr)
        return 2
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("--results", required=True)
    rec.add_argument("--nodes", type=int, required=True)
    rec.add_argument("--round", type=int, required=True)
    rec.add_argument("--run", choices=RUNS, required=True)
    rec.add_argument("--seconds", type=float, required=True)
    rec.add_argument("--forks", type=int, required=True)
    rec.add_argument("--load1", type=float)
    rec.add_argument("--log", required=True)
    rec.add_argument("--fail-on-changed", action="store_true")
    table = sub.add_parser("table")
    table.add_argument("results")
    table.add_argument("--rounds", action="store_true", help="one row per round instead of the medians")
    prof = sub.add_parser("profile")
    prof.add_argument("log")
    prof.add_argument("--top", type=int, default=15)
    prof.add_argument("--by-role", action="store_true", help="time per role instead of the slowest tasks")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "record":
            return cmd_record(args)
        if args.cmd == "table":
            rows = load_results(args.results)
            print(render_rounds(rows) if args.rounds else render_table(rows))
        else:
            with open(args.log, errors="replace") as f:
                tasks = parse_profile(f.read())
            print(render_roles(tasks) if args.by_role else render_profile(tasks, args.top))
    except (OSError, SummaryError) as exc:
        print(f"bench_summary: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
