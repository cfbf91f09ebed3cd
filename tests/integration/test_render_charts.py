"""Every Helm release rendered from the real upstream chart (../shared/charts, or $AIINFRA_CHARTS_DIR) with the real
Helm engine (helm-python-sdk), with exactly the values, release name and namespace the roles use, for the lab and the
variants that change what the roles promise (registry TLS on/off, k3s/kubeadm, WireGuard/IPsec, MIG none/single/
mixed). Each promise a role makes is asserted on the objects the chart renders, one test per promise; every value
path a role sets must be one the chart reads; every object (the charts' and ours) validates against the Kubernetes
version and the CRDs the charts ship. Each variant is rendered once per pytest process and shared."""

import base64
import json
import os

import pytest
import yaml

from ansible_env import (ROOT, gpu_mixed, kubeadm_ipsec, lab, mig_single, needs_collection, registry_tls,
                         serving_namespace, yaml_docs)

import validate_manifests as vm  # scripts/, put on sys.path by ansible_env

pytestmark = needs_collection

REGISTRY_HOST, REGISTRY_PORT = "192.168.56.11", 30002
LAB_CONTROL_PLANES = ["192.168.56.11", "192.168.56.12", "192.168.56.13"]


VARIANTS = {"lab": lab, "lab-tls": registry_tls, "kubeadm-ipsec": kubeadm_ipsec, "gpu-mixed": gpu_mixed, "mig-single": mig_single,
            "serving-namespace": serving_namespace}
LAB_RELEASES = {"cilium", "longhorn", "harbor", "gitea", "jenkins", "argocd", "gpu-operator", "kube-prometheus-stack",
                "loki", "alloy", "kyverno", "metallb", "ingress-nginx", "cert-manager"}


def data(obj, key):
    """A ConfigMap's or Secret's value, decoded."""
    if obj["kind"] == "Secret" and key in (obj.get("data") or {}):
        return base64.b64decode(obj["data"][key]).decode()
    return (obj.get("data") or obj.get("stringData"))[key]


def env(container):
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env") or []}


# --- The harness itself ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_release_renders_and_every_value_is_read(variant):
    releases, problems = VARIANTS[variant]().charts()
    assert problems == []
    assert releases, variant
    if variant == "lab":
        assert set(releases) == LAB_RELEASES


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_everything_validates(variant):
    result = VARIANTS[variant]().validation()
    assert result.returncode == 0, result.stdout + result.stderr
    assert ": 0 invalid" in result.stdout


PINS = {"cilium": ("cilium", "cilium_version"), "longhorn": ("longhorn", "longhorn_chart_version"),
        "harbor": ("harbor", "harbor_chart_version"), "gitea": ("gitea", "gitea_chart_version"),
        "jenkins": ("jenkins", "jenkins_chart_version"), "argo-cd": ("argocd", "argocd_chart_version"),
        "gpu-operator": ("gpu_operator", "gpu_operator_version"),
        "kube-prometheus-stack": ("observability", "observability_prometheus_stack_version"),
        "loki": ("observability", "observability_loki_version"), "alloy": ("observability", "observability_alloy_version"),
        "kyverno": ("security_baseline", "security_baseline_kyverno_version"),
        "metallb": ("network", "network_metallb_version"), "ingress-nginx": ("network", "network_ingress_version"),
        "cert-manager": ("network", "network_cert_manager_version")}


def test_each_release_uses_the_chart_version_the_role_pins():
    releases, _problems = lab().charts()
    seen = {}
    for rendered in releases.values():
        release = rendered.release
        role, variable = PINS[release.chart]
        with open(os.path.join(ROOT, "roles", role, "defaults", "main.yml")) as f:
            assert str(yaml.safe_load(f)[variable]) == release.version, release.label
        assert release.role == role
        seen[release.chart] = (release.name, release.namespace)
    assert seen == {"cilium": ("cilium", "kube-system"), "longhorn": ("longhorn", "longhorn-system"),
                    "harbor": ("harbor", "harbor"), "gitea": ("gitea", "gitea"), "jenkins": ("jenkins", "jenkins"),
                    "argo-cd": ("argocd", "argocd"), "gpu-operator": ("gpu-operator", "gpu-operator"),
                    "kube-prometheus-stack": ("kube-prometheus-stack", "monitoring"), "loki": ("loki", "monitoring"),
                    "alloy": ("alloy", "monitoring"), "kyverno": ("kyverno", "kyverno"),
                    "metallb": ("metallb", "metallb-system"), "ingress-nginx": ("ingress-nginx", "ingress-nginx"),
                    "cert-manager": ("cert-manager", "cert-manager")}


