#!/usr/bin/env bash
# Benchmark site.yml on fresh test-bed nodes (scripts/testbed.py): for each node count N, ROUNDS times on new
# nodes: the first converge, the idempotent re-run (must report changed=0) and a --check run. Prints a markdown
# table (median with min-max of the wall times, task results per run, re-run/converge and N-node/3-node re-run
# ratios) and the slowest tasks of the reference re-run (profile_tasks). Works from any checkout of the collection.
#
#   scripts/bench.sh                          # N = 1 3 10 20, 3 rounds each
#   scripts/bench.sh --nodes "1 3" --rounds 3 --output /tmp/bench.md
#   scripts/bench.sh --append --nodes 20 --rounds 1   # add rows to the previous invocation's table
#   scripts/bench.sh --smoke                  # CI: N=1, one round (it must work, not be fast)
#
# Options (environment in brackets): --nodes LIST [NODES], --rounds R [ROUNDS], --forks F [BENCH_FORKS; default
# max(5, N): one fork per node so that no node waits for a free fork], --output FILE [BENCH_OUTPUT], --append
# (keep the earlier results), --keep (leave the last test bed up), --no-check (skip the --check run),
# --profile-nodes N [BENCH_PROFILE_NODES, default 3: whose re-run is profiled]; BENCH_LABEL names the code measured
# (default: the checkout's commit).
# The test bed is named BENCH_NAME (bench) on BENCH_SUBNET (198.18.14.0/24, a /24 of its own), state and logs in
# BENCH_WORKDIR (~/.cache/aiinfra-bench). The inventory variables are the test bed's own
# (inventories/testbed/group_vars), moved to the bench subnet. More than 15 nodes need
# fs.inotify.max_user_instances >= 1024 on the host (see TESTBED notes); BENCH_RAISE_INOTIFY=1 raises it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ -f .venv/bin/activate ]; then
  # shellcheck disable=SC1091
  . .venv/bin/activate
fi

nodes_list=${NODES:-"1 3 10 20"}
rounds=${ROUNDS:-3}
forks_override=${BENCH_FORKS:-}
output=${BENCH_OUTPUT:-}
profile_nodes=${BENCH_PROFILE_NODES:-3}
name=${BENCH_NAME:-bench}
subnet=${BENCH_SUBNET:-198.18.14.0/24}
work=${BENCH_WORKDIR:-$HOME/.cache/aiinfra-bench}
append=0 keep=0 check=1
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --smoke) nodes_list=1 rounds=1 profile_nodes=1 ;;
    --nodes) nodes_list=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --forks) forks_override=$2; shift ;;
    --output) output=$2; shift ;;
    --profile-nodes) profile_nodes=$2; shift ;;
    --append) append=1 ;;
    --keep) keep=1 ;;
    --no-check) check=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
