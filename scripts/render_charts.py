"""Render every Helm release recorded in a render directory from the real upstream chart, with the real Helm engine.

Each cluster-level role's tasks/render.yml writes, next to its Helm values (`<role>/values/<chart>.yaml`), a release
record `<role>/values/<chart>.release.json`: {"chart", "version", "release", "namespace"}, from the same variables its
main tasks give kubernetes.core.helm (or k3s' HelmChart). For each record this script

- loads `<charts dir>/<chart>-<version>.tgz` (an error naming chart and version when there is none, or when the
  archive holds another chart or version),
- renders it offline (helm-python-sdk: Helm v4 as a library; install mode, `lookup` finds nothing) with exactly those
  values, release name and namespace; Helm itself checks the values against the chart's values.schema.json,
- writes each rendered template, and the CRDs of the chart's `crds/` directories (Helm installs those first), under
  `<role>/helm/<release>/` for scripts/validate_manifests.py (every object against the Kubernetes version; every
  custom resource against the CRDs the charts ship),
- checks that every value path the role sets is one the chart reads (scripts/chart_values.py): a path no template
  reads is a setting that silently does nothing.

The chart directory is `$AIINFRA_CHARTS_DIR`, default `../shared/charts` next to this repository.

    render_charts.py render/          # exit 0 when every release rendered and every value path is read

Exit status 0 when everything rendered and every value is read, 1 with one line per problem otherwise.
"""

import argparse
import dataclasses
import io
import json
import os
import re
import sys
import tarfile

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chart_values  # noqa: E402  (a sibling script)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHARTS_ENV = "AIINFRA_CHARTS_DIR"
DEFAULT_CHARTS_DIR = os.path.join(os.path.dirname(ROOT), "shared", "charts")
RELEASE_SUFFIX = ".release.json"
# How Helm splits a rendered template into documents (pkg/release/util SplitManifests).
SEPARATOR = re.compile(r"(?:^|\s*\n)---\s*")


class ChartLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """PyYAML's safe loader without the YAML 1.1 "value" type, which turns a plain `=` (an enum value in
    the Prometheus operator's CRDs) into an unknown tag; Go's YAML reads it as the string "="."""


ChartLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:value"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


class ChartError(Exception):
    """A release that cannot be rendered: the message names the chart, version and what to do."""


@dataclasses.dataclass
class Release:
    role: str
    chart: str
    version: str
    name: str
    namespace: str
    values_path: str

    @property
    def label(self):
        return "%s %s (release %s in %s, role %s)" % (self.chart, self.version, self.name, self.namespace, self.role)


@dataclasses.dataclass
class Rendered:
    release: Release
    values: dict
    # (template path, object) for every non-empty document; CRDs from crds/ directories come with path "crds/..."
    objects: list
    unread: list  # value paths the chart does not read (chart_values.Problem)


def charts_dir(explicit=None):
    """--charts-dir, else $AIINFRA_CHARTS_DIR, else shared/charts next to this checkout or next to one of the
    directories above it (a checkout placed deeper than its shared/ still finds it); the default path otherwise,
    so a missing directory is reported by name."""
    chosen = explicit or os.environ.get(CHARTS_ENV)
    if chosen:
        return os.path.abspath(chosen)
    here = os.path.dirname(ROOT)
    while True:
        candidate = os.path.join(here, "shared", "charts")
        if os.path.isdir(candidate):
            return candidate
        parent = os.path.dirname(here)
        if parent == here:
            return DEFAULT_CHARTS_DIR
        here = parent


