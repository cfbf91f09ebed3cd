import importlib.util
import json
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
spec = importlib.util.spec_from_file_location("bench_summary", os.path.join(ROOT, "scripts", "bench_summary.py"))
bs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bs)

# Captured from `scripts/bench.sh --smoke` (1 node, idempotent re-run of site.yml, profile_tasks on), cut short;
# the blanks that end the recap and timestamp lines are removed here (the test below puts some back).
ONE_NODE_RERUN = """\
TASK [aiinfra.cluster.report : Write the report (Markdown, HTML and the recorded verification results)] ***
Tuesday 01 December 2026  09:48:25 +0000 (0:00:00.179)       0:00:15.687 ******
ok: [node1 -> localhost] => (item=md)
ok: [node1 -> localhost] => (item=html)
ok: [node1 -> localhost] => (item=json)

PLAY RECAP *********************************************************************
node1                      : ok=36   changed=0    unreachable=0    failed=0    skipped=227  rescued=0    ignored=0


TASKS RECAP ********************************************************************
Tuesday 01 December 2026  09:48:26 +0000 (0:00:01.006)       0:00:16.694 ******
===============================================================================
aiinfra.cluster.node_baseline : Set the sysctls (persisted in one file; runtime value set where this node owns it) --- 1.19s
aiinfra.cluster.report : Write the report (Markdown, HTML and the recorded verification results) --- 1.01s
aiinfra.cluster.node_baseline : Write each registry's hosts.toml (read on every pull, no restart) --- 0.83s
Gathering Facts --------------------------------------------------------- 0.80s
aiinfra.cluster.node_baseline : Install the base packages --------------- 0.78s
aiinfra.cluster.preflight : Validate what the inventory alone says (on the controller, from hostvars) --- 0.46s
{validating}
aiinfra.cluster.preflight : Describe this host for the host checks ------ 0.06s
aiinfra.cluster.kubeadm : Restart the API server after an encryption key change --- 0.00s
""".format(validating="aiinfra.cluster.report : Validating arguments against arg spec 'main' - Write the post-deploy "
           "report (Markdown and HTML) on the controller: endpoints, NodePorts, credential files, this run's "
           "verification results. --- 0.08s")

# Captured from a 3-node first converge (bench.sh, N=3): the recap only (line-end blanks removed).
THREE_NODE_RECAP = """\
PLAY RECAP *********************************************************************
node1                      : ok=37   changed=13   unreachable=0    failed=0    skipped=227  rescued=0    ignored=0
node2                      : ok=27   changed=11   unreachable=0    failed=0    skipped=57   rescued=0    ignored=0
node3                      : ok=27   changed=11   unreachable=0    failed=0    skipped=51   rescued=0    ignored=0

"""


def test_recap_of_one_node():
    # As ansible-playbook prints it: the recap and timestamp lines end in blanks.
    text = ONE_NODE_RERUN.replace("ignored=0\n", "ignored=0   \n").replace("******\n", "****** \n")
    assert "ignored=0   \n" in text
    hosts = bs.parse_recap(text)
    assert list(hosts) == ["node1"]
    assert hosts["node1"]["ok"] == 36
    assert hosts["node1"]["changed"] == 0
    assert hosts["node1"]["skipped"] == 227


def test_recap_summed_over_nodes():
    totals = bs.recap_totals(bs.parse_recap(THREE_NODE_RECAP))
    assert totals["ok"] == 37 + 27 + 27
    assert totals["changed"] == 13 + 11 + 11
    assert totals["skipped"] == 227 + 57 + 51
    assert totals["failed"] == 0 and totals["unreachable"] == 0


def test_the_last_recap_counts():
    # Two runs' output in one log (e.g. appended): the later one is the result.
    text = THREE_NODE_RECAP + "TASK [x] ***\nok: [node1]\n\n" + ONE_NODE_RERUN
    assert list(bs.parse_recap(text)) == ["node1"]


def test_failed_and_unreachable_hosts_are_read():
    text = ("PLAY RECAP *****\n"
            "node1 : ok=3 changed=1 unreachable=0 failed=1 skipped=0 rescued=0 ignored=0\n"
            "node2 : ok=0 changed=0 unreachable=1 failed=0 skipped=0 rescued=0 ignored=0\n")
    totals = bs.recap_totals(bs.parse_recap(text))
    assert (totals["failed"], totals["unreachable"], totals["ok"]) == (1, 1, 3)


