"""CI confined by ArgoCD's project rules (issue #16): the AppProjects the argocd role renders for the lab, evaluated
as data the way ArgoCD evaluates them, refuse every Application a CI job could author outside its tenant's project.

A CI job can write only where Jenkins' Gitea user can push (the deploy repository, the one the rendered Jenkinsfile
pushes to). The attack of the issue: push a branch, commit ``apps/x.yaml`` with ``project: default`` (or another
tenant's project, or a tenant project aimed at kube-system / cluster-scoped kinds), and let the App of Apps sync it.

ArgoCD's rules, as modelled here (argo-cd v2.13, ``AppProject.IsSourcePermitted``, ``IsDestinationPermitted``,
``IsGroupKindPermitted``):
- an Application names a project; a project that the role does not render is ArgoCD's built-in ``default``, created
  with ``sourceRepos: ['*']``, ``destinations: [{server: '*', namespace: '*'}]`` and every cluster kind allowed;
- ``sourceRepos`` are globs over the normalised URL (lower case, no ``.git``); ``!pattern`` denies;
- ``destinations`` are globs over server (or name) and namespace; every namespaced resource's namespace is checked too;
- cluster-scoped kinds need a ``clusterResourceWhitelist`` match (empty: none); namespaced kinds need a
  ``namespaceResourceWhitelist`` match when one is set, and no ``namespaceResourceBlacklist`` match.
"""

import fnmatch
import re

import pytest

from ansible_env import ansible_playbook, needs_collection, only_roles, yaml_docs

pytestmark = needs_collection

IN_CLUSTER = "https://kubernetes.default.svc"
# ArgoCD's built-in default project, as the API server creates it when no AppProject named default exists.
BUILTIN_DEFAULT = {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}],
                   "clusterResourceWhitelist": [{"group": "*", "kind": "*"}]}


def _norm_repo(url):
    url = url.strip().lower()
    return url[:-4] if url.endswith(".git") else url


def _glob(pattern, value):
    return fnmatch.fnmatchcase(value, pattern)


def source_permitted(project, repo):
    repo = _norm_repo(repo)
    patterns = [_norm_repo(p) if not p.startswith("!") else "!" + _norm_repo(p[1:]) for p in project.get("sourceRepos") or []]
    if any(p.startswith("!") and _glob(p[1:], repo) for p in patterns):
        return False
    return any(not p.startswith("!") and (p == repo or _glob(p, repo)) for p in patterns)


def destination_permitted(project, server, namespace):
    for dest in project.get("destinations") or []:
        if _glob(dest.get("server", ""), server) and _glob(dest.get("namespace", ""), namespace or ""):
            return True
    return False


def _kind_matches(rules, group, kind):
    return any(_glob(r.get("group", ""), group) and _glob(r.get("kind", ""), kind) for r in rules or [])


def kind_permitted(project, group, kind, namespaced):
    if namespaced:
        white = project.get("namespaceResourceWhitelist")
        allowed = not white or _kind_matches(white, group, kind)
        return allowed and not _kind_matches(project.get("namespaceResourceBlacklist"), group, kind)
    allowed = _kind_matches(project.get("clusterResourceWhitelist"), group, kind)
    return allowed and not _kind_matches(project.get("clusterResourceBlacklist"), group, kind)


def refusals(projects, app, resources):
    """Why ArgoCD refuses to sync ``resources`` (group, kind, namespace or None) of ``app``; empty: it syncs them."""
    spec = app["spec"]
    name = spec.get("project") or "default"
    if name not in projects and name != "default":
        return ["project %s does not exist" % name]
    project = projects.get(name, BUILTIN_DEFAULT)
    why = []
    if not source_permitted(project, spec["source"]["repoURL"]):
        why.append("source %s not permitted in project %s" % (spec["source"]["repoURL"], name))
    dest = spec["destination"]
    if not destination_permitted(project, dest.get("server", ""), dest.get("namespace", "")):
        why.append("destination %s not permitted in project %s" % (dest.get("namespace"), name))
    for group, kind, namespace in resources:
        if not kind_permitted(project, group, kind, namespace is not None):
            why.append("%s/%s not permitted in project %s" % (group, kind, name))
        elif namespace is not None and not destination_permitted(project, dest.get("server", ""), namespace):
            why.append("%s/%s in namespace %s not permitted in project %s" % (group, kind, namespace, name))
    return why


def application(project, repo, namespace, path="x"):
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "x"},
            "spec": {"project": project, "source": {"repoURL": repo, "path": path, "targetRevision": "main"},
                     "destination": {"server": IN_CLUSTER, "namespace": namespace}}}


# --- the evaluator itself, on hand-written projects (so a test below cannot pass because the evaluator is lax) ---

