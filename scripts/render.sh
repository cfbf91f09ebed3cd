#!/usr/bin/env bash
# Render every manifest and Helm values file for an inventory, render every Helm release from the real upstream chart
# (scripts/render_charts.py: the chart archives in $AIINFRA_CHARTS_DIR, default ../shared/charts next to this
# repository), then validate everything against the inventory's Kubernetes version and the charts' CRDs.
# Usage: scripts/render.sh [INVENTORY] [DIR]   (defaults: inventories/lab, render/)
set -euo pipefail
cd "$(dirname "$0")/.."
inventory=${1:-inventories/lab}
dir=$(realpath -m "${2:-render}")
rm -rf "$dir"
ansible-playbook playbooks/render.yml -i "$inventory" -e "render_dir=$dir"
status=0
python3 scripts/render_charts.py "$dir" || status=1
python3 scripts/validate_manifests.py "$dir" || status=1
exit "$status"
