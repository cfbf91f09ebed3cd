"""Write a tiny real OCI image (busybox-static as /bin/busybox, /bin/sh) as an OCI layout directory.

Nothing can be pulled from the internet here, so the test image is built from Debian's busybox-static:
one uncompressed tar layer, an image config and a manifest, referenced by tag in index.json.
`skopeo copy oci:DIR:TAG docker://HOST:PORT/REPO:TAG` then pushes it to a registry.

    oci_image.py DIR TAG [--busybox /bin/busybox]
"""

import argparse
import hashlib
import io
import json
import os
import sys
import tarfile


def _blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


def _dir(tar, name):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
    tar.addfile(info)


def _layer(files, links=(), dirs=("tmp",)):
    """One uncompressed tar layer: `files` {path in image: host file} (mode 0755), `links` [(path, target)]."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        made = set()
        for name in sorted({os.path.dirname(p) for p in list(files) + [p for p, _t in links]} | set(dirs)):
            parts = [q for q in name.split("/") if q]
            for i in range(1, len(parts) + 1):
                sub = "/".join(parts[:i])
                if sub not in made:
                    made.add(sub)
                    _dir(tar, sub)
        for name, src in sorted(files.items()):
            with open(src, "rb") as f:
                data = f.read()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o755, 0
            tar.addfile(info, io.BytesIO(data))
        for name, target in links:
            link = tarfile.TarInfo(name)
            link.type, link.linkname, link.mode, link.mtime = tarfile.SYMTYPE, target, 0o777, 0
            tar.addfile(link)
    return buf.getvalue()


def build_image(layout, tag, files, links=(), entrypoint=None, cmd=None):
    """Write an OCI layout at `layout` holding one image tagged `tag` (its files from the host, see _layer);
    returns the manifest digest. A layout may hold several tags (index.json lists each once)."""
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    layer_digest, layer_size = _blob(layout, _layer(files, links))
    config = {"Env": ["PATH=/bin"]}
    if entrypoint:
        config["Entrypoint"] = list(entrypoint)
    if cmd:
        config["Cmd"] = list(cmd)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }
    config_digest, config_size = _blob(layout, json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_size}],
    }
    manifest_digest, manifest_size = _blob(layout, json.dumps(manifest, sort_keys=True).encode())
    index_path = os.path.join(layout, "index.json")
    try:
        with open(index_path) as f:
            index = json.load(f)
    except (OSError, ValueError):
        index = {"schemaVersion": 2, "manifests": []}
    index["manifests"] = [m for m in index["manifests"]
                          if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag]
    index["manifests"].append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
                               "size": manifest_size, "annotations": {"org.opencontainers.image.ref.name": tag}})
    with open(index_path, "w") as f:
        json.dump(index, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    return manifest_digest


BUSYBOX_APPLETS = ("sh", "echo", "cat", "ls", "rm", "sleep", "httpd", "wget", "hostname", "true")


def build(layout, tag, busybox):
    """busybox-static as /bin/busybox with /bin/sh and a few applets as links; command /bin/sh."""
    return build_image(layout, tag, {"bin/busybox": busybox},
                       links=[("bin/" + a, "busybox") for a in BUSYBOX_APPLETS], cmd=["/bin/sh"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("layout")
    parser.add_argument("tag")
    parser.add_argument("--busybox", default="/bin/busybox")
    args = parser.parse_args(argv)
    print(build(args.layout, args.tag, args.busybox))
    return 0


if __name__ == "__main__":
    sys.exit(main())
