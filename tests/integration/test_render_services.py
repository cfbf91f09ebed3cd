"""The platform services (#6) rendered for the lab and validated (render harness), and what their values must get
right: one registry address everywhere (Harbor's externalURL and NodePort, containerd's certs.d, Kaniko's
destinations, the registry Secret), TLS on only with its commonName, Longhorn's replica count checked against the
storage nodes, ArgoCD projects (default locked, one per tenant) and an App of Apps over the admin-owned GitOps
repository (neither the code nor the deploy repository), Jenkins' job and Kaniko build pod, no credential in any URL, and a Jenkins job configuration that is
compared by meaning (Jenkins re-serialises what it is given)."""

import base64
import json
import re
import xml.etree.ElementTree as ET

import pytest
import yaml

from ansible_env import ansible_playbook, needs_collection, only_roles, registry_tls, yaml_docs
from ansible_env import lab as lab_render

from ansible_collections.aiinfra.cluster.plugins.plugin_utils.jenkins import job_config_differs, normalize_job_xml

pytestmark = needs_collection

SERVICES = ("longhorn", "harbor", "gitea", "jenkins", "ci_pipeline", "argocd")
ADDRESS = "192.168.56.11:30002"


def render(out, *extra, roles=SERVICES, ok=True):
    proc = ansible_playbook("playbooks/render.yml", "-i", "inventories/lab", "-e", "render_dir=%s" % out,
                            *only_roles(*roles), *extra)
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def lab():
    return lab_render().out  # the lab render shared by the render tests (validated in test_render_charts.py)


def test_one_registry_address_everywhere(lab):
    values = yaml_docs(lab / "harbor" / "values" / "harbor.yaml")[0]
    assert values["externalURL"] == "http://" + ADDRESS
    assert values["expose"]["tls"] == {"enabled": False}
    http = values["expose"]["nodePort"]["ports"]["http"]
    # the Service port equals the NodePort, and both are the port of the address
    assert http["port"] == http["nodePort"] == int(ADDRESS.split(":")[1])
    assert "harborAdminPassword" not in values and values["existingSecretAdminPassword"] == "harbor-credentials"
    # the registry Secret: a dockerconfigjson for exactly that address, with the robot's name
    for ns in ("jenkins", "team-a"):
        secret = yaml_docs(lab / "harbor" / ("registry-secret-%s.yaml" % ns))[0]
        assert secret["type"] == "kubernetes.io/dockerconfigjson" and secret["metadata"]["namespace"] == ns
        config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
        assert list(config["auths"]) == [ADDRESS]
        auth = config["auths"][ADDRESS]
        assert base64.b64decode(auth["auth"]).decode() == "robot$platform+ci:" + auth["password"]
    # tenants keep their own namespace labels: only Harbor's namespace is labelled by the harbor role
    assert "labels" not in yaml_docs(lab / "harbor" / "namespace-team-a.yaml")[0]["metadata"]
    # plain HTTP (the lab's explicit choice): no CA to hand out
    assert not list((lab / "harbor").glob("registry-ca-*.yaml"))
    # Kaniko pushes to the same address, with a cache in Harbor kept a week, tagged with the git SHA
    jenkinsfile = (lab / "ci_pipeline" / "app" / "Jenkinsfile").read_text()
    assert "REGISTRY = '%s'" % ADDRESS in jenkinsfile and "IMAGE = '%s/platform/demo-app'" % ADDRESS in jenkinsfile
    for flag in ('--destination "${IMAGE}:${GIT_COMMIT}"', "--cache=true",
                 '--cache-repo="${REGISTRY}/platform/kaniko-cache"', "--cache-ttl=168h",
                 '--insecure-registry="${REGISTRY}"'):
        assert flag in jenkinsfile
    deployment = yaml_docs(lab / "ci_pipeline" / "deploy" / "demo-app" / "deployment.yaml")[0]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].startswith(ADDRESS + "/platform/demo-app:")