OUR_CUSTOM_RESOURCES = {"AppProject", "Application", "ClusterPolicy", "PolicyException", "IPAddressPool",
                        "L2Advertisement", "ClusterIssuer", "Certificate", "PrometheusRule"}


def test_our_custom_resources_are_checked_against_the_crds_of_the_charts_we_install():
    render = lab()
    render.charts()
    files = vm.read_tree(str(render.out))
    crds = vm.crd_catalogue([(rel, obj) for rel, docs in files if "/helm/" in rel for _i, obj in vm._objects(docs)
                             if obj.get("kind") == "CustomResourceDefinition"])
    ours = [(rel, obj) for rel, docs in files if "/helm/" not in rel and vm.category(rel) is None
            for _i, obj in vm._objects(docs) if obj.get("kind") in OUR_CUSTOM_RESOURCES]
    assert {obj["kind"] for _rel, obj in ours} == OUR_CUSTOM_RESOURCES
    for rel, obj in ours:
        assert (obj["apiVersion"], obj["kind"]) in crds, rel  # the chart's CRD, not a schema of ours
        source = crds[obj["apiVersion"], obj["kind"]][2]
        assert source.split("/")[1] == "helm", (rel, source)
        assert vm.validate_object(obj, "1.31", crds=crds) == []
    # a misspelled field in one of ours is caught by the chart's CRD
    rel, project = next((rel, obj) for rel, obj in ours if obj["kind"] == "AppProject")
    broken = dict(project, spec=dict(project["spec"], destination=project["spec"]["destinations"]))
    assert vm.validate_object(broken, "1.31", crds=crds) == [
        "AppProject: Additional properties are not allowed ('destination' was unexpected) (at spec)"]
    # only k3s' HelmChart keeps a schema of ours (its CRD ships with k3s)
    assert sorted(os.listdir(os.path.join(ROOT, "schemas", "crds"))) == ["helm.cattle.io_v1"]


def _secret_refs(node):
    """(secret name, key) of every secretKeyRef, secret volume item and projected secret item under node."""
    if isinstance(node, dict):
        reference = node.get("secretKeyRef")
        if isinstance(reference, dict) and isinstance(reference.get("name"), str) and "key" in reference:
            yield reference["name"], reference["key"]
        secret = node.get("secret") if isinstance(node.get("secret"), dict) else {}
        for item in secret.get("items") or []:
            yield secret.get("secretName", secret.get("name")), item["key"]
        for value in node.values():
            yield from _secret_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _secret_refs(value)


@pytest.mark.parametrize("variant", ["lab", "lab-tls"])
def test_the_charts_read_only_keys_our_secrets_have(variant):
    render = VARIANTS[variant]()
    ours = {}
    for path in render.out.glob("*/*.yaml"):
        for doc in yaml_docs(path):
            if doc.get("kind") == "Secret":
                ours[doc["metadata"].get("namespace"), doc["metadata"]["name"]] = \
                    set(doc.get("data") or {}) | set(doc.get("stringData") or {})
    releases, _problems = render.charts()
    checked = 0
    for rendered in releases.values():
        for _template, obj in rendered.objects:
            if obj["kind"] == "CustomResourceDefinition":
                continue
            namespace = obj["metadata"].get("namespace", rendered.release.namespace)
            for name, key in _secret_refs(obj.get("spec")):
                if (namespace, name) in ours:
                    checked += 1
                    assert key in ours[namespace, name], (rendered.release.label, obj["kind"], name, key)
    # lab: Harbor's admin password and secret key, Gitea's admin, Jenkins' admin and Gitea token, Grafana's admin;
    # the TLS variant renders Harbor (and ArgoCD) only
    assert checked >= {"lab": 8, "lab-tls": 2}[variant]


