#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 (or newer) machine (run as root):
# Debian packages for the test bed and live tests, a venv of the distribution's own Python (3.11 or newer;
# AIINFRA_PYTHON picks another) with the pinned tools (.venv), and the link that makes this checkout the
# aiinfra.cluster collection (.collections/).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ "${AIINFRA_SKIP_APT:-0}" != 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends \
    python3 python3-venv git \
    podman runc netavark aardvark-dns iptables debootstrap openssh-client rsync gpg gpg-agent \
    containerd skopeo docker-registry busybox-static \
    etcd-server etcd-client haproxy keepalived wireguard-tools wireguard-go \
    prometheus prometheus-alertmanager iproute2 iputils-ping curl shellcheck bc \
    chromium-headless-shell fonts-dejavu-core dpkg-dev gcc libc6-dev >/dev/null
fi

# ansible-core 2.19 (requirements.txt) runs on Python 3.11 to 3.13: Debian 12's own python3 is 3.11.
py=${AIINFRA_PYTHON:-/usr/bin/python3}
if ! "$py" -c 'import sys, venv, ensurepip; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' >/dev/null 2>&1; then
  echo "setup: $py is not a Python 3.11-3.13 with venv/ensurepip (Debian: apt-get install python3-venv;" \
       "or set AIINFRA_PYTHON to one)" >&2
  exit 1
fi
want="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
have="$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)"
if [ ! -x .venv/bin/ansible-playbook ] || [ "$want" != "$have" ] || ! cmp -s requirements.txt .venv/.requirements.txt; then
  rm -rf .venv
  "$py" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements.txt
  cp requirements.txt .venv/.requirements.txt
fi

# Kubernetes v1.20.2 for the live API-server tier (tests/integration/test_kube_api_*.py: kube-apiserver) and the
# kubelet tier (test_kubelet_nodes_live.py: also kubelet, kube-controller-manager, kube-scheduler), built once from
# Debian's source package and cached under ~/.cache/aiinfra/kubernetes; a later run finds them in a second.
# AIINFRA_SKIP_KUBE_BUILD=1 skips it (the fresh-Debian check, which runs the unit suite only).
if [ "${AIINFRA_SKIP_KUBE_BUILD:-0}" != 1 ]; then
  scripts/build_kubernetes.sh --node >/dev/null
  # the kubelet tier's packages: kubeadm and kubectl, and the same source labelled v1.20.1 (the "old" release
  # upgrade.yml upgrades from); relabelled builds only relink (about 35 s)
  scripts/build_kubernetes.sh --components "kubeadm kubectl" >/dev/null
  scripts/build_kubernetes.sh --version-label v1.20.1 --components "kubelet kubeadm kubectl" >/dev/null
fi

mkdir -p .collections/ansible_collections/aiinfra
ln -sfn "$root" .collections/ansible_collections/aiinfra/cluster
echo "setup: ready. Activate with: source .venv/bin/activate" >&2