@pytest.mark.parametrize("text", ["", "TASK [x] ***\nfatal: [node1]: UNREACHABLE!\n", "PLAY RECAP ****\n\n"])
def test_no_recap_is_an_error(text):
    with pytest.raises(bs.SummaryError):
        bs.parse_recap(text)


def test_profile_summary_parsed_with_long_names_and_dashes_inside():
    tasks = bs.parse_profile(ONE_NODE_RERUN)
    assert len(tasks) == 9
    assert tasks[0] == ("aiinfra.cluster.node_baseline : Set the sysctls (persisted in one file; runtime value set "
                        "where this node owns it)", 1.19)
    assert ("Gathering Facts", 0.80) in tasks
    # A name holding " - " keeps it; only the padding and the time are cut off.
    validating = [name for name, _s in tasks if "Validating" in name][0]
    assert validating.endswith("this run's verification results.")
    assert " - Write the post-deploy report" in validating
    assert tasks[-1] == ("aiinfra.cluster.kubeadm : Restart the API server after an encryption key change", 0.0)


def test_profile_needs_the_summary():
    with pytest.raises(bs.SummaryError, match="profile_tasks"):
        bs.parse_profile(THREE_NODE_RECAP)


def test_profile_table_ranks_and_shares():
    table = bs.render_profile(bs.parse_profile(ONE_NODE_RERUN), top=3).splitlines()
    assert len(table) == 2 + 3 + 1
    assert table[2].startswith("| 1 | aiinfra.cluster.node_baseline : Set the sysctls")
    assert "| 1.19 | 23% |" in table[2]  # 1.19 of 5.21 s
    assert table[-1] == "| | all 9 tasks | 5.21 | 100% |"


def test_time_per_role():
    assert bs.role_of("aiinfra.cluster.node_baseline : Install the base packages") == "node_baseline"
    assert bs.role_of("Gathering Facts") == "(play)"
    table = bs.render_roles(bs.parse_profile(ONE_NODE_RERUN)).splitlines()
    assert table[2] == "| node_baseline | 3 | 2.80 | 54% |"
    assert "| report | 2 | 1.09 | 21% |" in table
    assert "| (play) | 1 | 0.80 | 15% |" in table


def rows(nodes, run, seconds, ok=10, changed=0, skipped=5, forks=5):
    return [{"nodes": nodes, "round": i + 1, "run": run, "seconds": s, "forks": forks, "load1": 0.5,
             "ok": ok, "changed": changed, "skipped": skipped} for i, s in enumerate(seconds)]


def test_table_medians_spread_and_ratios():
    data = (rows(3, "converge", [40.0, 44.0, 50.0], changed=39) + rows(3, "rerun", [30.0, 26.0, 28.0])
            + rows(3, "check", [25.0, 25.0, 27.0]) + rows(20, "converge", [200.0], forks=20)
            + rows(20, "rerun", [84.0], forks=20))
    table = bs.render_table(data).splitlines()
    assert table[0].startswith("| nodes | forks | rounds | run |")
    assert table[1] == "|" + "---|" * 11
    conv3, rerun3, check3, conv20, rerun20 = table[2:]
    assert conv3.startswith("| 3 | 5 | 3 | first converge | 44.0 (40.0-50.0) | 10 | 39 | 5 |")
    assert "| 28.0 (26.0-30.0) |" in rerun3 and "| 64% | 1.00x |" in rerun3  # 28 / 44
    assert "| --check | 25.0 (25.0-27.0) |" in check3
    assert conv20.startswith("| 20 | 20 | 1 | first converge | 200.0 |")
    assert "| 42% | 3.00x |" in rerun20  # 84 / 200; 84 / 28


def test_table_without_three_nodes_leaves_that_ratio_empty():
    table = bs.render_table(rows(1, "converge", [20.0]) + rows(1, "rerun", [10.0], skipped=227)).splitlines()
    assert table[3].endswith("| 50% |  | 0.50 |")


