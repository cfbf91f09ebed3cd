#!/usr/bin/env bash
# ansible-test sanity for the collection, from a copy of the tracked files laid out as
# ansible_collections/aiinfra/cluster (ansible-test needs that path). Usage: scripts/sanity.sh [ansible-test args]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# ansible-test downloads a get-pip script from a host that is unreachable here: put our stand-in in its cache.
at_dir=$(python -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')
pip_version=$(grep -oP "^\s+pip='\K[0-9.]+" "$at_dir/_internal/python_requirements.py" | head -1)
[ -n "$pip_version" ] || { echo "sanity: cannot find the pip version ansible-test bootstraps" >&2; exit 1; }
mkdir -p ~/.ansible/test/cache
install -m 0644 tests/sanity/get_pip.py ~/.ansible/test/cache/"get_pip_${pip_version//./_}.py"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/aiinfra/cluster"
mkdir -p "$dest"
git ls-files -z --cached --others --exclude-standard | (cd "$root" && xargs -0 cp --parents -t "$dest")
cd "$dest"
git init -q && git add -A >/dev/null  # ansible-test lists the files to check from git
ansible-test sanity --venv --python "${AIINFRA_SANITY_PYTHON:-3.12}" "$@"
