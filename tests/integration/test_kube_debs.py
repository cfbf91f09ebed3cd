"""The kubelet/kubeadm/kubectl packages and the signed flat apt repository of kube_debs.py, checked with apt itself.

The repository is built from scripts/build_kubernetes.sh's cached binaries (v1.20.2, and the same source relabelled
v1.20.1), served on 127.0.0.1, and read by apt-get with a PRIVATE configuration: its own sources (a deb822 entry
with exactly the fields roles/kubeadm/tasks/repo.yml's deb822_repository writes: URIs <url>, Suites /, Signed-By
the Release.key fetched from <url>Release.key), lists, caches and trusted-key directory under the test's temporary
directory; nothing of the host's apt state is read for sources or keys, nothing is written to it.

Proven here: apt accepts the signature and sees both versions; a Packages index changed after signing is refused, and
so is a Release signed by a key other than the one in signed-by; `apt-get download <pkg>=<version>` fetches a package
whose binary reports that release; the kubelet unit and kubeadm's drop-in are inside the packages as upstream ships
them, owned by root.

Skipped only when the binaries are not built (run `scripts/build_kubernetes.sh --components "kubelet kubeadm
kubectl"` and the same with `--version-label v1.20.1`), unless $AIINFRA_REQUIRE_KUBE_API is set: then that fails.
"""

import os
import shutil
import subprocess
import urllib.request

import pytest

import kube_debs

NEW, OLD = "v1.20.2", "v1.20.1"
ENV = dict(os.environ, LC_ALL="C", DEBIAN_FRONTEND="noninteractive")
for _proxy in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
    ENV.pop(_proxy, None)
REQUIRE_ENV = "AIINFRA_REQUIRE_KUBE_API"
INDEX_FILES = ("Packages", "Packages.gz", "Release", "InRelease", "Release.gpg", "Release.key")


