"""The post-deploy report: every enabled endpoint with URL, NodePort and the credential file (never a password),
the WireGuard verdicts of the run, Markdown and HTML, mode 0600, and unchanged on a second run."""

import json
import os
import re
import shutil
import stat
import subprocess

from ansible_env import BIN, ENV, ROOT, ansible_playbook, needs_collection

pytestmark = needs_collection

PLAY = """
- hosts: k8s_control_plane[0]
  gather_facts: false
  vars:
    ansible_connection: local
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  roles:
    - role: aiinfra.cluster.report
      report_dir: %s
"""
# what cilium_encryption_info returns in node mode (shape of its RETURN), as the verify play registers it
VERIFY = {"cilium_verify_node_result": {"ok": False, "failed_nodes": ["w1"], "nodes": {
    "m1": {"mode": "wireguard", "peers": 4, "stale_handshakes": [], "problems": []},
    "w1": {"mode": "wireguard", "peers": 3, "stale_handshakes": ["Gs...="], "problems": ["3 peers, 4 expected"]}}}}


def run(tmp_path, *extra, inventory="inventories/lab", report_dir=None):
    play = tmp_path / "report.yml"
    play.write_text(PLAY % (report_dir or tmp_path / "report"))
    proc = ansible_playbook("-i", inventory, play, *extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_report(tmp_path):
    vars_file = tmp_path / "verify.json"
    vars_file.write_text(json.dumps(VERIFY))
    run(tmp_path, "-e", "@%s" % vars_file)
    md = (tmp_path / "report" / "report.md").read_text()
    html = (tmp_path / "report" / "report.html").read_text()
    assert "| Kubernetes API | https://192.168.56.10:8443 | - | " in md
    assert re.search(r"\| Grafana \| http://192\.168\.56\.11:30300 \| 30300 \| admin / \S+/credentials/grafana-admin-password \|", md)
    # UIs without a login are not exposed unless the inventory sets their NodePort (issue #16)
    assert "| Hubble UI | kubectl -n kube-system port-forward svc/hubble-ui 12000:80, then http://localhost:12000 | - |" in md
    assert "| Ingress (ingress-nginx) | LoadBalancer address from MetalLB pool(s) lab |" in md
    assert re.search(r"\| vLLM \(OpenAI-compatible API\) \| http://192\.168\.56\.11:30800/v1 \| 30800 \| "
                     r"API key \(Authorization: Bearer\) in \S+/vllm-api-key \|", md)
    assert ("| Longhorn UI | kubectl -n longhorn-system port-forward svc/longhorn-frontend 8000:80, then http://localhost:8000 "
            "| - | none (the UI has no login") in md
    assert re.search(r"\| Harbor \(registry and UI\) \| http://192\.168\.56\.11:30002 \| 30002 \| "
                     r"admin / \S+/credentials/harbor-admin-password; robots: \S+/credentials/harbor-robot-", md)
    assert re.search(r"\| Gitea \| http://192\.168\.56\.11:30310 \| 30310 \| gitea_admin / \S+/gitea-admin-password \|", md)
    assert re.search(r"\| Jenkins \| http://192\.168\.56\.11:30900 \| 30900 \| admin / \S+/jenkins-admin-password \|", md)
    assert re.search(r"\| ArgoCD \| https://192\.168\.56\.11:30444 \| 30444 \| admin / \S+/argocd-admin-password \|", md)
    assert "Layers not enabled in this inventory: Open WebUI (chat; Ollama behind it)." in md  # ollama is off in the lab
    assert "| w1 | wireguard | 3 | 1 | 3 peers, 4 expected |" in md
    assert "| m1 | wireguard | 4 | 0 | none |" in md
    assert "<td>Grafana</td>" in html and "<td>3 peers, 4 expected</td>" in html
    # credential files are named, never their content: the only "password" words are file names and the notice
    assert "password" not in re.sub(r"\S+-admin-password", "", md).lower().replace("passwords are not", "")
    for name in ("report.md", "report.html"):
        assert stat.S_IMODE((tmp_path / "report" / name).stat().st_mode) == 0o600
    second = run(tmp_path, "-e", "@%s" % vars_file)
    assert re.search(r"changed=0", second.split("PLAY RECAP")[1])


def test_runs_that_verify_nothing_keep_the_latest_results(tmp_path):
    """A later run without the verify play (e.g. --tags preflight) neither rewrites the report nor forgets the last
    WireGuard verdicts; a later verify run replaces them."""
    vars_file = tmp_path / "verify.json"
    vars_file.write_text(json.dumps(VERIFY))
    run(tmp_path, "-e", "@%s" % vars_file)
    again = run(tmp_path)
    assert re.search(r"changed=0", again.split("PLAY RECAP")[1])
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| w1 | wireguard | 3 | 1 | 3 peers, 4 expected |" in md
    assert stat.S_IMODE((tmp_path / "report" / "report.json").stat().st_mode) == 0o600
    healed = {"cilium_verify_node_result": {"ok": True, "failed_nodes": [], "nodes": {
        "w1": {"mode": "wireguard", "peers": 4, "stale_handshakes": [], "problems": []}}}}
    vars_file.write_text(json.dumps(healed))
    third = run(tmp_path, "-e", "@%s" % vars_file)
    assert re.search(r"changed=1", third.split("PLAY RECAP")[1])
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| w1 | wireguard | 4 | 0 | none |" in md and "3 peers, 4 expected" not in md


def test_report_in_the_inventory_directory_is_not_parsed_as_inventory(tmp_path):
    """The report and credentials live in the inventory directory by default; ansible.cfg tells the inventory
    loader to skip them, so a later `-i <inventory dir>` run sees exactly the inventory's hosts and no warning."""
    inventory = tmp_path / "lab"
    shutil.copytree(os.path.join(ROOT, "inventories", "lab"), inventory,
                    ignore=shutil.ignore_patterns("credentials", "report", "backups"))
    run(tmp_path, inventory=str(inventory), report_dir=str(inventory / "report"))
    (inventory / "credentials").mkdir()
    (inventory / "credentials" / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
    assert (inventory / "report" / "report.html").exists()
    proc = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", str(inventory), "--list"], cwd=ROOT,
                          env=ENV, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr.upper(), proc.stderr
    hosts = set(json.loads(proc.stdout)["_meta"]["hostvars"])
    assert hosts == {"m1", "m2", "m3", "w1", "g1"}


def test_a_report_file_edited_deleted_or_opened_up_by_hand_is_rewritten(tmp_path):
    """An unchanged report is read, not rewritten (issue 18), but every file is still compared with what the run
    renders: --check --diff names the files it would rewrite and touches nothing, the run restores them (content
    and mode 0600, directory 0700), and the run after that changes nothing."""
    vars_file = tmp_path / "verify.json"
    vars_file.write_text(json.dumps(VERIFY))
    run(tmp_path, "-e", "@%s" % vars_file)
    report = tmp_path / "report"
    written = {name: (report / name).read_text() for name in ("report.md", "report.html", "report.json")}
    (report / "report.md").write_text(written["report.md"].replace("| m1 | wireguard | 4 |", "| m1 | none | 4 |"))
    (report / "report.html").unlink()
    (report / "report.json").chmod(0o644)
    report.chmod(0o755)

    check = run(tmp_path, "-e", "@%s" % vars_file, "--check", "--diff")
    assert re.search(r"changed=2", check.split("PLAY RECAP")[1])  # the directory, and the task writing the files
    assert "-| m1 | none | 4 |" in check and "+| m1 | wireguard | 4 |" in check
    assert "+++ after: %s" % (report / "report.html") in check
    assert "(item=report.md)" in check and "(item=report.json)" in check
    assert "| m1 | none | 4 |" in (report / "report.md").read_text() and not (report / "report.html").exists()
    assert stat.S_IMODE((report / "report.json").stat().st_mode) == 0o644

    fixed = run(tmp_path, "-e", "@%s" % vars_file)
    assert re.search(r"changed=2", fixed.split("PLAY RECAP")[1])
    assert {name: (report / name).read_text() for name in written} == written
    assert stat.S_IMODE(report.stat().st_mode) == 0o700
    for name in written:
        assert stat.S_IMODE((report / name).stat().st_mode) == 0o600

    again = run(tmp_path, "-e", "@%s" % vars_file)
    assert re.search(r"changed=0", again.split("PLAY RECAP")[1])