def find_releases(render_dir):
    """Every release record under render_dir, in a stable order."""
    releases = []
    for base, _dirs, files in sorted(os.walk(render_dir)):
        if os.path.basename(base) != "values":
            continue
        for name in sorted(files):
            if not name.endswith(RELEASE_SUFFIX):
                continue
            path = os.path.join(base, name)
            with open(path) as f:
                meta = json.load(f)
            missing = [k for k in ("chart", "version", "release", "namespace") if not meta.get(k)]
            if missing:
                raise ChartError("%s: release record without %s" % (path, ", ".join(missing)))
            values_path = os.path.join(base, name[:-len(RELEASE_SUFFIX)] + ".yaml")
            if not os.path.exists(values_path):
                raise ChartError("%s: no values file %s next to the release record" % (path, values_path))
            role = os.path.relpath(base, render_dir).split(os.sep)[0]
            releases.append(Release(role, str(meta["chart"]), str(meta["version"]), str(meta["release"]),
                                    str(meta["namespace"]), values_path))
    return releases


def archive_path(chart, version, directory):
    path = os.path.join(directory, "%s-%s.tgz" % (chart, version))
    if not os.path.isfile(path):
        have = sorted(n[len(chart) + 1:-4] for n in os.listdir(directory)
                      if n.startswith(chart + "-") and n.endswith(".tgz")) if os.path.isdir(directory) else []
        raise ChartError("chart %s version %s: no archive %s (versions here: %s); put the chart archive there or point "
                         "%s at a directory that has it" % (chart, version, path, ", ".join(have) or "none", CHARTS_ENV))
    return path


def split_manifests(text):
    """Helm's split of a rendered template into YAML documents; the non-empty ones, parsed."""
    docs = []
    for part in SEPARATOR.split(text):
        if part.strip():
            doc = yaml.load(part, Loader=ChartLoader)  # noqa: S506  (a SafeLoader subclass)
            if doc:
                docs.append(doc)
    return docs


def load_values(path):
    with open(path) as f:
        values = yaml.safe_load(f)
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ChartError("%s: Helm values must be a mapping, got %s" % (path, type(values).__name__))
    return values


def api_versions(kube_version):
    """What Helm's .Capabilities.APIVersions holds on a cluster of this Kubernetes version ("group/version" and
    "group/version/Kind" of every built-in type), from kubernetes-validate's schemas of that version; charts choose
    apiVersions with it (Kyverno's PodDisruptionBudget: policy/v1 only when "policy/v1/PodDisruptionBudget" is there)."""
    import kubernetes_validate

    minor = re.match(r"^v?(1\.\d+)", str(kube_version)).group(1)
    base = os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema")
    directory = os.path.join(base, "v%s.0-local-strict" % minor)
    if not os.path.isdir(directory):
        raise ChartError("Kubernetes %s: kubernetes-validate has no schemas for it (have %s)" % (
            kube_version, ", ".join(sorted(d.split("-")[0] for d in os.listdir(base) if d.endswith("-local-strict")))))
    with open(os.path.join(directory, "_definitions.json")) as f:
        definitions = json.load(f)["$defs"]
    found = set()
    for definition in definitions.values():
        gvks = definition.get("x-kubernetes-group-version-kind") or []
        if len(gvks) != 1:
            continue  # DeleteOptions, WatchEvent, ...: not a resource of one group
        gvk = gvks[0]
        group_version = "%s/%s" % (gvk["group"], gvk["version"]) if gvk["group"] else gvk["version"]
        found.update((group_version, "%s/%s" % (group_version, gvk["kind"])))
    return sorted(found)


def _render(chart, values, release, kube_version):
    """Chart.render() with the target cluster's version and APIs: helm-python-sdk 0.2.2 takes kube_version and
    api_versions in its native render options (as `helm template --kube-version --api-versions` does) but its
    Python wrapper does not pass them yet, so the options go to the same native call directly."""
    from helm_python import _native

    options = {"name": release.name, "namespace": release.namespace, "is_install": True}
    if kube_version:
        options.update(kube_version=str(kube_version), api_versions=api_versions(kube_version))
    return json.loads(_native.call_string("helm_render", chart._raw(), json.dumps(values), json.dumps(options)))


