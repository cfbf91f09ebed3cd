#!/usr/bin/env bash
# The whole test suite (what CI runs): installs everything first, runs every suite even when one fails,
# and ends with one line "suites: N passed, N failed". Run as root on Debian 12.
# Select suites with AIINFRA_SUITES="unit render lint sanity molecule bench fresh" (default: all).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
scripts/setup.sh || { echo "setup failed"; echo "suites: 0 passed, 1 failed"; exit 1; }
# shellcheck disable=SC1091
. .venv/bin/activate
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 NO_COLOR=1 LC_ALL=C.UTF-8
# setup.sh built kube-apiserver: the live API-server tier must run, never skip.
export AIINFRA_REQUIRE_KUBE_API=1

# A copy of this collection left in ~/.ansible/collections by older tooling would shadow the checkout.
rm -rf "${HOME}/.ansible/collections/ansible_collections/aiinfra/cluster"

suites=${AIINFRA_SUITES:-unit render lint sanity molecule bench fresh}
passed=0 failed=0 failures=""
# Each suite's output is also kept in a log, so the end of the run can repeat what a failed suite printed last
# (CI shows only the tail of the whole output).
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
run_suite() {
  local name=$1; shift
  local start=$SECONDS rc
  echo "=== suite $name: $*"
  # a process substitution, not a pipe: a daemon a suite leaves running cannot hold the run open
  "$@" > >(tee "$logs/$name.log") 2>&1
  rc=$?
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1)); echo "=== suite $name passed in $((SECONDS - start))s"
  else
    failed=$((failed + 1)); failures="$failures $name"; echo "=== suite $name FAILED (rc $rc) in $((SECONDS - start))s"
  fi
}

for suite in $suites; do
  case $suite in
    unit) run_suite unit python -m pytest -q -p no:cacheprovider -rfE tests/unit tests/integration ;;
    render)
      run_suite syntax ansible-playbook --syntax-check -i inventories/lab site.yml playbooks/render.yml playbooks/backup.yml playbooks/restore.yml playbooks/dr_drill.yml playbooks/upgrade.yml playbooks/reset.yml playbooks/add_node.yml
      run_suite render scripts/render.sh inventories/lab render ;;
    lint) run_suite ansible-lint ansible-lint --nocolor ;;
    sanity)
      # Every sanity test on the controller's Python (the venv's), compile and import on the other supported ones.
      run_suite sanity scripts/sanity.sh
      controller=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
      for v in 3.12 3.13; do
        [ "$v" != "$controller" ] || continue
        # a real interpreter (a pyenv shim on PATH need not work), put first on PATH for ansible-test
        real=""
        for cand in "/usr/bin/python$v" "${HOME}/.pyenv/versions/$v".*"/bin/python$v"; do
          if [ -x "$cand" ] && "$cand" -c 'import venv' 2>/dev/null; then real=$cand; break; fi
        done
        [ -z "$real" ] || run_suite "sanity-py$v" env PATH="$VIRTUAL_ENV/bin:$(dirname "$real"):$PATH" AIINFRA_SANITY_PYTHON="$v" \
          scripts/sanity.sh --test compile --test import
      done ;;
    molecule) run_suite molecule molecule test --all ;;
    # The benchmark must work, not be fast: one test-bed node, one round (docs/PERFORMANCE.md).
    bench) run_suite bench-smoke scripts/bench.sh --smoke ;;
    # README's install steps on a fresh Debian 12 node (its own python3 only), then the unit suite there.
    fresh) run_suite fresh-debian python scripts/fresh_debian_check.py ;;
    *) echo "unknown suite $suite"; failed=$((failed + 1)) ;;
  esac
done

for name in $failures; do
  echo "=== the last 60 lines suite $name printed:"
  tail -n 60 "$logs/$name.log"
done
[ -z "$failures" ] || echo "failed suites:$failures"
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
