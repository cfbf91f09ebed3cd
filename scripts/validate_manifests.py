"""Validate every rendered Kubernetes manifest and Helm values file under a directory.

- Manifests (*.yaml / *.yml, any number of documents each) are validated against the OpenAPI schema of
  the target Kubernetes version with kubernetes-validate, strictly (unknown fields are errors).
- Kinds the Kubernetes schemas do not know (custom resources) must have a JSON schema of ours under
  schemas/crds/<group>_<version>/<Kind>.json; a kind with no schema anywhere is an error, never a warning.
- Patches (under a `patches/` directory) are partial objects: they must parse, name their object, and target
  an apiVersion/kind that the Kubernetes version (or schemas/crds/) has.
- Node files (under a `nodes/` directory) are host configuration, not Kubernetes objects. A file without
  apiVersion/kind (a k3s config.yaml) must be one YAML mapping. Documents with apiVersion/kind (kubeadm's
  Init/Cluster/JoinConfiguration, KubeletConfiguration, EncryptionConfiguration) are validated against
  schemas/config/<group>_<version>/<Kind>.json, strictly; a config kind with no schema there is an error.
- Helm values files (under a `values/` directory) must be YAML mappings, and are validated against
  schemas/helm/<chart>.json when one exists (the file name without extension names the chart).

    validate_manifests.py render/ --k8s-version 1.31        # or read it from render/_render.json

Exit status 0 when everything is valid, 1 with one line per invalid object otherwise.
"""

import argparse
import json
import os
import re
import sys

import jsonschema
import kubernetes_validate
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMAS = os.path.join(ROOT, "schemas")


def minor_version(version):
    """'v1.31.4+k3s1' / '1.31.4' / '1.31' -> '1.31'."""
    match = re.match(r"^v?(1\.\d+)(?:\.\d+)?(?:\+\S+)?$", str(version))
    if not match:
        raise ValueError("cannot read a Kubernetes version from %r (want e.g. 1.31.4 or v1.31.4+k3s1)" % version)
    return match.group(1)


def crd_schema(api_version, kind, schema_root=SCHEMAS):
    path = os.path.join(schema_root, "crds", api_version.replace("/", "_"), kind + ".json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return None


def validate_object(obj, version, schema_root=SCHEMAS):
    """[] when valid, else a list of problems for this object."""
    if not isinstance(obj, dict):
        return ["not a mapping"]
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
        schema = crd_schema(obj["apiVersion"], obj["kind"], schema_root)
        if schema is None:
            return ["no schema for %s %s in Kubernetes %s nor in schemas/crds/: a removed or misspelled apiVersion, "
                    "or a custom resource that needs a schema" % (obj["apiVersion"], obj["kind"], version)]
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(obj), key=lambda e: list(e.absolute_path))
        return ["%s: %s (at %s)" % (obj["kind"], e.message, "/".join(str(p) for p in e.absolute_path) or "top")
                for e in errors]


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


def validate_patch(obj, version, schema_root=SCHEMAS):
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
        if crd_schema(obj["apiVersion"], obj["kind"], schema_root) is None:
            return ["patch targets %s %s, which Kubernetes %s does not have" % (obj["apiVersion"], obj["kind"], version)]
    return []


def validate_values(path, data, schema_root=SCHEMAS):
    if not isinstance(data, dict):
        return ["Helm values must be a mapping, got %s" % type(data).__name__]
    chart = os.path.splitext(os.path.basename(path))[0]
    schema_path = os.path.join(schema_root, "helm", chart + ".json")
    if not os.path.exists(schema_path):
        return []
    with open(schema_path) as f:
        schema = json.load(f)
    return ["%s (at %s)" % (e.message, "/".join(str(p) for p in e.absolute_path) or "top")
            for e in jsonschema.Draft7Validator(schema).iter_errors(data)]


def validate_tree(directory, version, schema_root=SCHEMAS):
    """(counts, problems): counts of manifests/values checked, problems as 'file[#doc] name: message'."""
    counts = {"objects": 0, "values": 0, "files": 0, "patches": 0, "node_files": 0, "config_docs": 0}
    problems = []
    for base, _dirs, files in sorted(os.walk(directory)):
        for name in sorted(files):
            if not name.endswith((".yaml", ".yml")):
                continue
            path = os.path.join(base, name)
            rel = os.path.relpath(path, directory)
            counts["files"] += 1
            try:
                with open(path) as f:
                    docs = [d for d in yaml.safe_load_all(f) if d is not None]
            except yaml.YAMLError as exc:
                problems.append("%s: not valid YAML: %s" % (rel, exc))
                continue
            if "nodes" in rel.split(os.sep)[:-1]:
                counts["node_files"] += 1
                if docs and all(isinstance(d, dict) and d.get("apiVersion") and d.get("kind") for d in docs):
                    for i, doc in enumerate(docs):
                        counts["config_docs"] += 1
                        problems += ["%s#%d: %s" % (rel, i, msg) for msg in validate_config(doc, schema_root)]
                elif len(docs) != 1 or not isinstance(docs[0], dict):
                    problems.append("%s: a node file must hold one YAML mapping, or configuration documents that "
                                    "each have apiVersion and kind" % rel)
                continue
            if os.path.basename(base) == "values":
                counts["values"] += 1
                for msg in validate_values(path, docs[0] if len(docs) == 1 else docs, schema_root):
                    problems.append("%s: %s" % (rel, msg))
                continue
            if os.path.basename(base) == "patches":
                for i, doc in enumerate(docs):
                    counts["patches"] += 1
                    problems += ["%s#%d: %s" % (rel, i, msg) for msg in validate_patch(doc, version, schema_root)]
                continue
            for i, doc in enumerate(docs):
                items = doc.get("items", []) if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") else [doc]
                for obj in items:
                    counts["objects"] += 1
                    name = (obj.get("metadata") or {}).get("name", "?") if isinstance(obj, dict) else "?"
                    label = "%s#%d %s" % (rel, i, name)
                    problems += ["%s: %s" % (label, msg) for msg in validate_object(obj, version, schema_root)]
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
    print("validated %d objects, %d patches, %d Helm values files and %d node files (%d configuration documents) "
          "(%d files) against Kubernetes %s: %d invalid" % (
              counts["objects"], counts["patches"], counts["values"], counts["node_files"], counts["config_docs"],
              counts["files"], minor, len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