def install_order():
    """The roles in the order playbooks/site.yml runs them (first appearance)."""
    with open(os.path.join(ROOT, "playbooks", "site.yml")) as f:
        plays = yaml.safe_load(f)
    order = []
    for play in plays:
        names = [r if isinstance(r, str) else r["role"] for r in play.get("roles") or []]
        names += [t[k]["name"] for t in play.get("tasks") or [] for k in t
                  if k in ("ansible.builtin.import_role", "ansible.builtin.include_role")]
        order += [n.split(".")[-1] for n in names if n.split(".")[-1] not in order]
    return order


def test_every_layer_installs_only_custom_resources_whose_crd_is_already_there():
    """A Helm install (or an apply) of a custom resource fails while its CRD is missing: the CRD must come from an
    earlier layer, or from the same release's crds/ directory (installed before its templates), or the same role's
    earlier release. The network layer's charts, for example, cannot create ServiceMonitors (kube-prometheus-stack
    installs that CRD later, in the observability layer)."""
    render = lab()
    order = install_order()
    releases, _problems = render.charts()
    providers = {}  # (apiVersion, kind) -> (layer index, release, from crds/)
    for rendered in releases.values():
        for template, obj in rendered.objects:
            if obj.get("kind") == "CustomResourceDefinition":
                for version in obj["spec"]["versions"]:
                    key = ("%s/%s" % (obj["spec"]["group"], version["name"]), obj["spec"]["names"]["kind"])
                    providers.setdefault(key, (order.index(rendered.release.role), rendered.release.name,
                                               template.startswith("crds/")))
    installs = [(order.index(r.release.role), r.release.name, t, o) for r in releases.values() for t, o in r.objects]
    for path in render.out.glob("*/*.yaml"):
        role = path.parent.name
        if role in order:
            installs += [(order.index(role), None, path.name, o) for o in yaml_docs(path)]
    checked = 0
    for layer, release, source, obj in installs:
        key = (obj.get("apiVersion"), obj.get("kind"))
        if key not in providers:
            continue  # built in, or k3s' HelmChart (its CRD comes with k3s)
        checked += 1
        provider_layer, provider_release, from_crds_dir = providers[key]
        where = "%s %s (%s, %s) in layer %s" % (
            obj["kind"], obj["metadata"]["name"], release or "manifest", source, order[layer])
        assert provider_layer <= layer, "%s: its CRD comes with %s, a later layer (%s)" % (
            where, provider_release, order[provider_layer])
        if provider_release == release:
            assert from_crds_dir, "%s: its CRD is a template of the same release" % where
    assert checked >= 20


# --- Harbor: one registry address --------------------------------------------------------------------------------

def harbor_nodeport(render):
    services = [s for s in render.objects("harbor", "Service") if s["spec"].get("type") == "NodePort"]
    assert len(services) == 1
    return services[0]


def test_harbor_nodeport_service_port_equals_nodeport_equals_the_registry_port():
    ports = harbor_nodeport(lab())["spec"]["ports"]
    assert [(p["name"], p["port"], p["nodePort"]) for p in ports] == [("http", REGISTRY_PORT, REGISTRY_PORT)]


def test_harbor_nodeport_with_tls_serves_https_on_the_registry_port():
    ports = {p["name"]: p for p in harbor_nodeport(registry_tls())["spec"]["ports"]}
    assert ports["https"]["port"] == ports["https"]["nodePort"] == REGISTRY_PORT
    assert ports["http"]["port"] == ports["http"]["nodePort"] != REGISTRY_PORT


@pytest.mark.parametrize("variant,scheme", [("lab", "http"), ("lab-tls", "https")])
def test_harbor_core_external_endpoint_is_the_one_registry_address(variant, scheme):
    core = VARIANTS[variant]().one("harbor", "ConfigMap", "harbor-core")
    assert data(core, "EXT_ENDPOINT") == "%s://%s:%d" % (scheme, REGISTRY_HOST, REGISTRY_PORT)


def nginx_certificate_secret(render):
    """The Secret whose certificate Harbor's nginx serves (its `certificate` volume), or None: the harbor role's own
    (rendered under harbor/, applied before the chart), never one the chart generates."""
    nginx = render.one("harbor", "Deployment", "harbor-nginx")
    volumes = {v["name"]: v for v in nginx["spec"]["template"]["spec"]["volumes"]}
    if "certificate" not in volumes:
        return None
    name = volumes["certificate"]["secret"]["secretName"]
    assert render.objects("harbor", "Secret", name) == [], name  # not the chart's
    ours = [doc for path in (render.out / "harbor").glob("*.yaml") for doc in yaml_docs(path)
            if doc.get("kind") == "Secret" and doc["metadata"]["name"] == name]
    assert len(ours) == 1, name
    return ours[0]


