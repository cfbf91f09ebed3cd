"""Kubernetes .deb packages and a signed apt repository laid out like pkgs.k8s.io, for the live kubeadm tier.

The binaries come from scripts/build_kubernetes.sh's cache: the default build (v1.20.2, Debian's source package) and
relabelled builds of the same source (`--version-label v1.20.1`), so an upgrade from an "old" to a "new" release can
run for real offline. Packages are named and versioned as pkgs.k8s.io names them (`kubeadm_1.20.2-1.1_amd64.deb`,
version `<release without v>-<revision>`, revision 1.1), so roles/kubeadm's `apt install kubeadm=1.20.2-1.1` works
unchanged.

Package contents (after kubernetes/release's packaging: the kubepkg deb templates of the 1.20 era and krel's specs
that build today's pkgs.k8s.io):
  kubelet  /usr/bin/kubelet, /usr/lib/systemd/system/kubelet.service (ConditionPathExists=/var/lib/kubelet/config.yaml,
           Restart=always), /etc/default/kubelet (conffile, `KUBELET_EXTRA_ARGS=`), /etc/kubernetes/manifests/ and
           /var/lib/kubelet/ (with .kubelet-keep files, as pkgs.k8s.io ships them); postinst enables the unit and
           reloads systemd, as debhelper's snippet does (no start: the unit's condition holds it until kubeadm ran).
  kubeadm  /usr/bin/kubeadm, /usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf (KUBELET_KUBECONFIG_ARGS,
           KUBELET_CONFIG_ARGS, EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env,
           EnvironmentFile=-/etc/default/kubelet, ExecStart= reset and the kubelet command line).
  kubectl  /usr/bin/kubectl.

Depends, deliberately smaller than upstream's so a package installs on a minimal Debian 12 test-bed node with no
other repository reachable:
  kubelet  upstream (1.20 era): iptables (>= 1.4.21), kubernetes-cni, iproute2, socat, util-linux, mount, ebtables,
           ethtool, conntrack. Here: iproute2, mount, util-linux (all in a debootstrap minbase plus iproute2, as
           scripts/testbed.py builds its image). The rest exist in Debian 12 except kubernetes-cni (pkgs.k8s.io only);
           roles/node_baseline installs conntrack, socat, iptables, ethtool itself. `KUBELET_DEPENDS_UPSTREAM` is the
           upstream list without kubernetes-cni, for build_repo(depends={"kubelet": ...}).
  kubeadm  pkgs.k8s.io: kubelet (>= 1.19.0), kubectl (>= 1.19.0), kubernetes-cni, cri-tools. Here: kubelet (>= 1.19.0),
           kubectl (>= 1.19.0); cri-tools and kubernetes-cni are not in Debian 12 (they come from pkgs.k8s.io itself)
           and are left out. As upstream, installing a newer kubeadm does not pull a newer kubelet.
  kubectl  none.

Repository (build_repo), a flat repository as pkgs.k8s.io's
`deb [signed-by=...] https://pkgs.k8s.io/core:/stable:/v1.NN/deb/ /`:
  <dir>/Release.key                 armored public key (roles/kubeadm/tasks/repo.yml: signed_by: <url>Release.key)
  <dir>/Release, InRelease, Release.gpg   MD5Sum/SHA1/SHA256/SHA512 of Packages and Packages.gz; InRelease clear-signed,
                                    Release.gpg detached, by a throwaway key made with `gpg --batch` in a private
                                    GNUPGHOME that is deleted afterwards (the secret key leaves no trace)
  <dir>/Packages, Packages.gz       written here from `dpkg-deb --field` (no dpkg-scanpackages needed), every version
  <dir>/<arch>/<name>_<version>_<arch>.deb
The .debs are built with `dpkg-deb --root-owner-group --build` (gzip, level 1: the binaries are 40-115 MB and the
repository is served on a LAN). Needs dpkg-deb (dpkg), gpg and gpg-agent (Debian packages gpg, gpg-agent).

RepoServer serves a directory with Python's http.server in a thread, on a given address and port (0 picks one).

CLI:
  python tests/integration/kube_debs.py build DIR [--release v1.20.2 --release v1.20.1] [--revision 1.1]
  python tests/integration/kube_debs.py serve DIR [--bind 127.0.0.1] [--port 0]
"""

import argparse
import dataclasses
import functools
import gzip
import hashlib
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_SCRIPT = os.path.join(ROOT, "scripts", "build_kubernetes.sh")
ENV = dict(os.environ, LC_ALL="C")