def test_tls_registry():
    tmp_path = registry_tls().out
    values = yaml_docs(tmp_path / "harbor" / "values" / "harbor.yaml")[0]
    assert values["externalURL"] == "https://" + ADDRESS
    assert values["expose"]["tls"] == {"enabled": True, "certSource": "secret", "secret": {"secretName": "harbor-tls"}}
    ports = values["expose"]["nodePort"]["ports"]
    assert ports["https"] == {"port": 30002, "nodePort": 30002} and ports["http"] == {"port": 30012, "nodePort": 30012}
    # Kaniko verifies the registry's certificate with its CA (#16): never skip-verify, never plain HTTP
    jenkinsfile = (tmp_path / "ci_pipeline" / "app" / "Jenkinsfile").read_text()
    assert '--registry-certificate="${REGISTRY}=/kaniko/registry-ca/ca.crt"' in jenkinsfile
    assert "skip-tls-verify" not in jenkinsfile and "--insecure-registry" not in jenkinsfile
    pod = yaml_docs(tmp_path / "ci_pipeline" / "app" / "ci" / "kaniko-pod.yaml")[0]["spec"]
    kaniko = next(c for c in pod["containers"] if c["name"] == "kaniko")
    assert {"name": "registry-ca", "mountPath": "/kaniko/registry-ca", "readOnly": True} in kaniko["volumeMounts"]
    assert {"name": "registry-ca", "configMap": {"name": "registry-ca"}} in pod["volumes"]
    # the harbor role hands that CA to every namespace that gets the registry Secret
    for ns in ("jenkins", "team-a"):
        ca = yaml_docs(tmp_path / "harbor" / ("registry-ca-%s.yaml" % ns))[0]
        assert ca["kind"] == "ConfigMap" and ca["metadata"] == {
            "name": "registry-ca", "namespace": ns, "labels": {"app.kubernetes.io/managed-by": "aiinfra.cluster"}}
        assert list(ca["data"]) == ["ca.crt"]
    assert registry_tls().validation().returncode == 0


def test_kaniko_build_pod(lab):
    pod = yaml_docs(lab / "ci_pipeline" / "app" / "ci" / "kaniko-pod.yaml")[0]
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "jenkins-agent"
    kaniko = next(c for c in spec["containers"] if c["name"] == "kaniko")
    assert kaniko["image"].endswith("-debug") and kaniko["command"] == ["/busybox/cat"] and kaniko["tty"] is True
    assert {"name": "docker-config", "mountPath": "/kaniko/.docker", "readOnly": True} in kaniko["volumeMounts"]
    volume = next(v for v in spec["volumes"] if v["name"] == "docker-config")
    assert volume["secret"] == {"secretName": "harbor-registry", "items": [{"key": ".dockerconfigjson", "path": "config.json"}]}
    for container in spec["containers"]:
        assert set(container["resources"]) == {"requests", "limits"}, container["name"]
    # the agent's service account may read that Secret and nothing else
    role, binding = yaml_docs(lab / "jenkins" / "agent-rbac.yaml")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["harbor-registry"],
                              "verbs": ["get"]}]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "jenkins-agent", "namespace": "jenkins"}]


def test_jenkins_job_and_credentials(lab):
    job = ET.parse(lab / "ci_pipeline" / "jenkins" / "demo-app.xml").getroot()
    source = job.find(".//source")
    assert source.get("class") == "org.jenkinsci.plugin.gitea.GiteaSCMSource"
    assert source.findtext("serverUrl") == "http://gitea-http.gitea.svc.cluster.local:3000"
    assert source.findtext("repository") == "demo-app" and source.findtext("credentialsId") == "gitea-token"
    assert job.findtext(".//scriptPath") == "Jenkinsfile"
    values = yaml_docs(lab / "jenkins" / "values" / "jenkins.yaml")[0]["controller"]
    casc = yaml.safe_load(values["JCasC"]["configScripts"]["aiinfra-credentials"])
    credential = casc["credentials"]["system"]["domainCredentials"][0]["credentials"][0]["usernamePassword"]
    assert credential["id"] == "gitea-token" and credential["password"] == "${gitea-credentials-token}"
    # Jenkins' own Gitea user, never the site admin (#16)
    assert credential["username"] == "jenkins" != source.findtext("repoOwner") == "gitea_admin"
    assert {"name": "gitea-credentials", "keyName": "token"} in values["additionalExistingSecrets"]
    assert "installPlugins" not in values and all(":" not in p for p in values["additionalPlugins"])
    # the gitea plugin knows the server; the webhook goes to multibranch-scan-webhook-trigger, which scans the job
    # only with the shared token (the gitea plugin's own endpoint checks no secret), set in the job (#16)
    assert {"gitea", "multibranch-scan-webhook-trigger"} <= set(values["additionalPlugins"])
    trigger = job.find("triggers/com.igalg.jenkins.plugins.mswt.trigger.ComputedFolderWebHookTrigger")
    assert trigger is not None and re.match(r"^[0-9a-f]{48}$", trigger.findtext("token"))
    # no credential in any URL of anything rendered
    for path in lab.rglob("*"):
        if path.is_file():
            assert not re.search(r"\w+://[^/\s:@'\"]+:[^/\s@'\"]+@", path.read_text()), path


