# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tenant onboarding from one list: validation (names, quantities, RBAC subjects) and the Kubernetes objects of
each tenant (Namespace with Pod Security labels, ResourceQuota, LimitRange, NetworkPolicies, Roles, RoleBindings).
Pure functions, no I/O."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Kubernetes quantities as operators write them (decimal SI, binary SI, millis); exponents are left out on purpose.
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
RESERVED = ("default", "kube-system", "kube-public", "kube-node-lease")
RESERVED_PREFIXES = ("kube-", "openshift-")
QUOTA_KEYS = {
    "cpu": "requests.cpu", "memory": "requests.memory", "cpu_limit": "limits.cpu", "memory_limit": "limits.memory",
    "gpu": "requests.nvidia.com/gpu", "pods": "pods", "pvcs": "persistentvolumeclaims", "storage": "requests.storage",
}
INTEGER_KEYS = ("gpu", "pods", "pvcs")
PSA_TENANT = {"enforce": "baseline", "warn": "restricted", "audit": "restricted"}
READ_VERBS = ["get", "list", "watch"]
WRITE_VERBS = READ_VERBS + ["create", "update", "patch", "delete", "deletecollection"]
# What the platform sets in a tenant namespace and the tenant may read but never change.
GUARDRAILS_READ_ONLY = [
    {"apiGroups": [""], "resources": ["resourcequotas", "limitranges"], "verbs": READ_VERBS},
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": READ_VERBS},
]


class TenantError(ValueError):
    pass


def check_quantity(value):
    return QUANTITY.match(str(value)) is not None


def validate(tenants, platform_namespaces=()):
    """One sentence per problem, [] when every tenant is usable."""
    problems = []
    if not isinstance(tenants, list):
        return ["k8s_tenants must be a list of tenants, not %s" % type(tenants).__name__]
    seen = set()
    for i, t in enumerate(tenants):
        if not isinstance(t, dict) or "name" not in t:
            problems.append("tenant #%d has no name" % (i + 1))
            continue
        name = str(t["name"])
        where = "tenant %r" % name
        if len(name) > 63 or not DNS_LABEL.match(name):
            problems.append("%s: a namespace name must be a DNS label (lowercase letters, digits and '-', at most 63 "
                            "characters, starting and ending with a letter or digit)" % where)
        elif name in RESERVED or name.startswith(RESERVED_PREFIXES):
            problems.append("%s: %s is reserved for Kubernetes itself" % (where, name))
        elif name in platform_namespaces:
            problems.append("%s: %s is a platform namespace" % (where, name))
        if name in seen:
            problems.append("%s is listed twice" % where)
        seen.add(name)
        unknown = set(t) - {"name", "quota", "limits", "admins", "developers", "labels"}
        if unknown:
            problems.append("%s: unknown settings %s (known: quota, limits, admins, developers, labels)"
                            % (where, ", ".join(sorted(unknown))))
        quota = t.get("quota") or {}
        for key, value in sorted(quota.items()):
            if key not in QUOTA_KEYS:
                problems.append("%s: unknown quota %r (known: %s)" % (where, key, ", ".join(sorted(QUOTA_KEYS))))
            elif key in INTEGER_KEYS and not re.match(r"^[0-9]+$", str(value)):
                problems.append("%s: quota %s must be a whole number, not %r" % (where, key, value))
            elif not check_quantity(value):
                problems.append("%s: quota %s=%r is not a Kubernetes quantity (e.g. 500m, 4, 16Gi)"
                                % (where, key, value))
        limits = t.get("limits") or {}
        for key, value in sorted(limits.items()):
            if key not in ("default_cpu", "default_memory", "request_cpu", "request_memory"):
                problems.append("%s: unknown limit %r (known: default_cpu, default_memory, request_cpu, "
                                "request_memory)" % (where, key))
            elif not check_quantity(value):
                problems.append("%s: limit %s=%r is not a Kubernetes quantity" % (where, key, value))
        for role in ("admins", "developers"):
            for subject in t.get(role) or []:
                if not re.match(r"^(user|group|serviceaccount):[^:\s]+(:[^:\s]+)?$", str(subject)):
                    problems.append("%s: %s entry %r must be user:<name>, group:<name> or "
                                    "serviceaccount:<namespace>:<name>" % (where, role, subject))
    return problems


