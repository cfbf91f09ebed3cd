#!/usr/bin/env bash
# Build Kubernetes v1.20.2 binaries (kube-apiserver by default) from Debian bookworm's
# source package `kubernetes` with Go 1.15 from Debian bullseye, once, and cache them.
#
#   scripts/build_kubernetes.sh            # build (or reuse) kube-apiserver, print its path
#   scripts/build_kubernetes.sh --node     # also kubelet, kube-controller-manager, kube-scheduler
#   scripts/build_kubernetes.sh --print-dir  # print the cache directory and exit (no build)
#   scripts/build_kubernetes.sh --components "kubeadm kubectl"   # any list of cmd/<name> binaries
#   scripts/build_kubernetes.sh --version-label v1.20.1 --components "kubelet kubeadm kubectl"
#       # the same v1.20.2 source, stamped as v1.20.1 (KUBE_GIT_VERSION), in a cache of its own:
#       # an "old" release for upgrade tests (tests/integration/kube_debs.py packages both)
#   scripts/build_kubernetes.sh --version-label v1.20.1 --print-dir   # that label's directory
#
# Each built binary is checked to report the expected version: `kubectl version --client --short`
# ("Client Version: <v>"), `kubeadm version -o short` ("<v>"), every other one `--version`
# ("Kubernetes <v>").
#
# Why this way (see ../shared/TESTBED.md): Kubernetes release binaries cannot be downloaded on
# the test machines, but Debian's archive carries the full v1.20.2 tree with vendor/. Built with
# bookworm's Go 1.19 the API server segfaults (aeshashbody) once CRDs are applied, so the
# release's own toolchain (Go 1.15, bullseye's golang-1.15-go/-src) is used.
#
# Nothing on the system is changed: apt runs with a private configuration (its own sources,
# lists and archive cache under a temporary directory), the Go .debs are unpacked with
# dpkg-deb -x into the cache, and GOROOT/GOPATH/GOCACHE point into the work directory.
#
# Cache: ${XDG_CACHE_HOME:-$HOME/.cache}/aiinfra/kubernetes/<source version>/
#   bin/<component>      the binaries
#   complete             marker, written only after a successful build: one line per component
#                        "<component> <sha256>"; a component is reused only when it is listed
#                        there and its file still has that checksum
#   build.log            the last build's output
#   version.env          the KUBE_GIT_VERSION_FILE the last build was stamped from
#   label-<vX.Y.Z>/bin, label-<vX.Y.Z>/complete, label-<vX.Y.Z>/build.log
#                        the same for a --version-label build (a label equal to the source's own
#                        version, v1.20.2, is the default build above). Both share src/ and its
#                        Go build cache (src/_output/local/go/cache, where Kubernetes' make puts
#                        GOCACHE), so a relabelled build only relinks: the label is an -ldflags -X
#                        value, which no compiled package depends on. Builds of any label hold
#                        the one lock <source version>/.lock, since they share src/_output.
#
# Environment:
#   AIINFRA_KUBE_SRC_VERSION  source package version (default 1.20.5+really1.20.2-1.1+deb12u1)
#   AIINFRA_DEBIAN_MIRROR     Debian mirror (default http://deb.debian.org/debian)
#   AIINFRA_KUBE_VERSION_LABEL  the version to stamp (like --version-label; the option wins)
#   AIINFRA_KUBE_KEEP_SOURCE  1 keeps the unpacked source tree after the build (default 1, so a
#                             later --node build does not fetch the source again); 0 removes it
set -euo pipefail
export LC_ALL=C

SRC_VERSION="${AIINFRA_KUBE_SRC_VERSION:-1.20.5+really1.20.2-1.1+deb12u1}"
MIRROR="${AIINFRA_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
KEEP_SOURCE="${AIINFRA_KUBE_KEEP_SOURCE:-1}"
# The source's own version; a --version-label build stamps another one.
SRC_GIT_VERSION=v1.20.2
KUBE_GIT_VERSION="${AIINFRA_KUBE_VERSION_LABEL:-$SRC_GIT_VERSION}"
# The commit the v1.20.2 release was tagged at (kubernetes/kubernetes tag v1.20.2).
KUBE_GIT_COMMIT=faecb196815e248d3ecfb03c680a4507229c2a56
GO_VERSION=1.15
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/aiinfra"
# BASE_DIR holds the source tree (shared by every label); CACHE_DIR the binaries of this label.
BASE_DIR="$CACHE_ROOT/kubernetes/$SRC_VERSION"
GO_DIR="$CACHE_ROOT/go-$GO_VERSION"