SOURCE_RELEASE = "v1.20.2"
DEFAULT_REVISION = "1.1"
PACKAGES = ("kubelet", "kubeadm", "kubectl")
MAINTAINER = "aiinfra test packages <aiinfra-test@invalid.example>"
KUBELET_DEPENDS = "iproute2, mount, util-linux"
KUBELET_DEPENDS_UPSTREAM = "iptables (>= 1.4.21), iproute2, socat, util-linux, mount, ebtables, ethtool, conntrack"
KUBEADM_DEPENDS = "kubelet (>= 1.19.0), kubectl (>= 1.19.0)"
DEPENDS = {"kubelet": KUBELET_DEPENDS, "kubeadm": KUBEADM_DEPENDS, "kubectl": ""}
DESCRIPTIONS = {
    "kubelet": "Node agent for Kubernetes clusters\n The node agent of Kubernetes, the container cluster manager.",
    "kubeadm": ("Command-line utility for administering a Kubernetes cluster\n"
                " The Kubernetes command line tool for bootstrapping a Kubernetes cluster."),
    "kubectl": "Command-line utility for interacting with a Kubernetes cluster\n The Kubernetes command line client.",
}
SECTIONS = {"kubelet": "net", "kubeadm": "admin", "kubectl": "utils"}

KUBELET_SERVICE = """\
[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target
ConditionPathExists=/var/lib/kubelet/config.yaml

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
"""

# Upstream's 10-kubeadm.conf (kubernetes/kubernetes build/debs, kubeadm stable channel post-1.10), line for line.
KUBEADM_DROPIN = "".join(line + "\n" for line in (
    "# Note: This dropin only works with kubeadm and kubelet v1.11+",
    "[Service]",
    'Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf'
    ' --kubeconfig=/etc/kubernetes/kubelet.conf"',
    'Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"',
    '# This is a file that "kubeadm init" and "kubeadm join" generates at runtime, populating the'
    ' KUBELET_KUBEADM_ARGS variable dynamically',
    "EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env",
    "# This is a file that the user can use for overrides of the kubelet args as a last resort. Preferably,"
    " the user should use",
    "# the .NodeRegistration.KubeletExtraArgs object in the configuration files instead. KUBELET_EXTRA_ARGS"
    " should be sourced from this file.",
    "EnvironmentFile=-/etc/default/kubelet",
    "ExecStart=",
    "ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS"
    " $KUBELET_EXTRA_ARGS",
))

KUBELET_DEFAULT = "KUBELET_EXTRA_ARGS=\n"

KUBELET_POSTINST = """\
#!/bin/sh
set -e
# What debhelper's dh_installsystemd snippet does for an enabled, not started unit.
if [ "$1" = configure ] || [ "$1" = abort-upgrade ] || [ "$1" = abort-deconfigure ] || [ "$1" = abort-remove ]; then
    if command -v deb-systemd-helper >/dev/null 2>&1; then
        deb-systemd-helper unmask kubelet.service >/dev/null || true
        # was-enabled is true on a first installation; an administrator's disable survives upgrades.
        if deb-systemd-helper --quiet was-enabled kubelet.service; then
            deb-systemd-helper enable kubelet.service >/dev/null || true
        else
            deb-systemd-helper update-state kubelet.service >/dev/null || true
        fi
    fi
    if [ -d /run/systemd/system ]; then
        systemctl --system daemon-reload >/dev/null || true
    fi
fi
exit 0
"""

KUBELET_POSTRM = """\
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = purge ] && command -v deb-systemd-helper >/dev/null 2>&1; then
    deb-systemd-helper purge kubelet.service >/dev/null || true
fi
exit 0
"""

# How each binary reports its version (one line), as scripts/build_kubernetes.sh checks it.
VERSION_COMMANDS = {
    "kubectl": (["version", "--client", "--short"], "Client Version: "),
    "kubeadm": (["version", "-o", "short"], ""),
}


class KubeDebsError(RuntimeError):
    """A package or repository could not be built."""


def _run(argv, **kwargs):
    kwargs.setdefault("env", ENV)
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    if result.returncode != 0:
        raise KubeDebsError("%s failed (rc %d): %s" % (" ".join(argv), result.returncode,
                                                       (result.stderr or result.stdout).strip()[-2000:]))
    return result.stdout


# --- the binaries -----------------------------------------------------------------------------------------------

