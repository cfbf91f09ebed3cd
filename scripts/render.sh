#!/usr/bin/env bash
# Render every manifest and Helm values file for an inventory, then validate them against its
# Kubernetes version. Usage: scripts/render.sh [INVENTORY] [DIR]   (defaults: inventories/lab, render/)
set -euo pipefail
cd "$(dirname "$0")/.."
inventory=${1:-inventories/lab}
dir=$(realpath -m "${2:-render}")
rm -rf "$dir"
ansible-playbook playbooks/render.yml -i "$inventory" -e "render_dir=$dir"
python3 scripts/validate_manifests.py "$dir"