components=(kube-apiserver)
print_dir=0
while [ $# -gt 0 ]; do
  case "$1" in
    --node) components=(kube-apiserver kubelet kube-controller-manager kube-scheduler) ;;
    --components) shift; read -r -a components <<<"${1:?--components needs a list}" ;;
    --version-label) shift; KUBE_GIT_VERSION="${1:?--version-label needs a version such as v1.20.1}" ;;
    --print-dir) print_dir=1 ;;
    -h|--help) sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "build_kubernetes.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
# The form Kubernetes' hack/lib/version.sh accepts, kept to plain release versions here: the
# label names a cache directory and becomes a Debian package version in kube_debs.py.
if ! [[ "$KUBE_GIT_VERSION" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "build_kubernetes.sh: version label '$KUBE_GIT_VERSION' is not of the form vX.Y.Z" >&2
  exit 2
fi
if [ "$KUBE_GIT_VERSION" = "$SRC_GIT_VERSION" ]; then
  CACHE_DIR="$BASE_DIR"
else
  CACHE_DIR="$BASE_DIR/label-$KUBE_GIT_VERSION"
fi
MARKER="$CACHE_DIR/complete"
if [ "$print_dir" = 1 ]; then echo "$CACHE_DIR"; exit 0; fi
for c in "${components[@]}"; do
  [[ "$c" =~ ^[a-z0-9-]+$ ]] || { echo "build_kubernetes.sh: bad component name '$c'" >&2; exit 2; }
done

log() { echo "build_kubernetes: $*" >&2; }
die() { echo "build_kubernetes: ERROR: $*" >&2; exit 1; }

# A component is cached when the marker lists it with the checksum its binary still has.
is_cached() {
  local name="$1" want have
  [ -f "$MARKER" ] || return 1
  want="$(awk -v n="$name" '$1 == n {print $2}' "$MARKER")"
  [ -n "$want" ] && [ -x "$CACHE_DIR/bin/$name" ] || return 1
  have="$(sha256sum "$CACHE_DIR/bin/$name" | cut -d' ' -f1)"
  [ "$want" = "$have" ]
}

missing=()
for c in "${components[@]}"; do
  is_cached "$c" || missing+=("$c")
done
if [ ${#missing[@]} -eq 0 ]; then
  for c in "${components[@]}"; do echo "$CACHE_DIR/bin/$c"; done
  exit 0
fi

for tool in apt-get dpkg-source dpkg-deb make gcc rsync sha256sum; do
  command -v "$tool" >/dev/null || die "'$tool' is not installed; install it (apt-get install dpkg-dev make gcc rsync) and run again"
done
[ -r "$KEYRING" ] || die "$KEYRING is missing; install debian-archive-keyring"

mkdir -p "$CACHE_DIR/bin"
exec 9>"$BASE_DIR/.lock"
if ! flock -n 9; then
  log "another build holds $BASE_DIR/.lock; waiting for it"
  flock 9
  # The other build may have produced what we need.
  still=()
  for c in "${missing[@]}"; do is_cached "$c" || still+=("$c"); done
  if [ ${#still[@]} -eq 0 ]; then
    for c in "${components[@]}"; do echo "$CACHE_DIR/bin/$c"; done
    exit 0
  fi
  missing=("${still[@]}")
fi

start=$(date +%s)
TMP="$(mktemp -d /tmp/aiinfra-kube-build.XXXXXX)"
trap 'rm -rf "$TMP"' EXIT

# --- private apt configuration ------------------------------------------------------------
# $1: name, $2: sources.list content. Prints the apt options that use only these sources.
apt_private() {
  local name="$1" content="$2" d="$TMP/apt-$1"
  mkdir -p "$d/etc/sources.list.d" "$d/etc/preferences.d" "$d/lists/partial" "$d/archives/partial" "$d/cache"
  printf '%s\n' "$content" >"$d/etc/sources.list"
  printf '%s\n' \
    "-o" "Dir::Etc::SourceList=$d/etc/sources.list" \
    "-o" "Dir::Etc::SourceParts=$d/etc/sources.list.d" \
    "-o" "Dir::Etc::Preferences=$d/etc/preferences" \
    "-o" "Dir::Etc::PreferencesParts=$d/etc/preferences.d" \
    "-o" "Dir::State::Lists=$d/lists" \
    "-o" "Dir::Cache=$d/cache" \
    "-o" "Dir::Cache::Archives=$d/archives" \
    "-o" "Debug::NoLocking=1" \
    "-o" "APT::Get::List-Cleanup=0" \
    "-o" "APT::Sandbox::User=root"
}

# --- Go 1.15 from bullseye -------------------------------------------------------------------
GOROOT_DIR="$GO_DIR/root/usr/lib/go-$GO_VERSION"
if [ ! -x "$GOROOT_DIR/bin/go" ] || [ ! -f "$GO_DIR/complete" ]; then
  log "fetching Go $GO_VERSION (bullseye golang-$GO_VERSION-go, golang-$GO_VERSION-src)"
  mapfile -t GOAPT < <(apt_private bullseye "deb [signed-by=$KEYRING] $MIRROR bullseye main")
  apt-get "${GOAPT[@]}" -qq update >&2 || die "apt-get update (private bullseye config) failed"
  mkdir -p "$TMP/go-debs"
  (cd "$TMP/go-debs" && apt-get "${GOAPT[@]}" -qq download "golang-$GO_VERSION-go" "golang-$GO_VERSION-src") >&2 \
    || die "apt-get download golang-$GO_VERSION-go golang-$GO_VERSION-src failed"
  rm -rf "$GO_DIR" && mkdir -p "$GO_DIR/root"
  for deb in "$TMP"/go-debs/*.deb; do
    dpkg-deb -x "$deb" "$GO_DIR/root"
  done
  [ -x "$GOROOT_DIR/bin/go" ] || die "go binary not found under $GOROOT_DIR after unpacking"
  GOROOT="$GOROOT_DIR" "$GOROOT_DIR/bin/go" version >&2
  for deb in "$TMP"/go-debs/*.deb; do basename "$deb"; done >"$GO_DIR/complete"
fi
export GOROOT="$GOROOT_DIR"
export PATH="$GOROOT/bin:$PATH"
go version | grep -q "go$GO_VERSION" || die "expected Go $GO_VERSION, got: $(go version)"

# --- the kubernetes source package ----------------------------------------------------------
SRC_DIR="$BASE_DIR/src"
if [ ! -f "$SRC_DIR/.unpacked" ]; then
  log "fetching source package kubernetes=$SRC_VERSION (private bookworm deb-src config)"
  mapfile -t SRCAPT < <(apt_private bookworm "deb-src [signed-by=$KEYRING] $MIRROR bookworm main
deb-src [signed-by=$KEYRING] $MIRROR bookworm-updates main
deb-src [signed-by=$KEYRING] ${MIRROR%/debian}/debian-security bookworm-security main")
  apt-get "${SRCAPT[@]}" -qq update >&2 || die "apt-get update (private bookworm deb-src config) failed"
  mkdir -p "$TMP/src"
  # apt verifies every downloaded file against the signed Sources index.
  (cd "$TMP/src" && apt-get "${SRCAPT[@]}" -qq --download-only source "kubernetes=$SRC_VERSION") >&2 \
    || die "apt-get source kubernetes=$SRC_VERSION failed"
  dsc="$(ls "$TMP"/src/*.dsc)"
  # Check the .dsc's own checksums explicitly (dpkg-source checks them too; either failing stops us).
  (cd "$TMP/src" && awk '/^Checksums-Sha256:/{f=1;next} /^[^ ]/{f=0} f && NF==3 {print $1"  "$3}' "$dsc" \
     | sha256sum --strict -c -) >&2 || die "checksum verification of the files listed in $(basename "$dsc") failed"
  rm -rf "$SRC_DIR"
  (cd "$TMP/src" && dpkg-source --require-strong-checksums --no-copy -x "$dsc" "$SRC_DIR") >&2 \
    || die "dpkg-source -x $(basename "$dsc") failed (checksum mismatch or broken source package)"
  cp "$dsc" "$BASE_DIR/"
  touch "$SRC_DIR/.unpacked"
fi

# --- build -----------------------------------------------------------------------------------
what=""
for c in "${missing[@]}"; do what="$what cmd/$c"; done
what="${what# }"
log "building $what with $(go version | cut -d' ' -f3) in $SRC_DIR (log: $CACHE_DIR/build.log)"
# (Kubernetes' make overrides GOPATH and GOCACHE with src/_output/local/go[/cache].)
export GOPATH="$BASE_DIR/gopath" GOCACHE="$BASE_DIR/gocache" GOFLAGS=-mod=vendor GO111MODULE=
# Debian's tree is not a git checkout but a `git archive` export: hack/lib/version.sh takes the
# version from the strings git substituted into it (tag v1.20.2, tree state "archive") and ignores
# KUBE_GIT_VERSION from the environment. Only KUBE_GIT_VERSION_FILE takes precedence over that, so
# every build (default label included, with the values the archive itself gives) reads this file.
[[ "$KUBE_GIT_VERSION" =~ ^v([0-9]+)\.([0-9]+)\. ]]
cat >"$CACHE_DIR/version.env" <<EOF
KUBE_GIT_COMMIT='$KUBE_GIT_COMMIT'
KUBE_GIT_TREE_STATE='archive'
KUBE_GIT_VERSION='$KUBE_GIT_VERSION'
KUBE_GIT_MAJOR='${BASH_REMATCH[1]}'
KUBE_GIT_MINOR='${BASH_REMATCH[2]}'
EOF
if ! (cd "$SRC_DIR" && make WHAT="$what" KUBE_BUILD_PLATFORMS=linux/amd64 \
      KUBE_GIT_VERSION_FILE="$CACHE_DIR/version.env" KUBE_VERBOSE=1) >"$CACHE_DIR/build.log" 2>&1; then
  tail -n 40 "$CACHE_DIR/build.log" >&2
  die "make WHAT='$what' failed in $SRC_DIR; full log: $CACHE_DIR/build.log"
fi

for c in "${missing[@]}"; do
  out="$SRC_DIR/_output/local/bin/linux/amd64/$c"
  [ -x "$out" ] || die "make succeeded but $out is missing"
  # Each prints exactly one line; compare it whole, so v1.20.1 does not pass for v1.20.10.
  case "$c" in
    kubectl) vcmd=(version --client --short); want="Client Version: $KUBE_GIT_VERSION" ;;
    kubeadm) vcmd=(version -o short); want="$KUBE_GIT_VERSION" ;;
    *) vcmd=(--version); want="Kubernetes $KUBE_GIT_VERSION" ;;
  esac
  ver="$("$out" "${vcmd[@]}" 2>&1 || true)"
  [ "$ver" = "$want" ] || die "$out ${vcmd[*]} says '$ver', expected '$want'"
  install -m 0755 "$out" "$CACHE_DIR/bin/$c.new"
  mv "$CACHE_DIR/bin/$c.new" "$CACHE_DIR/bin/$c"
  sum="$(sha256sum "$CACHE_DIR/bin/$c" | cut -d' ' -f1)"
  { [ -f "$MARKER" ] && awk -v n="$c" '$1 != n' "$MARKER"; echo "$c $sum"; } >"$MARKER.new"
  mv "$MARKER.new" "$MARKER"
done

if [ "$KEEP_SOURCE" = 0 ]; then
  rm -rf "$SRC_DIR" "$GOPATH" "$GOCACHE"
fi
log "built $what ($KUBE_GIT_VERSION) in $(( $(date +%s) - start )) s"
for c in "${components[@]}"; do echo "$CACHE_DIR/bin/$c"; done
