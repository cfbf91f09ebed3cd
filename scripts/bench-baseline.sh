#!/usr/bin/env bash
# Measure, ROUNDS times (default 3) on fresh test-bed nodes: test-bed boot, site.yml converge, and the
# idempotent re-run (which must report changed=0). Prints one line per round and the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. .venv/bin/activate
rounds=${ROUNDS:-3} nodes=${NODES:-3}
inv=inventories/testbed/hosts.yml
declare -a boot conv idem
for i in $(seq 1 "$rounds"); do
  python3 scripts/testbed.py down --name lab >/dev/null 2>&1 || true
  python3 scripts/testbed.py up --name lab --nodes "$nodes" --groups 'k8s_control_plane=node1;k8s_workers=node2,node3' \
    --inventory "$inv" >/dev/null
  boot[i]=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["boot_seconds"])' ~/.cache/aiinfra-testbed/lab/state.json)
  s=$(date +%s.%N); ansible-playbook site.yml -i inventories/testbed >/tmp/bench-converge.log; e=$(date +%s.%N)
  conv[i]=$(echo "$e - $s" | bc)
  s=$(date +%s.%N); ansible-playbook site.yml -i inventories/testbed >/tmp/bench-idem.log; e=$(date +%s.%N)
  idem[i]=$(echo "$e - $s" | bc)
  grep -q 'changed=[1-9]' /tmp/bench-idem.log && { echo "round $i: re-run reported changes" >&2; exit 1; }
  printf 'round %d: boot %ss converge %.1fs idempotent re-run %.1fs (changed=0)\n' "$i" "${boot[i]}" "${conv[i]}" "${idem[i]}"
done
python3 scripts/testbed.py down --name lab >/dev/null
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
printf 'median of %d on %d nodes: boot %ss, converge %.1fs, idempotent re-run %.1fs\n' "$rounds" "$nodes" \
  "$(median "${boot[@]}")" "$(median "${conv[@]}")" "$(median "${idem[@]}")"