def deb_version(release, revision=DEFAULT_REVISION):
    """'v1.20.2' -> '1.20.2-1.1' (pkgs.k8s.io's package version for a release)."""
    match = re.fullmatch(r"v?(\d+\.\d+\.\d+)", release)
    if not match:
        raise ValueError("release %r is not of the form vX.Y.Z" % release)
    if not re.fullmatch(r"[0-9][0-9A-Za-z.+~]*", revision):
        raise ValueError("revision %r is not a Debian revision" % revision)
    return "%s-%s" % (match.group(1), revision)


@functools.lru_cache(maxsize=None)
def binaries_dir(release=SOURCE_RELEASE):
    """scripts/build_kubernetes.sh's cache directory for a release label (it owns the layout; asked, not guessed)."""
    argv = ["bash", BUILD_SCRIPT, "--print-dir"]
    if release != SOURCE_RELEASE:
        argv += ["--version-label", release]
    return _run(argv).strip()


def cached_binaries(release=SOURCE_RELEASE, names=PACKAGES):
    """{name: path} of the built binaries of `release`, each listed in the build's `complete` marker with the
    checksum its file still has; None when any is missing (not built, or changed since)."""
    directory = binaries_dir(release)
    try:
        with open(os.path.join(directory, "complete")) as f:
            wanted = dict(line.split() for line in f if line.strip())
    except OSError:
        return None
    found = {}
    for name in names:
        path = os.path.join(directory, "bin", name)
        if name not in wanted or not os.access(path, os.X_OK) or _sha256(path) != wanted[name]:
            return None
        found[name] = path
    return found


def binary_version(name, path):
    """The version a Kubernetes binary reports ('v1.20.2'), asked the way scripts/build_kubernetes.sh asks it."""
    args, prefix = VERSION_COMMANDS.get(name, (["--version"], "Kubernetes "))
    out = _run([path] + args).strip()
    if not out.startswith(prefix):
        raise KubeDebsError("%s %s printed %r, expected %r..." % (path, " ".join(args), out, prefix))
    return out[len(prefix):]


def _sha256(path):
    return _digest(path, "sha256")


def _digest(path, algorithm):
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def host_arch():
    return _run(["dpkg", "--print-architecture"]).strip()


# --- packages ---------------------------------------------------------------------------------------------------

