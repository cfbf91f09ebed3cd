"""The platform services (#6) rendered for the lab and validated (render harness), and what their values must get
right: one registry address everywhere (Harbor's externalURL and NodePort, containerd's certs.d, Kaniko's
destinations, the registry Secret), TLS on only with its commonName, Longhorn's replica count checked against the
storage nodes, ArgoCD projects per tenant and an App of Apps over a deploy repository that is not the code
repository, Jenkins' job and Kaniko build pod, no credential in any URL, and a Jenkins job configuration that is
compared by meaning (Jenkins re-serialises what it is given)."""

import base64
import json
import re
import xml.etree.ElementTree as ET

import pytest
import yaml

from ansible_env import ansible_playbook, needs_collection, only_roles, registry_tls, yaml_docs
from ansible_env import lab as lab_render

from ansible_collections.aiinfra.cluster.plugins.module_utils.jenkins import job_config_differs, normalize_job_xml

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
    assert values["expose"]["tls"] == {"enabled": True, "certSource": "auto", "auto": {"commonName": "192.168.56.11"}}
    ports = values["expose"]["nodePort"]["ports"]
    assert ports["https"] == {"port": 30002, "nodePort": 30002} and ports["http"] == {"port": 30012, "nodePort": 30012}
    jenkinsfile = (tmp_path / "ci_pipeline" / "app" / "Jenkinsfile").read_text()
    assert '--skip-tls-verify-registry="${REGISTRY}"' in jenkinsfile and "--insecure-registry" not in jenkinsfile
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
    assert {"name": "gitea-credentials", "keyName": "token"} in values["additionalExistingSecrets"]
    assert "installPlugins" not in values and all(":" not in p for p in values["additionalPlugins"])
    # the webhook target exists: the gitea plugin is installed and knows the server
    assert "gitea" in values["additionalPlugins"]
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
    projects = {p["metadata"]["name"]: p["spec"] for p in yaml_docs(lab / "argocd" / "projects.yaml")}
    assert sorted(projects) == ["platform", "team-a", "team-b"]
    deploy_repo = "http://gitea-http.gitea.svc.cluster.local:3000/gitea_admin/demo-deploy.git"
    for tenant in ("team-a", "team-b"):
        spec = projects[tenant]
        assert spec["destinations"] == [{"server": "https://kubernetes.default.svc", "namespace": tenant}]
        assert spec["clusterResourceWhitelist"] == [] and spec["sourceRepos"] == [deploy_repo]
        assert {"group": "", "kind": "ResourceQuota"} in spec["namespaceResourceBlacklist"]
    assert projects["platform"]["namespaceResourceWhitelist"] == [{"group": "argoproj.io", "kind": "Application"}]
    assert projects["platform"]["clusterResourceWhitelist"] == [{"group": "", "kind": "Namespace"}]  # CreateNamespace
    root = yaml_docs(lab / "argocd" / "root-app.yaml")[0]["spec"]
    assert root["source"]["repoURL"] == deploy_repo and root["source"]["path"] == "apps"
    assert root["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert "CreateNamespace=true" in root["syncPolicy"]["syncOptions"]
    assert root["syncPolicy"]["retry"] == {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "3m"}}
    # the App of Apps finds the demo's Application in the deploy repository; code repo != deploy repo
    demo = yaml_docs(lab / "ci_pipeline" / "deploy" / "apps" / "demo-app.yaml")[0]
    assert demo["spec"]["source"]["repoURL"] == deploy_repo and demo["spec"]["source"]["path"] == "demo-app"
    assert demo["spec"]["project"] == "team-a" and demo["spec"]["destination"]["namespace"] == "team-a"
    assert "syncOptions" not in demo["spec"]["syncPolicy"]  # a tenant project may not create namespaces
    job = ET.parse(lab / "ci_pipeline" / "jenkins" / "demo-app.xml").getroot()
    assert job.findtext(".//repository") == "demo-app" != deploy_repo.rsplit("/", 1)[1][:-4]
    repo = yaml_docs(lab / "argocd" / "repo-secret.yaml")[0]
    assert repo["metadata"]["labels"] == {"argocd.argoproj.io/secret-type": "repository"}
    assert repo["stringData"]["url"] == deploy_repo
    values = yaml_docs(lab / "argocd" / "values" / "argo-cd.yaml")[0]
    assert values["server"]["service"]["nodePortHttp"] == 30480 and values["configs"]["params"]["server.insecure"] is True
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
    assert longhorn["service"]["ui"] == {"type": "NodePort", "nodePort": 30880}
    assert yaml_docs(lab / "longhorn" / "patches" / "storage-node-labels.yaml") == []


def test_longhorn_storage_group_and_impossible_replica_count(tmp_path):
    render(tmp_path / "workers", "-e", "longhorn_storage_group=k8s_workers", "-e", "longhorn_replica_count=2",
           roles=("longhorn",))
    labels = yaml_docs(tmp_path / "workers" / "longhorn" / "patches" / "storage-node-labels.yaml")
    assert [(n["kind"], n["metadata"]["name"], n["metadata"]["labels"]) for n in labels] == [
        ("Node", "w1", {"node.longhorn.io/create-default-disk": "true"}),
        ("Node", "g1", {"node.longhorn.io/create-default-disk": "true"})]
    assert yaml_docs(tmp_path / "workers" / "longhorn" / "values" / "longhorn.yaml")[0]["defaultSettings"][
        "createDefaultDiskLabeledNodes"] is True
    proc = render(tmp_path / "bad", "-e", "longhorn_storage_group=k8s_workers", "-e", "longhorn_replica_count=3",
                  roles=("longhorn",), ok=False)
    assert proc.returncode == 2
    assert "longhorn_replica_count is 3 but group k8s_workers has 2 node(s) (w1, g1)" in proc.stdout
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