def render_release(release, directory=None, kube_version=None):
    """Render one release from its archive; Rendered. Raises ChartError naming the chart and version."""
    from helm_python.chart import Chart  # helm-python-sdk; imported here so --help works without it

    path = archive_path(release.chart, release.version, charts_dir(directory))
    values = load_values(release.values_path)
    try:
        with Chart.load(path) as chart:
            if (chart.name, chart.version) != (release.chart, release.version):
                raise ChartError("chart %s version %s: %s holds chart %s version %s" % (
                    release.chart, release.version, path, chart.name, chart.version))
            output = _render(chart, values, release, kube_version)
            crds = chart.crds
    except ChartError:
        raise
    except Exception as exc:  # HelmValuesError, HelmRenderError, HelmChartLoadError
        raise ChartError("%s: %s: %s" % (release.label, type(exc).__name__, str(exc).strip())) from exc
    objects = []
    for crd in sorted(crds, key=lambda c: c["filename"]):
        try:
            docs = split_manifests(crd["data"])
        except yaml.YAMLError as exc:
            raise ChartError("%s: CRD file %s is invalid YAML: %s" % (release.label, crd["filename"], exc)) from exc
        objects.extend(("crds/" + crd["filename"].split("/crds/", 1)[-1], doc) for doc in docs)
    for template in sorted(output):
        if template.endswith("NOTES.txt"):
            continue
        try:
            docs = split_manifests(output[template])
        except yaml.YAMLError as exc:
            raise ChartError("%s: template %s renders invalid YAML: %s" % (release.label, template, exc)) from exc
        objects.extend((template, doc) for doc in docs)
    with open(path, "rb") as f:
        sources = chart_values.chart_sources(tarfile.open(fileobj=io.BytesIO(f.read()), mode="r:gz"))
    unread = chart_values.unread_paths(values, sources)
    return Rendered(release, values, objects, unread)


def write_rendered(rendered, render_dir):
    """Write the objects under <role>/helm/<release>/, one file per template; the files written."""
    base = os.path.join(render_dir, rendered.release.role, "helm", rendered.release.name)
    by_file = {}
    for template, obj in rendered.objects:
        by_file.setdefault(template, []).append(obj)
    written = []
    for template, objs in by_file.items():
        path = os.path.join(base, template)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            yaml.safe_dump_all(objs, f, sort_keys=False)
        written.append(path)
    return written


def render_tree(render_dir, directory=None, write=True):
    """Render every release recorded under render_dir for the Kubernetes version in its _render.json:
    (list of Rendered, list of problems as text)."""
    results, problems = [], []
    try:
        with open(os.path.join(render_dir, "_render.json")) as f:
            kube_version = json.load(f)["kubernetes_version"]
        releases = find_releases(render_dir)
    except (OSError, KeyError, ValueError) as exc:
        return results, ["%s: no target Kubernetes version (_render.json): %s" % (render_dir, exc)]
    except ChartError as exc:
        return results, [str(exc)]
    for release in releases:
        try:
            rendered = render_release(release, directory, kube_version)
        except ChartError as exc:
            problems.append(str(exc))
            continue
        results.append(rendered)
        problems += ["%s: %s" % (release.label, p) for p in rendered.unread]
        if write:
            write_rendered(rendered, render_dir)
    return results, problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", help="a render directory (playbooks/render.yml's render_dir)")
    parser.add_argument("--charts-dir", help="chart archives; default $%s or %s" % (CHARTS_ENV, DEFAULT_CHARTS_DIR))
    args = parser.parse_args(argv)
    if not os.path.isdir(args.directory):
        parser.error("%s is not a directory" % args.directory)
    results, problems = render_tree(args.directory, args.charts_dir)
    for problem in problems:
        print("INVALID " + problem)
    objects = sum(len(r.objects) for r in results)
    paths = sum(chart_values.count_paths(r.values) for r in results)
    print("rendered %d Helm releases from %s (%d objects); %d value paths checked: %d problems" % (
        len(results), charts_dir(args.charts_dir), objects, paths, len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