def _write(path, content, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(content)
    os.chmod(path, mode)


def build_deb(package, binary, version, out_dir, arch=None, depends=None):
    """Build `<out_dir>/<package>_<version>_<arch>.deb` from `binary` (installed as /usr/bin/<package>) and return
    its path. `version` is the full Debian version ('1.20.2-1.1'); `depends` overrides DEPENDS[package]
    ('' for none). The binary must report the release the version names (a relabelled build put in the wrong
    package fails here, not on a node)."""
    if package not in PACKAGES:
        raise ValueError("unknown package %r (one of %s)" % (package, ", ".join(PACKAGES)))
    arch = arch or host_arch()
    release = "v" + version.split("-", 1)[0]
    reported = binary_version(package, binary)
    if reported != release:
        raise KubeDebsError("%s reports %s, but the package version %s is %s" % (binary, reported, version, release))
    depends = DEPENDS[package] if depends is None else depends
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kube-deb-", dir=out_dir) as root:
        os.chmod(root, 0o755)
        os.makedirs(os.path.join(root, "usr", "bin"))
        shutil.copyfile(binary, os.path.join(root, "usr", "bin", package))
        os.chmod(os.path.join(root, "usr", "bin", package), 0o755)
        conffiles = []
        if package == "kubelet":
            _write(os.path.join(root, "usr/lib/systemd/system/kubelet.service"), KUBELET_SERVICE)
            _write(os.path.join(root, "etc/default/kubelet"), KUBELET_DEFAULT)
            _write(os.path.join(root, "etc/kubernetes/manifests/.kubelet-keep"), "")
            _write(os.path.join(root, "var/lib/kubelet/.kubelet-keep"), "")
            _write(os.path.join(root, "DEBIAN/postinst"), KUBELET_POSTINST, 0o755)
            _write(os.path.join(root, "DEBIAN/postrm"), KUBELET_POSTRM, 0o755)
            conffiles.append("/etc/default/kubelet")
        elif package == "kubeadm":
            _write(os.path.join(root, "usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"), KUBEADM_DROPIN)
        if conffiles:
            _write(os.path.join(root, "DEBIAN/conffiles"), "".join(c + "\n" for c in conffiles))
        installed_kib = 0
        for base, _dirs, files in os.walk(root):
            if os.path.relpath(base, root).split(os.sep)[0] == "DEBIAN":
                continue
            installed_kib += sum((os.path.getsize(os.path.join(base, f)) + 1023) // 1024 for f in files)
        fields = [
            ("Package", package),
            ("Version", version),
            ("Architecture", arch),
            ("Maintainer", MAINTAINER),
            ("Installed-Size", str(installed_kib)),
            ("Depends", depends),
            ("Section", SECTIONS[package]),
            ("Priority", "optional"),
            ("Homepage", "https://kubernetes.io"),
            ("Description", DESCRIPTIONS[package]),
        ]
        control = "".join("%s: %s\n" % (k, v) for k, v in fields if v)
        _write(os.path.join(root, "DEBIAN/control"), control)
        os.chmod(os.path.join(root, "DEBIAN"), 0o755)
        out = os.path.join(out_dir, "%s_%s_%s.deb" % (package, version, arch))
        _run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build", root, out])
    return out


# --- the repository ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Repo:
    path: str                 # the repository directory (serve it; the URL of this directory ends in '/')
    fingerprint: str          # of the throwaway signing key
    debs: dict                # {(package, version): path of the .deb}

    @property
    def key_path(self):
        return os.path.join(self.path, "Release.key")


def _gpg(gnupg_home, *args, **kwargs):
    return _run(["gpg", "--homedir", gnupg_home, "--batch", "--no-tty", "--quiet"] + list(args), **kwargs)


def _index(repo_dir, packages_text):
    """Write Packages, Packages.gz and the unsigned Release over them."""
    with open(os.path.join(repo_dir, "Packages"), "w") as f:
        f.write(packages_text)
    with open(os.path.join(repo_dir, "Packages"), "rb") as src, \
            gzip.GzipFile(os.path.join(repo_dir, "Packages.gz"), "wb", mtime=0) as dst:
        shutil.copyfileobj(src, dst)
    archs = sorted(set(re.findall(r"^Architecture: (\S+)$", packages_text, re.M)))
    now = time.gmtime()
    date = "%s, %02d %s %d %02d:%02d:%02d UTC" % (
        ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[now.tm_wday], now.tm_mday,
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")[now.tm_mon - 1],
        now.tm_year, now.tm_hour, now.tm_min, now.tm_sec)
    lines = ["Origin: aiinfra-test", "Label: aiinfra-test kubernetes", "Architectures: " + " ".join(archs),
             "Date: " + date]
    for field, algorithm in (("MD5Sum", "md5"), ("SHA1", "sha1"), ("SHA256", "sha256"), ("SHA512", "sha512")):
        lines.append(field + ":")
        for name in ("Packages", "Packages.gz"):
            path = os.path.join(repo_dir, name)
            lines.append(" %s %d %s" % (_digest(path, algorithm), os.path.getsize(path), name))
    with open(os.path.join(repo_dir, "Release"), "w") as f:
        f.write("\n".join(lines) + "\n")


def _packages_entry(repo_dir, deb):
    control = _run(["dpkg-deb", "--field", deb]).rstrip("\n")
    rel = os.path.relpath(deb, repo_dir)
    extra = ["Filename: " + rel, "Size: %d" % os.path.getsize(deb),
             "MD5sum: " + _digest(deb, "md5"), "SHA1: " + _digest(deb, "sha1"), "SHA256: " + _digest(deb, "sha256")]
    return control + "\n" + "\n".join(extra) + "\n"


def sign_repo(repo_dir):
    """Generate a throwaway signing key (private GNUPGHOME, removed afterwards), sign Release into InRelease and
    Release.gpg, export the armored public key as Release.key. Returns the key's fingerprint."""
    # gpg-agent's socket lives in GNUPGHOME: keep the path short (sockaddr_un's 108 bytes).
    home = tempfile.mkdtemp(prefix="kdgpg", dir="/tmp")
    try:
        os.chmod(home, 0o700)
        uid = "aiinfra test apt repository <aiinfra-test-repo@invalid.example>"
        _gpg(home, "--pinentry-mode", "loopback", "--passphrase", "", "--quick-generate-key", uid,
             "ed25519", "sign", "never")
        listing = _gpg(home, "--with-colons", "--list-secret-keys")
        fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
        release = os.path.join(repo_dir, "Release")
        for name in ("InRelease", "Release.gpg"):
            if os.path.exists(os.path.join(repo_dir, name)):
                os.unlink(os.path.join(repo_dir, name))
        _gpg(home, "--local-user", fingerprint, "--digest-algo", "SHA512", "--clearsign",
             "--output", os.path.join(repo_dir, "InRelease"), release)
        _gpg(home, "--local-user", fingerprint, "--digest-algo", "SHA512", "--armor", "--detach-sign",
             "--output", os.path.join(repo_dir, "Release.gpg"), release)
        key = _gpg(home, "--armor", "--export", fingerprint)
        with open(os.path.join(repo_dir, "Release.key"), "w") as f:
            f.write(key)
        return fingerprint
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True, env=ENV, check=False)
        shutil.rmtree(home, ignore_errors=True)


def build_repo(repo_dir, releases=(SOURCE_RELEASE,), revision=DEFAULT_REVISION, packages=PACKAGES, arch=None,
               depends=None, binaries=None):
    """Build a signed flat repository in `repo_dir` (created; an existing one is replaced) holding `packages` of
    every release in `releases` (labels such as 'v1.20.2', 'v1.20.1': their binaries come from
    scripts/build_kubernetes.sh's cache, or from `binaries[release][package]` when given). `depends` maps a package
    to a Depends override. Returns a Repo."""
    arch = arch or host_arch()
    depends = depends or {}
    if os.path.isdir(repo_dir):
        shutil.rmtree(repo_dir)
    pool = os.path.join(repo_dir, arch)
    os.makedirs(pool)
    os.chmod(repo_dir, 0o755)
    debs = {}
    for release in releases:
        paths = (binaries or {}).get(release) or cached_binaries(release, packages)
        if not paths:
            raise KubeDebsError("the %s binaries (%s) are not built: run scripts/build_kubernetes.sh%s "
                                "--components '%s'" % (release, ", ".join(packages),
                                                       "" if release == SOURCE_RELEASE
                                                       else " --version-label " + release, " ".join(packages)))
        version = deb_version(release, revision)
        for package in packages:
            debs[(package, version)] = build_deb(package, paths[package], version, pool, arch,
                                                 depends.get(package))
    entries = [_packages_entry(repo_dir, debs[k]) for k in sorted(debs)]
    _index(repo_dir, "\n".join(entries))
    fingerprint = sign_repo(repo_dir)
    return Repo(path=repo_dir, fingerprint=fingerprint, debs=debs)


# --- serving ----------------------------------------------------------------------------------------------------

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002  (the base class's name)
        pass


class RepoServer:
    """Serve `directory` over HTTP on host:port (port 0 picks a free one) from a daemon thread.

        with RepoServer(repo.path, "127.0.0.1") as server:
            server.url   # 'http://127.0.0.1:PORT/' (the kubeadm_apt_repo_url form: ends in '/')
    """

    def __init__(self, directory, host="127.0.0.1", port=0):
        handler = functools.partial(_QuietHandler, directory=directory)
        self.httpd = http.server.ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.directory = directory
        self.thread = None

    @property
    def host(self):
        return self.httpd.server_address[0]

    @property
    def port(self):
        return self.httpd.server_address[1]

    @property
    def url(self):
        host = self.host if ":" not in self.host else "[%s]" % self.host
        return "http://%s:%d/" % (host, self.port)

    def start(self):
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="kube-debs-http", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        if self.thread:
            self.thread.join(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# --- CLI --------------------------------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build the packages and the signed repository in DIR")
    build.add_argument("dir")
    build.add_argument("--release", action="append", help="release label, repeatable (default v1.20.2)")
    build.add_argument("--revision", default=DEFAULT_REVISION)
    build.add_argument("--kubelet-depends-upstream", action="store_true",
                       help="give kubelet upstream's Depends (without kubernetes-cni)")
    serve = sub.add_parser("serve", help="serve DIR over HTTP until interrupted")
    serve.add_argument("dir")
    serve.add_argument("--bind", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "build":
        start = time.monotonic()
        repo = build_repo(os.path.abspath(args.dir), tuple(args.release or (SOURCE_RELEASE,)), args.revision,
                          depends={"kubelet": KUBELET_DEPENDS_UPSTREAM} if args.kubelet_depends_upstream else None)
        for (package, version), path in sorted(repo.debs.items()):
            print("%s %s %s" % (package, version, os.path.relpath(path, repo.path)))
        print("repository %s signed by %s (%.1f s)" % (repo.path, repo.fingerprint, time.monotonic() - start))
        return 0
    server = RepoServer(os.path.abspath(args.dir), args.bind, args.port).start()
    print("serving %s at %s (Ctrl-C stops)" % (args.dir, server.url), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
