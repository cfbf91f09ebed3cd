"""Validate every rendered Kubernetes manifest and Helm values file under a directory.

- Manifests (*.yaml / *.yml, any number of documents each) are validated against the OpenAPI schema of
  the target Kubernetes version with kubernetes-validate, strictly (unknown fields are errors). That includes the
  objects the real upstream charts render (`<role>/helm/<release>/`, written by scripts/render_charts.py).
- Custom resources (ours and the charts') are validated against the CRDs found in the same directory: the
  CustomResourceDefinitions the charts themselves ship (their crds/ directories and templates), the
  openAPIV3Schema of the version the CR names, which must be served. Strict as the API server's field validation:
  a field the schema does not declare is an error (unless the schema preserves unknown fields). Only kinds no chart
  here defines have a JSON schema of ours under schemas/crds/<group>_<version>/<Kind>.json (see schemas/README.md);
  an apiVersion/kind found nowhere is an error, never a warning.
- Patches (under `<role>/patches/`) are partial objects: they must parse, name their object, and target
  an apiVersion/kind that the Kubernetes version (or the CRDs, or schemas/crds/) has.
- Node files (under `<role>/nodes/`) are host configuration, not Kubernetes objects. A file without
  apiVersion/kind (a k3s config.yaml) must be one YAML mapping. Documents with apiVersion/kind (kubeadm's
  Init/Cluster/JoinConfiguration, KubeletConfiguration, EncryptionConfiguration) are validated against
  schemas/config/<group>_<version>/<Kind>.json, strictly; a config kind with no schema there is an error.
- Helm values files (under `<role>/values/`) must be YAML mappings. What the chart makes of them is checked by
  rendering the real chart (scripts/render_charts.py: its values.schema.json, the value paths it reads, the objects).

    validate_manifests.py render/ --k8s-version 1.31        # or read it from render/_render.json

Exit status 0 when everything is valid, 1 with one line per invalid object otherwise.
"""

import argparse
import copy
import json
import os
import re
import sys

import jsonschema
import kubernetes_validate
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMAS = os.path.join(ROOT, "schemas")
CATEGORIES = ("values", "patches", "nodes")


class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """The safe loader without YAML 1.1's "value" type (a plain `=` is a string, as in Go's YAML)."""


Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:value"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def minor_version(version):
    """'v1.31.4+k3s1' / '1.31.4' / '1.31' -> '1.31'."""
    match = re.match(r"^v?(1\.\d+)(?:\.\d+)?(?:\+\S+)?$", str(version))
    if not match:
        raise ValueError("cannot read a Kubernetes version from %r (want e.g. 1.31.4 or v1.31.4+k3s1)" % version)
    return match.group(1)


def strict_schema(schema, combinator=False):
    """A CRD's openAPIV3Schema as a JSON schema that validates like the API server with strict field validation:
    unknown fields are errors where the schema declares properties and does not preserve unknown fields, `nullable`
    allows null, int-or-string allows both. Inside anyOf/allOf/oneOf/not only validation applies (no pruning)."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in ("properties", "patternProperties"):
        if isinstance(out.get(key), dict):
            out[key] = {name: strict_schema(sub, combinator) for name, sub in out[key].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = strict_schema(out[key], combinator)
    for key in ("allOf", "anyOf", "oneOf"):
        if isinstance(out.get(key), list):
            out[key] = [strict_schema(sub, True) for sub in out[key]]
    if isinstance(out.get("not"), dict):
        out["not"] = strict_schema(out["not"], True)
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else list(out["type"]) + ["null"]
    if out.get("x-kubernetes-embedded-resource") and isinstance(out.get("properties"), dict):
        for field in ("apiVersion", "kind", "metadata"):
            out["properties"].setdefault(field, {})
    if (not combinator and isinstance(out.get("properties"), dict) and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def crd_catalogue(crds):
    """{(apiVersion, kind): (schema, served, source)} from CustomResourceDefinition objects [(source, obj)]."""
    catalogue = {}
    for source, crd in crds:
        spec = crd.get("spec") or {}
        group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
        for version in spec.get("versions") or []:
            schema = copy.deepcopy(((version.get("schema") or {}).get("openAPIV3Schema")) or {"type": "object"})
            if isinstance(schema.get("properties"), dict):
                for field in ("apiVersion", "kind", "metadata"):
                    schema["properties"].setdefault(field, {})
            # OpenAPI v3's schema objects are closest to JSON Schema draft 4 (boolean exclusiveMinimum, no const)
            schema = dict(strict_schema(schema), **{"$schema": "http://json-schema.org/draft-04/schema#"})
            catalogue["%s/%s" % (group, version.get("name")), kind] = (schema, bool(version.get("served")), source)
    return catalogue


def crd_schema(api_version, kind, schema_root=SCHEMAS, crds=None):
    """The schema of a custom resource: from the charts' CRDs (crds: crd_catalogue()), else a schema of ours
    under schemas/crds/ (for kinds no chart here defines); (schema, problem)."""
    if crds and (api_version, kind) in crds:
        schema, served, source = crds[api_version, kind]
        if not served:
            return None, "%s %s is not served by its CRD (%s)" % (api_version, kind, source)
        return schema, None
    path = os.path.join(schema_root, "crds", api_version.replace("/", "_"), kind + ".json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f), None
    return None, None


def _errors(schema, obj):
    """A CRD's schema validates as draft 4 (it says so, see crd_catalogue), ours as draft 7."""
    validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    return sorted(validator(schema).iter_errors(obj), key=lambda e: list(e.absolute_path))