def test_job_configuration_compared_by_meaning(lab):
    wanted = (lab / "ci_pipeline" / "jenkins" / "demo-app.xml").read_text()
    # what Jenkins gives back: declaration 1.1, plugin attributes, its own indentation
    stored = ET.fromstring(re.sub(r"^<\?xml[^>]*\?>", "", wanted).strip())
    stored.set("plugin", "workflow-multibranch@795.ve0cb_1f45ca_9a_")
    stored.find(".//source").set("plugin", "gitea@234.v0c9d7b_9b_9d5b_")
    for element in stored.iter():
        element.tail = "\n    " if element.tail else None
    as_stored = "<?xml version='1.1' encoding='UTF-8'?>\n" + ET.tostring(stored, encoding="unicode")
    assert as_stored != wanted
    assert job_config_differs(as_stored, wanted) is False
    assert job_config_differs("", wanted) is True  # a missing job
    assert job_config_differs(as_stored.replace("<credentialsId>gitea-token<", "<credentialsId>other<"), wanted) is True
    assert normalize_job_xml(wanted).startswith("<org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject>")


def test_gitops(lab):
    """The projects' shape; tests/integration/test_gitops_confinement.py evaluates them against CI-authored Applications."""
    projects = {p["metadata"]["name"]: p["spec"] for p in yaml_docs(lab / "argocd" / "projects.yaml")}
    assert sorted(projects) == ["default", "platform", "team-a", "team-b"]
    gitea = "http://gitea-http.gitea.svc.cluster.local:3000/gitea_admin/"
    deploy_repo, gitops_repo = gitea + "demo-deploy.git", gitea + "gitops.git"
    # default: locked (ArgoCD would otherwise create it open to any repository, destination and kind)
    assert projects["default"]["sourceRepos"] == [] and projects["default"]["destinations"] == []
    assert projects["default"]["clusterResourceWhitelist"] == []
    for tenant in ("team-a", "team-b"):
        spec = projects[tenant]
        assert spec["destinations"] == [{"server": "https://kubernetes.default.svc", "namespace": tenant}]
        assert spec["clusterResourceWhitelist"] == [] and spec["sourceRepos"] == [deploy_repo]
        for kind in ({"group": "", "kind": "ResourceQuota"}, {"group": "rbac.authorization.k8s.io", "kind": "RoleBinding"},
                     {"group": "argoproj.io", "kind": "*"}):
            assert kind in spec["namespaceResourceBlacklist"]
    assert projects["platform"]["sourceRepos"] == [gitops_repo]
    assert projects["platform"]["namespaceResourceWhitelist"] == [{"group": "argoproj.io", "kind": "Application"}]
    assert projects["platform"]["clusterResourceWhitelist"] == [{"group": "", "kind": "Namespace"}]  # CreateNamespace
    # the App of Apps reads the admin-owned GitOps repository, never the deploy repository CI writes
    root = yaml_docs(lab / "argocd" / "root-app.yaml")[0]["spec"]
    assert root["source"]["repoURL"] == gitops_repo and root["source"]["path"] == "apps"
    assert root["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert "CreateNamespace=true" in root["syncPolicy"]["syncOptions"]
    assert root["syncPolicy"]["retry"] == {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "3m"}}
    # the demo's Application is in the GitOps repository and syncs the deploy repository through its tenant's project
    demo = yaml_docs(lab / "ci_pipeline" / "gitops" / "apps" / "demo-app.yaml")[0]
    assert demo["spec"]["source"]["repoURL"] == deploy_repo and demo["spec"]["source"]["path"] == "demo-app"
    assert demo["spec"]["project"] == "team-a" and demo["spec"]["destination"]["namespace"] == "team-a"
    assert "syncOptions" not in demo["spec"]["syncPolicy"]  # a tenant project may not create namespaces
    assert not (lab / "ci_pipeline" / "deploy" / "apps").exists()
    # code repo != deploy repo; Jenkins pushes to the deploy repository only
    job = ET.parse(lab / "ci_pipeline" / "jenkins" / "demo-app.xml").getroot()
    assert job.findtext(".//repository") == "demo-app" != deploy_repo.rsplit("/", 1)[1][:-4]
    jenkinsfile = (lab / "ci_pipeline" / "app" / "Jenkinsfile").read_text()
    assert '"%s" deploy' % deploy_repo in jenkinsfile and gitops_repo not in jenkinsfile
    # one repository Secret per repository ArgoCD reads, with Gitea's read-only token
    repos = yaml_docs(lab / "argocd" / "repo-secret.yaml")
    assert [r["stringData"]["url"] for r in repos] == [gitops_repo, deploy_repo]
    for repo in repos:
        assert repo["metadata"]["labels"] == {"argocd.argoproj.io/secret-type": "repository"}
    # HTTPS with ArgoCD's own certificate (#16: no insecure server by default)
    values = yaml_docs(lab / "argocd" / "values" / "argo-cd.yaml")[0]
    assert values["server"]["service"]["nodePortHttps"] == 30444 and values["configs"]["params"]["server.insecure"] is False
    assert values["configs"]["cm"]["url"] == "https://192.168.56.11:30444"
    assert re.match(r"^\$2b\$12\$.{53}$", values["configs"]["secret"]["argocdServerAdminPassword"])