def test_one_row_per_round_with_its_load():
    data = rows(3, "converge", [99.2, 279.0]) + rows(3, "rerun", [44.0, 238.5]) + rows(1, "rerun", [19.2])
    data[1]["load1"] = 9.77
    table = bs.render_rounds(data).splitlines()
    assert table[0] == "| nodes | round | first converge s (load) | idempotent re-run s (load) | --check s (load) |"
    assert table[2:] == ["| 1 | 1 |  | 19.2 (0.5) |  |",
                         "| 3 | 1 | 99.2 (0.5) | 44.0 (0.5) |  |",
                         "| 3 | 2 | 279.0 (9.8) | 238.5 (0.5) |  |"]


def test_counts_that_differ_between_rounds_show_the_range():
    data = rows(3, "rerun", [1.0], ok=98) + rows(3, "rerun", [1.0], ok=99)
    assert "| 98-99 |" in bs.render_table(data)


def write_log(tmp_path, text):
    log = tmp_path / "run.log"
    log.write_text(text)
    return str(log)


def test_record_appends_a_json_line(tmp_path, capsys):
    results = tmp_path / "r.jsonl"
    args = ["record", "--results", str(results), "--nodes", "3", "--round", "2", "--run", "converge",
            "--seconds", "44.25", "--forks", "5", "--load1", "1.5", "--log", write_log(tmp_path, THREE_NODE_RECAP)]
    assert bs.main(args) == 0
    assert bs.main(args) == 0
    lines = results.read_text().splitlines()
    assert len(lines) == 2
    row = json.loads(lines[0])
    assert row == {"nodes": 3, "round": 2, "run": "converge", "seconds": 44.25, "forks": 5, "load1": 1.5,
                   "ok": 91, "changed": 35, "unreachable": 0, "failed": 0, "skipped": 335, "rescued": 0,
                   "ignored": 0}
    assert "converge: 44.2s ok=91 changed=35" in capsys.readouterr().out


def test_record_fails_a_rerun_that_changed_something(tmp_path, capsys):
    results = tmp_path / "r.jsonl"
    args = ["record", "--results", str(results), "--nodes", "3", "--round", "1", "--run", "rerun",
            "--seconds", "30", "--forks", "5", "--log", write_log(tmp_path, THREE_NODE_RECAP)]
    assert bs.main(args + ["--fail-on-changed"]) == 3
    assert "changed=35 (must be 0)" in capsys.readouterr().err
    # Recorded all the same, so the table shows the run that failed the check.
    assert len(results.read_text().splitlines()) == 1
    assert bs.main(args) == 0


def test_record_fails_on_failed_hosts(tmp_path, capsys):
    log = write_log(tmp_path, "PLAY RECAP ***\nnode1 : ok=1 changed=0 unreachable=0 failed=2 skipped=0\n")
    assert bs.main(["record", "--results", str(tmp_path / "r.jsonl"), "--nodes", "1", "--round", "1",
                    "--run", "check", "--seconds", "3", "--forks", "5", "--log", log]) == 2
    assert "failed=2" in capsys.readouterr().err


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert bs.main(["profile", write_log(tmp_path, "no summary here\n")]) == 1
    assert bs.main(["table", str(tmp_path / "missing.jsonl")]) == 1
    (tmp_path / "bad.jsonl").write_text('{"nodes": 1}\nnot json\n')
    assert bs.main(["table", str(tmp_path / "bad.jsonl")]) == 1
    err = capsys.readouterr().err
    assert err.count("bench_summary: error:") == 3 and "bad.jsonl:2" in err and "Traceback" not in err


@pytest.mark.parametrize("argv, message", [
    (["--nodes", "1 x"], "'x' is not a positive whole number"),
    (["--rounds", "0"], "'0' is not a positive whole number"),
    (["--bogus"], "unknown argument --bogus"),
])
def test_bench_refuses_bad_arguments_before_touching_the_test_bed(argv, message, tmp_path):
    env = dict(os.environ, BENCH_WORKDIR=str(tmp_path / "work"))
    proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "bench.sh")] + argv, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert not (tmp_path / "work").exists()


def test_bench_subnet_must_be_a_slash_24(tmp_path):
    env = dict(os.environ, BENCH_WORKDIR=str(tmp_path / "work"), BENCH_SUBNET="198.18.14.0/23")
    proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "bench.sh"), "--smoke"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert "must be a /24" in proc.stderr
