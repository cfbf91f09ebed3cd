#!/usr/bin/env bash
# Try the platform locally: installs everything, starts 3 test-bed nodes (Debian 12 + systemd, over ssh)
# unless they are up already, and runs site.yml against them. Extra arguments go to ansible-playbook
# (e.g. --check --diff, --tags baseline). Remove the nodes with: python3 scripts/testbed.py down --name lab
set -euo pipefail
cd "$(dirname "$0")/.."
# The kube-apiserver build only serves the test suite (scripts/test.sh builds it).
AIINFRA_SKIP_KUBE_BUILD=1 scripts/setup.sh
# shellcheck disable=SC1091
. .venv/bin/activate
if [ ! -f inventories/testbed/hosts.yml ]; then
  python3 scripts/testbed.py up --name lab --nodes 3 --subnet 198.18.0.0/24 \
    --groups 'k8s_control_plane=node1;k8s_workers=node2,node3' --inventory inventories/testbed/hosts.yml
fi
ansible-playbook site.yml -i inventories/testbed "$@"