def test_gitea_and_longhorn_values(lab):
    gitea = yaml_docs(lab / "gitea" / "values" / "gitea.yaml")[0]
    assert gitea["gitea"]["admin"] == {"existingSecret": "gitea-admin", "email": "gitea-admin@platform.local"}
    assert gitea["gitea"]["config"]["webhook"]["ALLOWED_HOST_LIST"] == "private"
    assert gitea["gitea"]["config"]["server"]["ROOT_URL"] == "http://192.168.56.11:30310/"
    assert gitea["service"]["http"]["nodePort"] == 30310 and gitea["persistence"]["storageClass"] == "longhorn"
    longhorn = yaml_docs(lab / "longhorn" / "values" / "longhorn.yaml")[0]
    assert longhorn["persistence"]["defaultClass"] is True
    assert longhorn["persistence"]["defaultClassReplicaCount"] == longhorn["defaultSettings"]["defaultReplicaCount"] == 3
    assert longhorn["defaultSettings"]["createDefaultDiskLabeledNodes"] is False
    # the UI has no login: cluster-internal unless k8s_longhorn_ui_node_port opens it (#16)
    assert longhorn["service"]["ui"] == {"type": "ClusterIP", "nodePort": None}
    assert yaml_docs(lab / "longhorn" / "patches" / "storage-node-labels.yaml") == []


def test_longhorn_storage_group_and_impossible_replica_count(tmp_path):
    render(tmp_path / "workers", "-e", "k8s_storage_group=k8s_workers", "-e", "k8s_storage_replicas=2",
           "-e", "k8s_longhorn_ui_node_port=30880", roles=("longhorn",))
    labels = yaml_docs(tmp_path / "workers" / "longhorn" / "patches" / "storage-node-labels.yaml")
    assert [(n["kind"], n["metadata"]["name"], n["metadata"]["labels"]) for n in labels] == [
        ("Node", "w1", {"node.longhorn.io/create-default-disk": "true"}),
        ("Node", "g1", {"node.longhorn.io/create-default-disk": "true"})]
    values = yaml_docs(tmp_path / "workers" / "longhorn" / "values" / "longhorn.yaml")[0]
    assert values["defaultSettings"]["createDefaultDiskLabeledNodes"] is True
    assert values["service"]["ui"] == {"type": "NodePort", "nodePort": 30880}  # exposed only when asked
    proc = render(tmp_path / "bad", "-e", "k8s_storage_group=k8s_workers", "-e", "k8s_storage_replicas=3",
                  roles=("longhorn",), ok=False)
    assert proc.returncode == 2
    assert "k8s_storage_replicas is 3 but group k8s_workers has 2 node(s) (w1, g1)" in proc.stdout
    assert not (tmp_path / "bad" / "longhorn").exists()  # stopped before writing anything


def test_kyverno_exceptions_cover_every_service_namespace(tmp_path):
    render(tmp_path, "-e", "security_baseline_kyverno_action=Enforce", roles=("security_baseline",))
    exceptions = [d for d in yaml_docs(tmp_path / "security_baseline" / "kyverno-policies.yaml")
                  if d["kind"] == "PolicyException"]
    assert exceptions, "Enforce without PolicyExceptions would block the platform's own charts"
    covered = set()
    for exception in exceptions:
        for match in exception["spec"]["match"]["any"]:
            covered.update(match["resources"].get("namespaces", []))
    assert {"longhorn-system", "harbor", "gitea", "jenkins", "argocd"} <= covered
