"""Evaluate RBAC rules as data: every (apiGroup, resource, verb) a Role or ClusterRole grants, checked against what a
tenant must never hold (issue #16): no verb that escalates (escalate, bind, impersonate) or is a wildcard, no wildcard
resource on the RBAC or networking API groups, and only read access to the guardrails the platform sets for a tenant
(ResourceQuota, LimitRange, NetworkPolicy). Used by the unit tests (objects built by the tenant model) and the render
test (the Roles as playbooks/render.yml writes them)."""

ESCALATING_VERBS = ("escalate", "bind", "impersonate", "*")
GUARDED_GROUPS = ("rbac.authorization.k8s.io", "networking.k8s.io")
# The guardrails: the platform owns them, tenants may only read them.
READ_ONLY = {("", "resourcequotas"), ("", "limitranges"), ("networking.k8s.io", "networkpolicies")}
READ_VERBS = ("get", "list", "watch")


def _matches(granted, wanted):
    return granted == "*" or granted == wanted


def forbidden_grants(role):
    """One sentence per forbidden grant in a Role/ClusterRole (a dict as rendered); [] when none."""
    where = "%s %s/%s" % (role.get("kind"), role.get("metadata", {}).get("namespace", ""),
                          role.get("metadata", {}).get("name"))
    problems = []
    for i, rule in enumerate(role.get("rules") or []):
        groups = rule.get("apiGroups") or []
        resources = rule.get("resources") or []
        verbs = rule.get("verbs") or []
        for verb in verbs:
            if verb in ESCALATING_VERBS:
                problems.append("%s rule %d grants verb %r on %s" % (where, i, verb, resources))
        for group in groups:
            if "*" in resources and (group == "*" or group in GUARDED_GROUPS):
                problems.append("%s rule %d grants every resource of API group %r" % (where, i, group or "core"))
            for (guarded_group, guarded_resource) in sorted(READ_ONLY):
                if not _matches(group, guarded_group):
                    continue
                if not any(_matches(r, guarded_resource) for r in resources):
                    continue
                writes = [v for v in verbs if v not in READ_VERBS]
                if writes:
                    problems.append("%s rule %d lets the tenant change %s (%s)"
                                    % (where, i, guarded_resource, ", ".join(writes)))
    return problems


def roles_of(objects):
    return [o for o in objects if isinstance(o, dict) and o.get("kind") in ("Role", "ClusterRole")]