def test_harbor_tls_certificate_is_issued_for_the_registry_host():
    import ipaddress

    from cryptography import x509
    from cryptography.x509.oid import NameOID

    secret = nginx_certificate_secret(registry_tls())
    cert = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == REGISTRY_HOST
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address(REGISTRY_HOST)]
    # signed by the CA the nodes and Kaniko trust (the Secret's ca.crt, the platform registry CA)
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["ca.crt"])))


def test_harbor_without_tls_serves_no_certificate():
    assert nginx_certificate_secret(lab()) is None


# --- Cilium --------------------------------------------------------------------------------------------------------

def cilium_config(render):
    return render.one("cilium", "ConfigMap", "cilium-config")["data"]


def test_cilium_wireguard_on_in_the_lab():
    config = cilium_config(lab())
    assert config["enable-wireguard"] == "true" and config.get("enable-ipsec", "false") == "false"


def test_cilium_ipsec_on_with_kubeadm_ipsec():
    render = kubeadm_ipsec()
    config = cilium_config(render)
    assert config["enable-ipsec"] == "true" and config.get("enable-wireguard", "false") == "false"
    agent = render.one("cilium", "DaemonSet", "cilium")
    volumes = {v["name"]: v for v in agent["spec"]["template"]["spec"]["volumes"]}
    assert volumes["cilium-ipsec-secrets"]["secret"]["secretName"] == "cilium-ipsec-keys"  # the Secret the role writes
    assert yaml_docs(render.out / "cilium" / "ipsec-secret.yaml")[0]["metadata"]["name"] == "cilium-ipsec-keys"


@pytest.mark.parametrize("variant", ["lab", "kubeadm-ipsec"])
def test_cilium_replaces_kube_proxy(variant):
    assert cilium_config(VARIANTS[variant]())["kube-proxy-replacement"] == "true"


@pytest.mark.parametrize("variant,host", [("lab", "192.168.56.10"), ("kubeadm-ipsec", "198.18.4.10")])
def test_cilium_reaches_the_api_server_on_the_vip_and_haproxy_port(variant, host):
    render = VARIANTS[variant]()
    agent = render.one("cilium", "DaemonSet", "cilium")["spec"]["template"]["spec"]
    operator = render.one("cilium", "Deployment", "cilium-operator")["spec"]["template"]["spec"]
    for container in agent["containers"] + agent["initContainers"] + operator["containers"]:
        if "KUBERNETES_SERVICE_HOST" in env(container):
            assert (env(container)["KUBERNETES_SERVICE_HOST"], env(container)["KUBERNETES_SERVICE_PORT"]) == (host, "8443")
    assert env(agent["containers"][0])["KUBERNETES_SERVICE_HOST"] == host


def test_cilium_hubble_with_relay_and_ui_cluster_internal():
    render = lab()
    assert cilium_config(render)["enable-hubble"] == "true"
    render.one("cilium", "Deployment", "hubble-relay")
    ui = render.one("cilium", "Service", "hubble-ui")["spec"]
    assert ui["type"] == "ClusterIP" and "nodePort" not in ui["ports"][0]  # no login: not on the nodes (#16)
    assert not kubeadm_ipsec().objects("cilium", "Service", "hubble-ui")  # the kubeadm inventory turns the UI off


# --- Longhorn ------------------------------------------------------------------------------------------------------

def test_longhorn_is_the_default_storage_class():
    sc = yaml.safe_load(data(lab().one("longhorn", "ConfigMap", "longhorn-storageclass"), "storageclass.yaml"))
    assert sc["metadata"]["name"] == "longhorn"
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert sc["allowVolumeExpansion"] is True


def test_longhorn_replica_count_in_the_class_and_the_default_settings():
    render = lab()
    sc = yaml.safe_load(data(render.one("longhorn", "ConfigMap", "longhorn-storageclass"), "storageclass.yaml"))
    settings = yaml.safe_load(data(render.one("longhorn", "ConfigMap", "longhorn-default-setting"), "default-setting.yaml"))
    assert sc["parameters"]["numberOfReplicas"] == "3" and settings["default-replica-count"] == 3


