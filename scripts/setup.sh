#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine (run as root):
# Debian packages for the test bed and live tests, a Python 3.12 venv with pinned tools (.venv),
# and the link that makes this checkout the aiinfra.cluster collection (.collections/).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ "${AIINFRA_SKIP_APT:-0}" != 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends \
    podman runc netavark aardvark-dns iptables debootstrap openssh-client rsync \
    containerd skopeo docker-registry busybox-static \
    etcd-server etcd-client haproxy keepalived wireguard-tools wireguard-go \
    prometheus prometheus-alertmanager iproute2 iputils-ping curl shellcheck bc \
    chromium-headless-shell fonts-dejavu-core >/dev/null
fi

py=""
# A pyenv shim can be on PATH without working, so each candidate is run, not just looked up.
for cand in /usr/bin/python3.12 "${HOME}"/.pyenv/versions/3.12.*/bin/python3.12 python3.12; do
  if "$cand" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; then
    py=$(command -v "$cand"); break
  fi
done
[ -n "$py" ] || { echo "setup: Python 3.12 is needed (ansible-core 2.21): install python3.12" >&2; exit 1; }

if [ ! -x .venv/bin/ansible-playbook ] || ! cmp -s requirements.txt .venv/.requirements.txt; then
  "$py" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements.txt
  cp requirements.txt .venv/.requirements.txt
fi

mkdir -p .collections/ansible_collections/aiinfra
ln -sfn "$root" .collections/ansible_collections/aiinfra/cluster
echo "setup: ready. Activate with: source .venv/bin/activate" >&2