def without_nulls(node):
    """The object as the API server decodes it: a field set to null is a field not set (built-in types: Go's JSON
    decoding; custom resources: null is pruned unless the schema says nullable, which then allows it anyway)."""
    if isinstance(node, dict):
        return {k: without_nulls(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [without_nulls(v) for v in node]
    return node


def validate_object(obj, version, schema_root=SCHEMAS, crds=None):
    """[] when valid, else a list of problems for this object."""
    if not isinstance(obj, dict):
        return ["not a mapping"]
    obj = without_nulls(obj)
    missing = [k for k in ("apiVersion", "kind") if not obj.get(k)]
    if missing:
        return ["missing %s" % ", ".join(missing)]
    if not (obj.get("metadata") or {}).get("name"):
        return ["%s has no metadata.name" % obj["kind"]]
    try:
        kubernetes_validate.validate(obj, version, strict=True)
        return []
    except kubernetes_validate.ValidationError as exc:
        return ["%s: %s (at %s)" % (obj["kind"], exc.message, "/".join(str(p) for p in exc.absolute_path) or "top")]
    except kubernetes_validate.SchemaNotFoundError:
        schema, problem = crd_schema(obj["apiVersion"], obj["kind"], schema_root, crds)
        if problem:
            return [problem]
        if schema is None:
            return ["no schema for %s %s in Kubernetes %s, in the CRDs the rendered charts ship, nor in schemas/crds/: "
                    "a removed or misspelled apiVersion, or a custom resource whose chart is not rendered"
                    % (obj["apiVersion"], obj["kind"], version)]
        return ["%s: %s (at %s)" % (obj["kind"], e.message, "/".join(str(p) for p in e.absolute_path) or "top")
                for e in _errors(schema, obj)]


def validate_config(doc, schema_root=SCHEMAS):
    """A host configuration document (kubeadm, kubelet, API server config): [] when valid."""
    path = os.path.join(schema_root, "config", str(doc["apiVersion"]).replace("/", "_"), "%s.json" % doc["kind"])
    if not os.path.exists(path):
        return ["no schema for %s %s in schemas/config/: a misspelled or unsupported apiVersion" % (
            doc["apiVersion"], doc["kind"])]
    with open(path) as f:
        schema = json.load(f)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=lambda e: list(e.absolute_path))
    return ["%s: %s (at %s)" % (doc["kind"], e.message, "/".join(str(p) for p in e.absolute_path) or "top")
            for e in errors]


def validate_patch(obj, version, schema_root=SCHEMAS, crds=None):
    """A patch is partial: check its target kind exists in this version, not the object's required fields."""
    if not isinstance(obj, dict) or not obj.get("apiVersion") or not obj.get("kind"):
        return ["a patch needs apiVersion and kind"]
    if not (obj.get("metadata") or {}).get("name"):
        return ["%s patch has no metadata.name" % obj["kind"]]
    try:
        kubernetes_validate.validate(obj, version, strict=False)
    except kubernetes_validate.ValidationError:
        pass  # missing required fields are expected in a patch
    except kubernetes_validate.SchemaNotFoundError:
        if crd_schema(obj["apiVersion"], obj["kind"], schema_root, crds)[0] is None:
            return ["patch targets %s %s, which Kubernetes %s does not have" % (obj["apiVersion"], obj["kind"], version)]
    return []


def validate_values(data):
    if not isinstance(data, dict):
        return ["Helm values must be a mapping, got %s" % type(data).__name__]
    return []


def category(rel):
    """values, patches or nodes for <role>/<category>/..., else None (a manifest)."""
    parts = rel.split(os.sep)
    return parts[1] if len(parts) > 2 and parts[1] in CATEGORIES else None


def read_tree(directory):
    """[(rel, docs or YAMLError)] for every YAML file under directory, in a stable order."""
    files = []
    for base, _dirs, names in sorted(os.walk(directory)):
        for name in sorted(names):
            if not name.endswith((".yaml", ".yml")):
                continue
            path = os.path.join(base, name)
            try:
                with open(path) as f:
                    docs = [d for d in yaml.load_all(f, Loader=Loader) if d is not None]  # noqa: S506 (safe)
            except yaml.YAMLError as exc:
                docs = exc
            files.append((os.path.relpath(path, directory), docs))
    return files


def _objects(docs):
    for i, doc in enumerate(docs):
        items = doc.get("items", []) if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") else [doc]
        for obj in items:
            yield i, obj


def validate_tree(directory, version, schema_root=SCHEMAS):
    """(counts, problems): counts of what was checked, problems as 'file[#doc] name: message'."""
    counts = {"objects": 0, "custom_resources": 0, "crds": 0, "values": 0, "files": 0, "patches": 0, "node_files": 0,
              "config_docs": 0}
    problems = []
    files = read_tree(directory)
    crds = crd_catalogue([(rel, obj) for rel, docs in files if category(rel) is None and isinstance(docs, list)
                          for _i, obj in _objects(docs)
                          if isinstance(obj, dict) and obj.get("kind") == "CustomResourceDefinition"
                          and str(obj.get("apiVersion", "")).startswith("apiextensions.k8s.io/")])
    counts["crds"] = len({key[1] for key in crds})
    for rel, docs in files:
        counts["files"] += 1
        if isinstance(docs, yaml.YAMLError):
            problems.append("%s: not valid YAML: %s" % (rel, docs))
            continue
        kind = category(rel)
        if kind == "nodes":
            counts["node_files"] += 1
            if docs and all(isinstance(d, dict) and d.get("apiVersion") and d.get("kind") for d in docs):
                for i, doc in enumerate(docs):
                    counts["config_docs"] += 1
                    problems += ["%s#%d: %s" % (rel, i, msg) for msg in validate_config(doc, schema_root)]
            elif len(docs) != 1 or not isinstance(docs[0], dict):
                problems.append("%s: a node file must hold one YAML mapping, or configuration documents that "
                                "each have apiVersion and kind" % rel)
            continue
        if kind == "values":
            counts["values"] += 1
            problems += ["%s: %s" % (rel, msg) for msg in validate_values(docs[0] if len(docs) == 1 else docs)]
            continue
        if kind == "patches":
            for i, doc in enumerate(docs):
                counts["patches"] += 1
                problems += ["%s#%d: %s" % (rel, i, msg) for msg in validate_patch(doc, version, schema_root, crds)]
            continue
        for i, obj in _objects(docs):
            counts["objects"] += 1
            if isinstance(obj, dict) and (str(obj.get("apiVersion")), obj.get("kind")) in crds:
                counts["custom_resources"] += 1
            name = (obj.get("metadata") or {}).get("name", "?") if isinstance(obj, dict) else "?"
            label = "%s#%d %s" % (rel, i, name)
            problems += ["%s: %s" % (label, msg) for msg in validate_object(obj, version, schema_root, crds)]
    return counts, problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory")
    parser.add_argument("--k8s-version", help="target Kubernetes version; default: from DIRECTORY/_render.json")
    args = parser.parse_args(argv)
    version = args.k8s_version
    if not version:
        meta = os.path.join(args.directory, "_render.json")
        if not os.path.exists(meta):
            parser.error("no --k8s-version and no %s" % meta)
        with open(meta) as f:
            version = json.load(f)["kubernetes_version"]
    try:
        minor = minor_version(version)
    except ValueError as exc:
        parser.error(str(exc))
    if not os.path.isdir(args.directory):
        parser.error("%s is not a directory" % args.directory)
    counts, problems = validate_tree(args.directory, minor)
    for problem in problems:
        print("INVALID " + problem)
    print("validated %d objects (%d custom resources against %d CRDs the charts ship), %d patches, %d Helm values "
          "files and %d node files (%d configuration documents) (%d files) against Kubernetes %s: %d invalid" % (
              counts["objects"], counts["custom_resources"], counts["crds"], counts["patches"], counts["values"],
              counts["node_files"], counts["config_docs"], counts["files"], minor, len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