def _unavailable(msg):
    if os.environ.get(REQUIRE_ENV):
        pytest.fail("%s is set but %s" % (REQUIRE_ENV, msg), pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    missing_tools = [t for t in ("dpkg-deb", "gpg", "gpg-agent", "gpgconf", "apt-get", "gpgv")
                     if shutil.which(t) is None]
    if missing_tools:
        _unavailable("needs %s (Debian packages dpkg, gpg, gpg-agent, apt, gpgv)" % ", ".join(missing_tools))
    for release in (NEW, OLD):
        if kube_debs.cached_binaries(release) is None:
            _unavailable("the %s binaries kubelet, kubeadm, kubectl are not built (cache %s): run "
                         "scripts/build_kubernetes.sh%s --components 'kubelet kubeadm kubectl'"
                         % (release, kube_debs.binaries_dir(release),
                            "" if release == NEW else " --version-label " + release))
    return kube_debs.build_repo(str(tmp_path_factory.mktemp("kube-debs") / "repo"), (NEW, OLD))


@pytest.fixture(scope="module")
def server(repo):
    with kube_debs.RepoServer(repo.path, "127.0.0.1") as srv:
        yield srv


class PrivateApt:
    """apt-get/apt-cache with their own sources, lists, caches and trusted parts under `directory` (as
    scripts/build_kubernetes.sh's apt_private); `sources` is the deb822 .sources content."""

    def __init__(self, directory, sources):
        self.dir = str(directory)
        for sub in ("etc/sources.list.d", "etc/preferences.d", "etc/trusted.gpg.d", "lists/partial",
                    "archives/partial", "cache"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        open(os.path.join(self.dir, "etc/sources.list"), "w").close()
        with open(os.path.join(self.dir, "etc/sources.list.d/kubernetes.sources"), "w") as f:
            f.write(sources)
        d = self.dir
        self.options = []
        for key, value in (("Dir::Etc::SourceList", d + "/etc/sources.list"),
                           ("Dir::Etc::SourceParts", d + "/etc/sources.list.d"),
                           ("Dir::Etc::Preferences", d + "/etc/preferences"),
                           ("Dir::Etc::PreferencesParts", d + "/etc/preferences.d"),
                           ("Dir::Etc::Trusted", d + "/etc/trusted.gpg"),
                           ("Dir::Etc::TrustedParts", d + "/etc/trusted.gpg.d"),
                           ("Dir::State::Lists", d + "/lists"),
                           ("Dir::Cache", d + "/cache"),
                           ("Dir::Cache::Archives", d + "/archives"),
                           ("Debug::NoLocking", "1"),
                           ("APT::Get::List-Cleanup", "0"),
                           ("APT::Sandbox::User", "root"),
                           ("Acquire::Retries", "0"),
                           ("Acquire::http::Proxy::127.0.0.1", "DIRECT"),
                           ("Acquire::Languages", "none")):
            self.options += ["-o", "%s=%s" % (key, value)]

    def run(self, tool, *args, cwd=None):
        return subprocess.run([tool] + self.options + list(args), capture_output=True, text=True, env=ENV,
                              cwd=cwd, timeout=300, check=False)


def role_sources(url, key_path):
    """What ansible.builtin.deb822_repository writes for roles/kubeadm/tasks/repo.yml (name kubernetes, types deb,
    uris [url], suites [/], signed_by <url>Release.key, which the module downloads to a keyring file)."""
    return "Types: deb\nURIs: %s\nSuites: /\nSigned-By: %s\n" % (url, key_path)


def fetch_key(url, directory):
    """The key as deb822_repository fetches it: GET <url>Release.key, kept as an armored .asc keyring."""
    with urllib.request.urlopen(url + "Release.key", timeout=30) as response:
        key = response.read()
    path = os.path.join(str(directory), "kubernetes.asc")
    with open(path, "wb") as f:
        f.write(key)
    return path, key


def index_copy(repo, directory):
    """A second repository directory with the index files of `repo` only (no packages)."""
    os.makedirs(directory)
    for name in INDEX_FILES:
        shutil.copy(os.path.join(repo.path, name), os.path.join(directory, name))
    return str(directory)


@pytest.fixture(scope="module")
def apt(repo, server, tmp_path_factory):
    """A private apt that has run `apt-get update` against the served repository."""
    base = tmp_path_factory.mktemp("apt-ok")
    key_path, _key = fetch_key(server.url, base)
    private = PrivateApt(base / "apt", role_sources(server.url, key_path))
    private.update = private.run("apt-get", "update")
    return private


def test_release_key_is_the_armored_signing_key(repo, server, tmp_path):
    _path, key = fetch_key(server.url, tmp_path)
    assert key.startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n"), key[:80]
    with open(repo.key_path, "rb") as f:
        assert f.read() == key
    gpg_home = tmp_path / "g"
    gpg_home.mkdir(mode=0o700)
    shown = subprocess.run(["gpg", "--homedir", str(gpg_home), "--batch", "--with-colons", "--show-keys",
                            repo.key_path], capture_output=True, text=True, env=ENV, check=True).stdout
    assert "fpr:::::::::%s:" % repo.fingerprint in shown
    # The secret key is gone with its private GNUPGHOME: the repository holds no secret material.
    for name in os.listdir(repo.path):
        if os.path.isfile(os.path.join(repo.path, name)):
            with open(os.path.join(repo.path, name), "rb") as f:
                assert b"PRIVATE KEY" not in f.read(), name


def test_apt_update_accepts_the_signature_and_sees_both_releases(apt, server):
    assert apt.update.returncode == 0, apt.update.stdout + apt.update.stderr
    assert "W:" not in apt.update.stdout + apt.update.stderr, apt.update.stdout + apt.update.stderr
    lists = os.listdir(os.path.join(apt.dir, "lists"))
    assert any(name.endswith("_InRelease") for name in lists), lists
    for package in kube_debs.PACKAGES:
        madison = apt.run("apt-cache", "madison", package)
        assert madison.returncode == 0, madison.stderr
        versions = {line.split("|")[1].strip() for line in madison.stdout.splitlines() if "|" in line}
        assert versions == {"1.20.2-1.1", "1.20.1-1.1"}, madison.stdout
        assert server.url.rstrip("/") + "  Packages" in madison.stdout, madison.stdout


@pytest.mark.parametrize("release", [NEW, OLD])
@pytest.mark.parametrize("package", kube_debs.PACKAGES)
def test_apt_get_download_fetches_the_release_asked_for(apt, package, release, tmp_path):
    version = kube_debs.deb_version(release)
    got = apt.run("apt-get", "download", "%s=%s" % (package, version), cwd=str(tmp_path))
    assert got.returncode == 0, got.stdout + got.stderr
    debs = [n for n in os.listdir(str(tmp_path)) if n.endswith(".deb")]
    assert debs == ["%s_%s_amd64.deb" % (package, version)], debs
    deb = os.path.join(str(tmp_path), debs[0])
    fields = subprocess.run(["dpkg-deb", "--field", deb, "Package", "Version"], capture_output=True, text=True,
                            env=ENV, check=True).stdout
    assert fields == "Package: %s\nVersion: %s\n" % (package, version)
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", deb, str(root)], check=True, env=ENV)
    assert kube_debs.binary_version(package, str(root / "usr" / "bin" / package)) == release


def test_a_packages_index_changed_after_signing_is_refused(repo, tmp_path):
    tampered = index_copy(repo, tmp_path / "tampered")
    with open(os.path.join(tampered, "Packages")) as f:
        text = f.read()
    # An attacker serving another kubeadm as 1.20.2-1.1: same stanza, other checksum.
    changed = text.replace("Version: 1.20.2-1.1\n", "Version: 1.20.9-1.1\n", 1)
    assert changed != text
    with open(os.path.join(tampered, "Packages"), "w") as f:
        f.write(changed)
    subprocess.run(["gzip", "-9nkf", os.path.join(tampered, "Packages")], check=True, env=ENV)
    with kube_debs.RepoServer(tampered, "127.0.0.1") as srv:
        key_path, _key = fetch_key(srv.url, tmp_path)
        private = PrivateApt(tmp_path / "apt", role_sources(srv.url, key_path))
        update = private.run("apt-get", "update")
    out = update.stdout + update.stderr
    assert update.returncode != 0, out
    assert "Hash Sum mismatch" in out or "unexpected size" in out, out
    madison = private.run("apt-cache", "madison", "kubeadm")
    assert "1.20.9-1.1" not in madison.stdout and "1.20.2-1.1" not in madison.stdout, madison.stdout


def test_a_release_signed_by_another_key_is_refused(repo, tmp_path):
    other = index_copy(repo, tmp_path / "resigned")
    other_fpr = kube_debs.sign_repo(other)       # a new throwaway key signs the same Release
    assert other_fpr != repo.fingerprint
    with kube_debs.RepoServer(other, "127.0.0.1") as srv:
        # signed-by names the original repository's key, not the one that signed this Release.
        private = PrivateApt(tmp_path / "apt", role_sources(srv.url, repo.key_path))
        update = private.run("apt-get", "update")
    out = update.stdout + update.stderr
    assert update.returncode != 0, out
    assert "NO_PUBKEY" in out or "not signed" in out, out
    madison = private.run("apt-cache", "madison", "kubeadm")
    assert "1.20.2-1.1" not in madison.stdout, madison.stdout


# --- what a test-bed node's apt would do (simulated against a private dpkg status file) -------------------------------

def _host_packages():
    """{package: (stanza, fields)} of the packages installed on this host, and {virtual: [providers]}."""
    installed, provides = {}, {}
    with open("/var/lib/dpkg/status") as f:
        stanzas = f.read().split("\n\n")
    for stanza in stanzas:
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and line[0] != " ")
        if not fields.get("Status", "").endswith(" installed"):
            continue
        installed[fields["Package"]] = (stanza.strip("\n"), fields)
        for virtual in fields.get("Provides", "").split(","):
            if virtual.strip():
                provides.setdefault(virtual.split()[0], []).append(fields["Package"])
    return installed, provides


def minimal_status(repo, path, held_release=None):
    """A dpkg status file like a minimal Debian 12 test-bed node's (scripts/testbed.py: debootstrap minbase, i.e.
    the Essential and Priority: required packages plus apt, with iproute2 and the other packages it adds, closed over
    their dependencies), taken from this host's status; with `held_release`, kubelet/kubeadm/kubectl of that release
    installed and held too (as roles/kubeadm leaves them)."""
    installed, provides = _host_packages()
    seeds = ["apt", "iproute2", "systemd", "init-system-helpers"]
    keep = {name for name, (_stanza, fields) in installed.items()
            if fields.get("Essential") == "yes" or fields.get("Priority") == "required" or name in seeds}
    todo = list(keep)
    while todo:
        fields = installed[todo.pop()][1]
        for group in (fields.get("Pre-Depends", "") + "," + fields.get("Depends", "")).split(","):
            names = [alt.split()[0].split(":")[0] for alt in group.split("|") if alt.strip()]
            candidates = [n for name in names for n in ([name] if name in installed else provides.get(name, []))]
            if not candidates or any(c in keep for c in candidates):
                continue
            keep.add(candidates[0])
            todo.append(candidates[0])
    stanzas = [installed[name][0] for name in sorted(keep)]
    if held_release:
        version = kube_debs.deb_version(held_release)
        for package in kube_debs.PACKAGES:
            control = subprocess.run(["dpkg-deb", "--field", repo.debs[(package, version)]], capture_output=True,
                                     text=True, env=ENV, check=True).stdout.rstrip("\n").split("\n")
            control.insert(1, "Status: hold ok installed")
            stanzas.append("\n".join(control))
    with open(path, "w") as f:
        f.write("\n\n".join(stanzas) + "\n")
    return str(path)


def simulated(repo, server, tmp_path, held_release, *args):
    key_path, _key = fetch_key(server.url, tmp_path)
    private = PrivateApt(tmp_path / "apt", role_sources(server.url, key_path))
    private.options += ["-o", "Dir::State::status=" + minimal_status(repo, tmp_path / "status", held_release)]
    update = private.run("apt-get", "update")
    assert update.returncode == 0, update.stdout + update.stderr
    result = private.run("apt-get", "-s", "-y", *args)
    return result, [line for line in result.stdout.splitlines() if line.startswith(("Inst ", "Remv "))]


def test_fresh_install_needs_nothing_beyond_a_minimal_node(repo, server, tmp_path):
    """kubelet, kubeadm, kubectl install with only this repository and a minbase node's packages (no Debian mirror:
    a Depends on socat, conntrack... would be unmet and apt would refuse)."""
    result, actions = simulated(repo, server, tmp_path, None, "install",
                                "kubelet=1.20.1-1.1", "kubeadm=1.20.1-1.1", "kubectl=1.20.1-1.1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(a.split()[1] for a in actions) == ["kubeadm", "kubectl", "kubelet"], actions
    assert all(a.startswith("Inst ") and "(1.20.1-1.1 " in a for a in actions), actions


def test_upgrade_steps_of_the_role_on_held_packages(repo, server, tmp_path):
    """roles/kubeadm/tasks/upgrade.yml's apt steps on a node holding 1.20.1-1.1: kubeadm alone first (its Depends do
    not drag the kubelet along), refused without allow_change_held_packages, then kubelet and kubectl."""
    refused, _out = simulated(repo, server, tmp_path, OLD, "install", "kubeadm=1.20.2-1.1")
    assert refused.returncode != 0 and "Held packages were changed" in refused.stderr, refused.stderr
    result, actions = simulated(repo, server, tmp_path, OLD, "--allow-change-held-packages", "install",
                                "kubeadm=1.20.2-1.1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(actions) == 1 and actions[0].startswith("Inst kubeadm [1.20.1-1.1] (1.20.2-1.1 "), actions
    result, actions = simulated(repo, server, tmp_path, OLD, "--allow-change-held-packages", "install",
                                "kubelet=1.20.2-1.1", "kubectl=1.20.2-1.1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(actions) == ["Inst kubectl [1.20.1-1.1] (1.20.2-1.1 aiinfra-test kubernetes:127.0.0.1 [amd64])",
                               "Inst kubelet [1.20.1-1.1] (1.20.2-1.1 aiinfra-test kubernetes:127.0.0.1 [amd64])"]


def _contents(deb):
    """{path: (mode string, owner/group)} of a .deb's data."""
    listing = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True, env=ENV, check=True).stdout
    out = {}
    for line in listing.splitlines():
        parts = line.split()
        out[parts[5]] = (parts[0], parts[1])
    return out


def _control(deb, tmp_path, name):
    directory = tmp_path / ("ctrl-" + os.path.basename(deb))
    subprocess.run(["dpkg-deb", "-e", deb, str(directory)], check=True, env=ENV)
    path = directory / name
    return path.read_text() if path.exists() else None


def test_kubelet_package_carries_the_unit_and_defaults(repo, tmp_path):
    deb = repo.debs[("kubelet", "1.20.2-1.1")]
    contents = _contents(deb)
    for path, mode in (("./usr/bin/kubelet", "-rwxr-xr-x"),
                       ("./usr/lib/systemd/system/kubelet.service", "-rw-r--r--"),
                       ("./etc/default/kubelet", "-rw-r--r--"),
                       ("./etc/kubernetes/manifests/.kubelet-keep", "-rw-r--r--"),
                       ("./var/lib/kubelet/.kubelet-keep", "-rw-r--r--")):
        assert path in contents, sorted(contents)
        assert contents[path] == (mode, "root/root"), (path, contents[path])
    assert all(owner == "root/root" for _mode, owner in contents.values()), contents
    root = tmp_path / "kubelet"
    subprocess.run(["dpkg-deb", "-x", deb, str(root)], check=True, env=ENV)
    unit = (root / "usr/lib/systemd/system/kubelet.service").read_text()
    for line in ("ExecStart=/usr/bin/kubelet\n", "ConditionPathExists=/var/lib/kubelet/config.yaml\n",
                 "Restart=always\n", "WantedBy=multi-user.target\n"):
        assert line in unit, unit
    assert (root / "etc/default/kubelet").read_text() == "KUBELET_EXTRA_ARGS=\n"
    assert _control(deb, tmp_path, "conffiles") == "/etc/default/kubelet\n"
    postinst = _control(deb, tmp_path, "postinst")
    assert "deb-systemd-helper enable kubelet.service" in postinst and "daemon-reload" in postinst
    depends = subprocess.run(["dpkg-deb", "--field", deb, "Depends"], capture_output=True, text=True, env=ENV,
                             check=True).stdout.strip()
    assert depends == kube_debs.KUBELET_DEPENDS


def test_kubeadm_package_carries_the_upstream_dropin(repo, tmp_path):
    deb = repo.debs[("kubeadm", "1.20.1-1.1")]
    dropin = "./usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"
    contents = _contents(deb)
    assert contents.get(dropin) == ("-rw-r--r--", "root/root"), sorted(contents)
    assert contents.get("./usr/bin/kubeadm") == ("-rwxr-xr-x", "root/root")
    root = tmp_path / "kubeadm"
    subprocess.run(["dpkg-deb", "-x", deb, str(root)], check=True, env=ENV)
    text = (root / dropin[2:]).read_text()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines == [
        "[Service]",
        'Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf '
        '--kubeconfig=/etc/kubernetes/kubelet.conf"',
        'Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"',
        "EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env",
        "EnvironmentFile=-/etc/default/kubelet",
        "ExecStart=",
        "ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS "
        "$KUBELET_EXTRA_ARGS",
    ]
    depends = subprocess.run(["dpkg-deb", "--field", deb, "Depends"], capture_output=True, text=True, env=ENV,
                             check=True).stdout.strip()
    assert depends == "kubelet (>= 1.19.0), kubectl (>= 1.19.0)"
    # The unit file belongs to the kubelet package alone; kubeadm ships only the drop-in.
    assert "./usr/lib/systemd/system/kubelet.service" not in contents


def test_a_binary_in_the_wrong_package_version_is_refused(tmp_path):
    """build_deb checks the binary's own version: the v1.20.1 kubeadm cannot become kubeadm 1.20.2-1.1."""
    old = kube_debs.cached_binaries(OLD, ("kubeadm",))
    if old is None:
        _unavailable("the %s kubeadm is not built" % OLD)
    with pytest.raises(kube_debs.KubeDebsError, match="reports v1.20.1"):
        kube_debs.build_deb("kubeadm", old["kubeadm"], "1.20.2-1.1", str(tmp_path))
    assert not any(n.endswith(".deb") for n in os.listdir(str(tmp_path)))


def test_deb_version():
    assert kube_debs.deb_version("v1.20.2") == "1.20.2-1.1"
    assert kube_debs.deb_version("1.20.1", "2.3") == "1.20.1-2.3"
    for bad in ("v1.20", "latest", "v1.20.2-rc.0"):
        with pytest.raises(ValueError):
            kube_debs.deb_version(bad)
