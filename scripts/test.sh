#!/usr/bin/env bash
# The whole test suite (what CI runs): installs everything first, runs every suite even when one fails,
# and ends with one line "suites: N passed, N failed". Run as root on Debian 12.
# Select suites with AIINFRA_SUITES="unit render lint sanity molecule" (default: all).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
scripts/setup.sh || { echo "setup failed"; echo "suites: 0 passed, 1 failed"; exit 1; }
# shellcheck disable=SC1091
. .venv/bin/activate
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 NO_COLOR=1 LC_ALL=C.UTF-8

# A copy of this collection left in ~/.ansible/collections by older tooling would shadow the checkout.
rm -rf "${HOME}/.ansible/collections/ansible_collections/aiinfra/cluster"

suites=${AIINFRA_SUITES:-unit render lint sanity molecule}
passed=0 failed=0 failures=""
run_suite() {
  local name=$1; shift
  local start=$SECONDS
  echo "=== suite $name: $*"
  if "$@"; then
    passed=$((passed + 1)); echo "=== suite $name passed in $((SECONDS - start))s"
  else
    failed=$((failed + 1)); failures="$failures $name"; echo "=== suite $name FAILED in $((SECONDS - start))s"
  fi
}

for suite in $suites; do
  case $suite in
    unit) run_suite unit python -m pytest -q -p no:cacheprovider tests/unit tests/integration ;;
    render)
      run_suite syntax ansible-playbook --syntax-check -i inventories/lab site.yml playbooks/render.yml playbooks/backup.yml playbooks/restore.yml playbooks/dr_drill.yml playbooks/upgrade.yml playbooks/reset.yml playbooks/add_node.yml
      run_suite render scripts/render.sh inventories/lab render ;;
    lint) run_suite ansible-lint ansible-lint --nocolor ;;
    sanity)
      run_suite sanity scripts/sanity.sh
      run_suite sanity-py3.11 env AIINFRA_SANITY_PYTHON=3.11 scripts/sanity.sh --test compile --test import ;;
    molecule) run_suite molecule molecule test --all ;;
    *) echo "unknown suite $suite"; failed=$((failed + 1)) ;;
  esac
done

[ -z "$failures" ] || echo "failed suites:$failures"
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
