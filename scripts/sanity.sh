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

# The copy lives in a cache directory that is refreshed, not recreated: ansible-test keeps the virtual environment
# it bootstraps (pip and its own requirements) in the copy's tests/output, so later runs reuse it instead of
# installing it again. One run at a time uses the copy (flock).
work=${AIINFRA_SANITY_WORK:-${XDG_CACHE_HOME:-$HOME/.cache}/aiinfra/sanity}
dest="$work/ansible_collections/aiinfra/cluster"
mkdir -p "$dest/tests"
exec 9>"$work/.lock"
flock 9
find "$dest" -mindepth 1 -maxdepth 1 ! -name tests ! -name .git -exec rm -rf {} +
find "$dest/tests" -mindepth 1 -maxdepth 1 ! -name output -exec rm -rf {} +
# Files removed from the work tree but still in the index (a move not yet committed) are left out.
git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
  | (cd "$root" && xargs -0 cp --parents -t "$dest")
cd "$dest"
[ -d .git ] || git init -q
git add -A >/dev/null  # ansible-test lists the files to check from git
ansible-test sanity --venv --python "${AIINFRA_SANITY_PYTHON:-$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')}" "$@"