# --- GPU Operator --------------------------------------------------------------------------------------------------

def cluster_policy(render):
    return render.one("gpu-operator", "ClusterPolicy", "cluster-policy")["spec"]


@pytest.mark.parametrize("variant,strategy", [("lab", "none"), ("mig-single", "single"), ("gpu-mixed", "mixed")])
def test_gpu_cluster_policy_mig_strategy(variant, strategy):
    assert cluster_policy(VARIANTS[variant]())["mig"]["strategy"] == strategy


@pytest.mark.parametrize("variant", ["lab", "gpu-mixed"])
def test_gpu_device_plugin_reads_the_time_slicing_config(variant):
    render = VARIANTS[variant]()
    config = cluster_policy(render)["devicePlugin"]["config"]
    configmap = yaml_docs(render.out / "gpu_operator" / "time-slicing-configmap.yaml")[0]
    assert config["name"] == configmap["metadata"]["name"] and config["default"] in configmap["data"]
    assert configmap["metadata"]["namespace"] == render.release("gpu-operator").release.namespace


@pytest.mark.parametrize("variant", ["lab", "gpu-mixed"])
def test_gpu_toolkit_configures_a_containerd_drop_in_over_its_socket(variant):
    toolkit = cluster_policy(VARIANTS[variant]())["toolkit"]
    assert toolkit["enabled"] is True
    settings = {e["name"]: e.get("value") for e in toolkit.get("env") or []}
    assert "CONTAINERD_CONFIG" in settings and "CONTAINERD_SOCKET" in settings, (
        "the ClusterPolicy gives the container toolkit no containerd config/socket (toolkit.env is %s): it would "
        "edit a containerd config nobody reads" % toolkit.get("env"))
    assert settings["CONTAINERD_CONFIG"].startswith("/etc/containerd/conf.d/")
    assert settings["CONTAINERD_CONFIG"].endswith(".toml")
    assert settings["CONTAINERD_SOCKET"].startswith("/") and settings["CONTAINERD_SOCKET"].endswith("containerd.sock")


# --- ArgoCD --------------------------------------------------------------------------------------------------------

def test_argocd_admin_password_hash_in_argocd_secret():
    render = lab()
    values = yaml_docs(render.out / "argocd" / "values" / "argo-cd.yaml")[0]
    secret = render.one("argocd", "Secret", "argocd-secret")
    assert data(secret, "admin.password") == values["configs"]["secret"]["argocdServerAdminPassword"]
    assert data(secret, "admin.password").startswith("$2b$12$")


def test_argocd_server_on_its_nodeport():
    ports = {p["name"]: p for p in lab().one("argocd", "Service", "argocd-server")["spec"]["ports"]}
    assert ports["http"]["nodePort"] == 30480


def test_argocd_server_serves_https_itself():
    """ArgoCD's login is not sent in cleartext (issue #16): the server terminates TLS itself."""
    params = lab().one("argocd", "ConfigMap", "argocd-cmd-params-cm")
    assert data(params, "server.insecure") == "false"


# --- Jenkins -------------------------------------------------------------------------------------------------------

def test_jenkins_jcasc_credential_for_gitea_from_the_existing_secret():
    render = lab()
    casc = yaml.safe_load(data(render.one("jenkins", "ConfigMap", "jenkins-jenkins-config-aiinfra-credentials"),
                               "aiinfra-credentials.yaml"))
    credential = casc["credentials"]["system"]["domainCredentials"][0]["credentials"][0]["usernamePassword"]
    assert credential["id"] == "gitea-token" and credential["password"] == "${gitea-credentials-token}"
    controller = render.one("jenkins", "StatefulSet", "jenkins")["spec"]["template"]["spec"]
    sources = [s["secret"] for v in controller["volumes"] if "projected" in v for s in v["projected"]["sources"]
               if "secret" in s]
    assert {"name": "gitea-credentials", "items": [{"key": "token", "path": "gitea-credentials-token"}]} in sources
    secrets = {s["metadata"]["name"]: s for s in yaml_docs(render.out / "jenkins" / "secrets.yaml")}
    assert "token" in secrets["gitea-credentials"]["stringData"]