def _subject(entry):
    kind, _sep, rest = entry.partition(":")
    if kind == "serviceaccount":
        namespace, _sep, name = rest.partition(":")
        return {"kind": "ServiceAccount", "name": name, "namespace": namespace}
    return {"kind": "User" if kind == "user" else "Group", "name": rest, "apiGroup": "rbac.authorization.k8s.io"}


def objects(tenant, settings):
    """Every object of one (validated) tenant. settings: dns_namespace, dns_labels (selector of the DNS pods),
    default_limits (default_cpu, default_memory, request_cpu, request_memory), psa (mode -> level)."""
    name = tenant["name"]
    meta = {"name": name, "labels": dict({"aiinfra.io/tenant": name, "aiinfra.io/namespace-class": "tenant"},
                                         **{"pod-security.kubernetes.io/%s" % k: v
                                            for k, v in (settings.get("psa") or PSA_TENANT).items()},
                                         **(tenant.get("labels") or {}))}
    out = [{"apiVersion": "v1", "kind": "Namespace", "metadata": meta}]
    quota = tenant.get("quota") or {}
    if quota:
        out.append({"apiVersion": "v1", "kind": "ResourceQuota",
                    "metadata": {"name": "tenant-quota", "namespace": name},
                    "spec": {"hard": {QUOTA_KEYS[k]: str(v) for k, v in sorted(quota.items())}}})
    limits = dict(settings.get("default_limits") or {}, **(tenant.get("limits") or {}))
    out.append({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "tenant-defaults", "namespace": name},
                "spec": {"limits": [{"type": "Container",
                                     "default": {"cpu": str(limits["default_cpu"]),
                                                 "memory": str(limits["default_memory"])},
                                     "defaultRequest": {"cpu": str(limits["request_cpu"]),
                                                        "memory": str(limits["request_memory"])}}]}})
    dns_peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": settings["dns_namespace"]}},
                "podSelector": {"matchLabels": dict(settings["dns_labels"])}}
    out += [
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "default-deny", "namespace": name},
         "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "allow-same-namespace", "namespace": name},
         "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
                  "ingress": [{"from": [{"podSelector": {}}]}], "egress": [{"to": [{"podSelector": {}}]}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "allow-dns", "namespace": name},
         "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                  "egress": [{"to": [dns_peer], "ports": [{"protocol": "UDP", "port": 53},
                                                          {"protocol": "TCP", "port": 53}]}]}},
    ]
    workloads = ["pods", "pods/log", "pods/exec", "services", "configmaps", "persistentvolumeclaims", "secrets",
                 "serviceaccounts", "events"]
    # Named verbs only: no "*" (it would include escalate, bind and impersonate). Roles and RoleBindings may be
    # managed without escalate/bind, so Kubernetes refuses any grant beyond what the tenant admin holds. The
    # guardrails the platform sets (quota, limits, the default-deny policies) are read-only to every tenant.
    rules = {
        "tenant-admin": [
            {"apiGroups": [""], "resources": workloads, "verbs": WRITE_VERBS},
            {"apiGroups": ["apps", "batch", "autoscaling", "policy"], "resources": ["*"], "verbs": WRITE_VERBS},
            {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": WRITE_VERBS},
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"], "verbs": WRITE_VERBS},
        ] + GUARDRAILS_READ_ONLY,
        "developer": [
            {"apiGroups": [""], "resources": [w for w in workloads if w not in ("secrets", "serviceaccounts")],
             "verbs": WRITE_VERBS[:-1]},
            {"apiGroups": ["apps", "batch", "autoscaling"], "resources": ["*"], "verbs": WRITE_VERBS[:-1]},
        ] + GUARDRAILS_READ_ONLY,
    }
    for role, members in (("tenant-admin", tenant.get("admins") or []), ("developer", tenant.get("developers") or [])):
        out.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                    "metadata": {"name": role, "namespace": name}, "rules": copy.deepcopy(rules[role])})
        if members:
            out.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                        "metadata": {"name": role, "namespace": name},
                        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
                        "subjects": [_subject(m) for m in members]})
    return out


def all_objects(tenants, settings, platform_namespaces=()):
    problems = validate(tenants, platform_namespaces)
    if problems:
        raise TenantError("; ".join(problems))
    return [obj for t in tenants for obj in objects(t, settings)]