for n in $nodes_list $rounds ${forks_override:-1}; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "bench: '$n' is not a positive whole number" >&2; exit 2; }
done
prefix=$(python3 -c 'import ipaddress, sys
n = ipaddress.ip_network(sys.argv[1])
sys.exit(n.prefixlen != 24 or not ipaddress.ip_network("198.18.0.0/15").supernet_of(n)
         or print(str(n.network_address).rsplit(".", 1)[0]))' "$subnet" 2>/dev/null) \
  || { echo "bench: BENCH_SUBNET must be a /24 inside 198.18.0.0/15, not $subnet" >&2; exit 2; }

max_nodes=$(tr -s " " "\n" <<<"$nodes_list" | sort -n | tail -1)
if [ "$max_nodes" -gt 15 ]; then
  inotify=$(sysctl -n fs.inotify.max_user_instances)
  if [ "$inotify" -lt 1024 ]; then
    if [ "${BENCH_RAISE_INOTIFY:-0}" = 1 ]; then
      echo "bench: raising fs.inotify.max_user_instances from $inotify to 1024 for $max_nodes nodes" >&2
      sysctl -qw fs.inotify.max_user_instances=1024
    else
      echo "bench: $max_nodes nodes need fs.inotify.max_user_instances >= 1024 (now $inotify): run" \
        "'sysctl -w fs.inotify.max_user_instances=1024' or set BENCH_RAISE_INOTIFY=1" >&2
      exit 2
    fi
  fi
fi

mkdir -p "$work/logs"
chmod 700 "$work"
results=$work/results.jsonl
if [ "$append" != 1 ]; then : >"$results"; rm -f "$work"/logs/*.log; fi
inv=$work/inventory
# The collection under test is this checkout, whatever .collections/ says (ansible.cfg's path is relative).
mkdir -p "$work/collections/ansible_collections/aiinfra"
ln -sfn "$root" "$work/collections/ansible_collections/aiinfra/cluster"
export ANSIBLE_COLLECTIONS_PATH=$work/collections
export ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks PROFILE_TASKS_TASK_OUTPUT_LIMIT=all
export ANSIBLE_NOCOLOR=1

testbed() { python3 scripts/testbed.py "$@"; }
down() { testbed down --name "$name" >/dev/null 2>&1 || true; }
[ "$keep" = 1 ] || trap down EXIT
trap 'exit 130' INT TERM  # the EXIT trap removes the test bed on Ctrl-C and kill too

say() { echo "bench: $*" >&2; }
machine="$(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB, kernel $(uname -r)"
commit=${BENCH_LABEL:-$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo 'not a git checkout')}
say "machine: $machine, load $(cut -d' ' -f1-3 /proc/loadavg)"
say "checkout $root ($commit), nodes: $nodes_list, rounds: $rounds"

bring_up() {  # N: fresh nodes, node1 the control plane, the rest workers
  local n=$1 groups='k8s_control_plane=node1'
  [ "$n" -gt 1 ] && groups="$groups;k8s_workers=$(seq -s, -f 'node%g' 2 "$n")"
  down
  rm -rf "$inv"
  mkdir -p "$inv"
  # The test bed's own inventory variables, with its addresses moved to the bench subnet.
  cp -r inventories/testbed/group_vars "$inv/"
  find "$inv/group_vars" -type f -exec sed -i "s/198\.18\.0\./$prefix./g" {} +
  testbed up --name "$name" --nodes "$n" --subnet "$subnet" --groups "$groups" --inventory "$inv/hosts.yml" \
    >/dev/null 2>"$work/logs/testbed-up.log" || { cat "$work/logs/testbed-up.log" >&2; exit 1; }
}

play() {  # N ROUND RUN FORKS [ansible-playbook args]: time one site.yml run and record its recap
  local n=$1 round=$2 run=$3 forks=$4 log start end load rc=0
  shift 4
  log=$work/logs/n$n-r$round-$run.log
  load=$(cut -d' ' -f1 /proc/loadavg)
  start=$(date +%s.%N)
  ansible-playbook site.yml -i "$inv" --forks "$forks" "$@" >"$log" 2>&1 || rc=$?
  end=$(date +%s.%N)
  if [ "$rc" != 0 ]; then
    say "N=$n round $round: the $run failed (rc=$rc); last lines of $log:"
    tail -n 30 "$log" >&2
    exit 1
  fi
  local flags=()
  [ "$run" = rerun ] && flags=(--fail-on-changed)
  printf '%s' "bench: N=$n round $round " >&2
  python3 scripts/bench_summary.py record --results "$results" --nodes "$n" --round "$round" --run "$run" \
    --seconds "$(echo "$end - $start" | bc)" --forks "$forks" --load1 "$load" --log "$log" "${flags[@]}" >&2
}

for n in $nodes_list; do
  forks=${forks_override:-$(( n > 5 ? n : 5 ))}
  for round in $(seq 1 "$rounds"); do
    bring_up "$n"
    boot=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["boot_seconds"])' \
      "${AIINFRA_TESTBED_DIR:-$HOME/.cache/aiinfra-testbed}/$name/state.json")
    say "N=$n round $round: $n nodes up in ${boot}s, forks $forks"
    play "$n" "$round" converge "$forks"
    play "$n" "$round" rerun "$forks"
    [ "$check" = 0 ] || play "$n" "$round" check "$forks" --check
  done
done
[ "$keep" = 1 ] || down

{
  echo "### site.yml on the test bed ($commit): $machine"
  echo
  python3 scripts/bench_summary.py table "$results"
  echo
  echo "Wall times in seconds (median of the rounds, min-max). \`ok\` counts every task result that ran (Ansible's"
  echo "recap counts changed results in ok too); counts are sums over the nodes. Re-run / 3-node re-run uses medians."
  echo
  echo "Each round (wall s, with the 1-minute load average at the start of the run):"
  echo
  python3 scripts/bench_summary.py table --rounds "$results"
  profile_log=$work/logs/n$profile_nodes-r1-rerun.log
  if [ -f "$profile_log" ]; then
    echo
    echo "### Slowest tasks of the $profile_nodes-node idempotent re-run (profile_tasks, round 1)"
    echo
    python3 scripts/bench_summary.py profile "$profile_log" --top 15
    echo
    echo "Time per role in the same run (the skipped tasks of switched-off layers included):"
    echo
    python3 scripts/bench_summary.py profile "$profile_log" --by-role
  fi
} | if [ -n "$output" ]; then tee "$output"; else cat; fi