def test_jenkins_plugin_list_has_the_pipeline_plugins():
    plugins = data(lab().one("jenkins", "ConfigMap", "jenkins"), "plugins.txt").split()
    names = [p.split(":")[0] for p in plugins]
    assert {"kubernetes", "workflow-aggregator", "git", "configuration-as-code", "gitea"} <= set(names)
    assert "gitea" in plugins  # ours by name only: the plugin manager picks a version that fits


# --- Gitea ---------------------------------------------------------------------------------------------------------

def gitea_config(section):
    return dict(line.split("=", 1) for line in
                data(lab().one("gitea", "Secret", "gitea-inline-config"), section).splitlines() if line)


def test_gitea_database_is_sqlite_without_bundled_databases():
    assert gitea_config("database")["DB_TYPE"] == "sqlite3"
    names = {o["metadata"]["name"] for _t, o in lab().release("gitea").objects}
    assert not [n for n in names if "postgres" in n or "redis" in n]


def test_gitea_root_url_is_its_nodeport_address():
    assert gitea_config("server")["ROOT_URL"] == "http://%s:30310/" % REGISTRY_HOST
    ports = lab().one("gitea", "Service", "gitea-http")["spec"]["ports"]
    assert ports[0]["nodePort"] == 30310


# --- Kyverno -------------------------------------------------------------------------------------------------------

def policy_exception(render):
    (exception,) = [d for d in yaml_docs(render.out / "security_baseline" / "kyverno-policies.yaml")
                    if d["kind"] == "PolicyException"]
    return exception


def excepted_namespaces(render):
    return {ns for m in policy_exception(render)["spec"]["match"]["any"] for ns in m["resources"].get("namespaces", [])}


def test_kyverno_policy_exceptions_switched_on_in_the_namespace_ours_live_in():
    render = lab()
    args = render.one("kyverno", "Deployment", "kyverno-admission-controller")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--enablePolicyException=true" in args
    assert "--exceptionNamespace=%s" % policy_exception(render)["metadata"]["namespace"] in args


def test_kyverno_exceptions_cover_every_platform_release_namespace():
    render = lab()
    releases, _problems = render.charts()
    assert {r.release.namespace for r in releases.values()} <= excepted_namespaces(render)


def test_kyverno_exceptions_cover_the_namespace_vllm_runs_in():
    for render in (lab(), serving_namespace()):
        namespaces = {d["metadata"]["namespace"] for d in yaml_docs(render.out / "vllm" / "manifests.yaml")
                      if d["kind"] != "Namespace"}
        assert namespaces and namespaces <= excepted_namespaces(render), render.name
    assert "llm-serving" in excepted_namespaces(serving_namespace())


# --- Network: MetalLB, ingress-nginx, cert-manager ------------------------------------------------------------------

def test_metallb_runs_where_our_pools_are():
    render = lab()
    release = render.release("metallb").release
    render.one("metallb", "Deployment", "metallb-controller")
    render.one("metallb", "DaemonSet", "metallb-speaker")
    for obj in yaml_docs(render.out / "network" / "metallb-pools.yaml"):
        assert obj["metadata"]["namespace"] == release.namespace  # MetalLB reads pools in its own namespace only


def test_ingress_nginx_controller_is_a_load_balancer_with_its_class():
    render = lab()
    assert render.one("ingress-nginx", "Service", "ingress-nginx-controller")["spec"]["type"] == "LoadBalancer"
    assert render.one("ingress-nginx", "IngressClass", "nginx")["spec"]["controller"] == "k8s.io/ingress-nginx"


def test_cert_manager_installs_its_crds_and_finds_our_ca_in_its_namespace():
    render = lab()
    crds = {c["spec"]["names"]["kind"] for c in render.objects("cert-manager", "CustomResourceDefinition")}
    assert {"ClusterIssuer", "Certificate", "Issuer"} <= crds
    controller = render.one("cert-manager", "Deployment", "cert-manager")["spec"]["template"]["spec"]["containers"][0]
    namespace = render.release("cert-manager").release.namespace
    assert "--cluster-resource-namespace=$(POD_NAMESPACE)" in controller["args"]
    issuers = yaml_docs(render.out / "network" / "ca-issuers.yaml")
    certificate = next(i for i in issuers if i["kind"] == "Certificate")
    ca_issuer = [i for i in issuers if i["kind"] == "ClusterIssuer" and "ca" in i["spec"]][0]
    # a CA ClusterIssuer reads its Secret from the cluster resource namespace
    assert certificate["metadata"]["namespace"] == namespace
    assert ca_issuer["spec"]["ca"]["secretName"] == certificate["spec"]["secretName"]