def test_evaluator_follows_argocd_rules():
    tenant = {"sourceRepos": ["http://git/org/deploy.git"], "destinations": [{"server": IN_CLUSTER, "namespace": "a"}],
              "clusterResourceWhitelist": [], "namespaceResourceBlacklist": [{"group": "", "kind": "ResourceQuota"}]}
    projects = {"a": tenant}
    ok = application("a", "http://GIT/org/deploy", "a")
    assert refusals(projects, ok, [("apps", "Deployment", "a")]) == []
    assert refusals(projects, ok, [("", "ResourceQuota", "a")])
    assert refusals(projects, ok, [("rbac.authorization.k8s.io", "ClusterRoleBinding", None)])
    assert refusals(projects, ok, [("apps", "Deployment", "kube-system")])
    assert refusals(projects, application("a", "http://git/org/other.git", "a"), [])
    assert refusals(projects, application("b", "http://git/org/deploy.git", "a"), []) == ["project b does not exist"]
    # an unmanaged default project is ArgoCD's built-in one: everything goes
    assert refusals(projects, application("default", "http://evil/x.git", "kube-system"),
                    [("rbac.authorization.k8s.io", "ClusterRoleBinding", None)]) == []
    assert not source_permitted({"sourceRepos": ["*", "!http://git/org/deploy"]}, "http://git/org/deploy.git")


# --- the lab's rendered projects ---

@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("gitops")
    proc = ansible_playbook("playbooks/render.yml", "-i", "inventories/lab", "-e", "render_dir=%s" % out,
                            *only_roles("gitea", "jenkins", "ci_pipeline", "argocd"))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def projects(rendered):
    return {p["metadata"]["name"]: p["spec"] for p in yaml_docs(rendered / "argocd" / "projects.yaml")}


@pytest.fixture(scope="module")
def ci_repo(rendered):
    """The repository a CI job can write: the one the rendered Jenkinsfile pushes the new image tag to."""
    jenkinsfile = (rendered / "ci_pipeline" / "app" / "Jenkinsfile").read_text()
    clones = re.findall(r'clone [^\n]*\\\n\s*"([^"]+)"', jenkinsfile)
    assert len(clones) == 1, jenkinsfile
    return clones[0]


def test_default_project_is_managed_and_locked(projects):
    default = projects.get("default")
    assert default is not None, "the default AppProject is left as ArgoCD ships it (any repo, destination, kind)"
    assert not default.get("sourceRepos") and not default.get("destinations")
    assert not default.get("clusterResourceWhitelist") and not default.get("namespaceResourceWhitelist")


@pytest.mark.parametrize("project,namespace,resources", [
    ("default", "kube-system", [("rbac.authorization.k8s.io", "ClusterRoleBinding", None)]),
    ("default", "team-a", [("apps", "Deployment", "team-a")]),
    ("team-a", "team-b", [("apps", "Deployment", "team-b")]),
    ("team-a", "kube-system", [("apps", "Deployment", "kube-system")]),
    ("team-a", "team-a", [("apps", "Deployment", "kube-system")]),
    ("team-a", "team-a", [("rbac.authorization.k8s.io", "ClusterRoleBinding", None)]),
    ("team-a", "team-a", [("", "Namespace", None)]),
    ("team-a", "team-a", [("", "ResourceQuota", "team-a")]),
    ("team-a", "team-a", [("", "LimitRange", "team-a")]),
    ("team-a", "team-a", [("networking.k8s.io", "NetworkPolicy", "team-a")]),
    ("team-a", "team-a", [("rbac.authorization.k8s.io", "RoleBinding", "team-a")]),
    ("team-a", "team-a", [("argoproj.io", "Application", "team-a")]),
    ("platform", "argocd", [("argoproj.io", "Application", "argocd")]),
    ("platform", "kube-system", [("apps", "Deployment", "kube-system")]),
])
def test_ci_authored_application_outside_its_project_is_refused(projects, ci_repo, project, namespace, resources):
    app = application(project, ci_repo, namespace)
    assert refusals(projects, app, resources), "ArgoCD would sync %s from %s into %s" % (resources, ci_repo, namespace)


def test_the_demo_application_is_allowed_in_its_tenant_project(projects, rendered, ci_repo):
    """The positive control: the pipeline's own Application (in the admin-owned GitOps repository, which the App of
    Apps reads) deploys what the CI commits to the deploy repository, Deployment and Service, into its tenant."""
    demo = yaml_docs(rendered / "ci_pipeline" / "gitops" / "apps" / "demo-app.yaml")[0]
    assert demo["spec"]["project"] == demo["spec"]["destination"]["namespace"] == "team-a"
    assert _norm_repo(demo["spec"]["source"]["repoURL"]) == _norm_repo(ci_repo)
    assert refusals(projects, demo, [("apps", "Deployment", "team-a"), ("", "Service", "team-a")]) == []


def test_root_app_reads_only_an_admin_owned_repository(projects, rendered, ci_repo):
    """The App of Apps must not read a repository the CI can push to: otherwise a pushed apps/x.yaml becomes an
    Application (in any project it names) that the root app syncs with prune."""
    root = yaml_docs(rendered / "argocd" / "root-app.yaml")[0]
    assert _norm_repo(root["spec"]["source"]["repoURL"]) != _norm_repo(ci_repo)
    # and the platform project that the root app runs in cannot source from the CI repository either
    assert refusals(projects, application(root["spec"]["project"], ci_repo, "argocd"),
                    [("argoproj.io", "Application", "argocd")])
    # the admin-owned repository is owned by the Gitea admin, not by the CI's user
    owner = _norm_repo(root["spec"]["source"]["repoURL"]).rsplit("/", 2)[-2]
    assert owner == "gitea_admin"