# --- Observability -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant,addresses", [("lab", LAB_CONTROL_PLANES), ("kubeadm-ipsec", ["198.18.4.11"])])
@pytest.mark.parametrize("component,port,scheme", [("kube-etcd", 2381, "http"), ("kube-scheduler", 10259, "https"),
                                                   ("kube-controller-manager", 10257, "https")])
def test_control_plane_metrics_are_scraped_on_the_node_addresses(variant, addresses, component, port, scheme):
    render = VARIANTS[variant]()
    endpoints = render.one("kube-prometheus-stack", "Endpoints", "kps-" + component)
    (subset,) = endpoints["subsets"]
    assert [a["ip"] for a in subset["addresses"]] == addresses
    assert [(p["name"], p["port"]) for p in subset["ports"]] == [("http-metrics", port)]
    service = render.one("kube-prometheus-stack", "Service", "kps-" + component)
    assert service["spec"]["ports"][0]["targetPort"] == port and "selector" not in service["spec"]
    monitor = render.one("kube-prometheus-stack", "ServiceMonitor", "kps-" + component)["spec"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["endpoints"]
    assert endpoint["port"] == "http-metrics" and endpoint.get("scheme", "http") == scheme
    if scheme == "https":
        assert endpoint["tlsConfig"]["insecureSkipVerify"] is True  # self-signed serving certificates
        assert endpoint["bearerTokenFile"].endswith("/serviceaccount/token")


def test_network_metrics_are_scraped_by_our_servicemonitors():
    render = lab()
    monitors = yaml_docs(render.out / "observability" / "platform-scrapes.yaml")
    assert [m["metadata"]["name"] for m in monitors] == ["ingress-nginx-controller", "cert-manager"]
    releases, _problems = render.charts()
    services = [o for r in releases.values() for _t, o in r.objects if o["kind"] == "Service"]
    for monitor in monitors:
        selected = [s for s in services
                    if monitor["spec"]["selector"]["matchLabels"].items() <= (s["metadata"].get("labels") or {}).items()]
        ports = [p for s in selected for p in s["spec"]["ports"] if p.get("name") == monitor["spec"]["endpoints"][0]["port"]]
        assert len(ports) == 1, (monitor["metadata"]["name"], [s["metadata"]["name"] for s in selected])
    # and the network layer's charts create none themselves (they run before the CRD exists)
    for release in ("ingress-nginx", "cert-manager", "metallb"):
        assert not [o for _t, o in render.release(release).objects if o["apiVersion"].startswith("monitoring.coreos.com/")]


def test_grafana_admin_comes_from_our_secret():
    render = lab()
    (grafana,) = [d["spec"]["template"]["spec"] for d in render.objects("kube-prometheus-stack", "Deployment")
                  if d["metadata"]["name"].endswith("grafana")]
    settings = env(grafana["containers"][-1]) | env(grafana["containers"][0])
    ours = yaml_docs(render.out / "observability" / "grafana-admin-secret.yaml")[0]
    assert settings["GF_SECURITY_ADMIN_PASSWORD"] == {
        "secretKeyRef": {"name": ours["metadata"]["name"], "key": "admin-password"}}
    assert settings["GF_SECURITY_ADMIN_USER"]["secretKeyRef"]["name"] == ours["metadata"]["name"]
    assert set(ours["stringData"]) == {"admin-user", "admin-password"}
    assert ours["metadata"]["namespace"] == render.release("kube-prometheus-stack").release.namespace
    # the chart generates no admin password of its own
    assert not [s for s in render.objects("kube-prometheus-stack", "Secret") if "admin-password" in (s.get("data") or {})]


def test_release_records_are_what_the_harness_renders():
    render = lab()
    record = json.loads((render.out / "harbor" / "values" / "harbor.release.json").read_text())
    assert record == {"release": "harbor", "chart": "harbor", "version": "1.16.0", "namespace": "harbor"}
    assert all(o.get("metadata", {}).get("namespace", "harbor") == "harbor"
               for o in render.objects("harbor") if o["kind"] not in ("ClusterRole", "ClusterRoleBinding"))
