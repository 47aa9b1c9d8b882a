#!/usr/bin/env python3
"""Builds examples/sample.tar, drag's offline quick-start bundle, from examples/sample/.

The output is byte-for-byte reproducible (a test rebuilds it and compares): entries sorted,
owners 0:0 with no names, one fixed mtime, modes 0755/0644 whatever the checkout says, gzip
without a name or timestamp, JSON with sorted keys and no spaces. It is a Docker archive that
is also an OCI image layout, as `drag pull` and Docker 25's `docker save` write: `oci-layout`,
`index.json`, `blobs/sha256/...` (OCI manifest, config, one gzip layer), `manifest.json` and
`repositories`, naming the image drag.example/drag/sample:1, which `drag serve` serves as
drag/sample:1.

Usage: examples/make-sample.py [OUTPUT]   (default: examples/sample.tar beside this script)
"""

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

NAME = "drag.example/drag/sample"
TAG = "1"
MTIME = 1704067200  # 2024-01-01T00:00:00Z
CREATED = "2024-01-01T00:00:00Z"

HERE = os.path.dirname(os.path.abspath(__file__))


def to_json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def add(tar, name, data=None):
    """Adds a directory (data None) or a file with fixed metadata."""
    info = tarfile.TarInfo(name)
    info.mtime = MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if data is None:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(info)
    else:
        info.mode = 0o644
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def tar_of(entries):
    """A ustar archive of (name, data-or-None) entries, in the order given."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in entries:
            add(tar, name, data)
    return out.getvalue()


def layer_entries(root):
    """Every directory and file under root, sorted, directories with a trailing slash."""
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for d in dirnames:
            entries.append((os.path.normpath(os.path.join(rel, d)) + "/", None))
        for f in filenames:
            with open(os.path.join(dirpath, f), "rb") as fh:
                entries.append((os.path.normpath(os.path.join(rel, f)), fh.read()))
    return sorted(entries, key=lambda e: e[0])


def main():
    output = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "sample.tar")
    layer_tar = tar_of(layer_entries(os.path.join(HERE, "sample")))
    layer = gzip.compress(layer_tar, compresslevel=9, mtime=0)
    config = to_json(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": CREATED,
            "config": {
                "Cmd": ["/bin/cat", "/hello.txt"],
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            },
            "history": [{"created": CREATED, "created_by": "examples/make-sample.py"}],
            "rootfs": {"type": "layers", "diff_ids": [sha256(layer_tar)]},
        }
    )
    manifest = to_json(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": sha256(layer),
                    "size": len(layer),
                }
            ],
        }
    )
    index = to_json(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": sha256(manifest),
                    "size": len(manifest),
                    "annotations": {
                        "io.containerd.image.name": f"{NAME}:{TAG}",
                        "org.opencontainers.image.ref.name": TAG,
                    },
                    "platform": {"architecture": "amd64", "os": "linux"},
                }
            ],
        }
    )
    blob = lambda data: "blobs/sha256/" + hashlib.sha256(data).hexdigest()
    docker_manifest = to_json(
        [{"Config": blob(config), "RepoTags": [f"{NAME}:{TAG}"], "Layers": [blob(layer)]}]
    )
    repositories = to_json({NAME: {TAG: hashlib.sha256(layer).hexdigest()}})
    blobs = sorted((blob(b), b) for b in (config, layer, manifest))
    archive = tar_of(
        [("blobs/", None), ("blobs/sha256/", None)]
        + blobs
        + [
            ("index.json", index),
            ("manifest.json", docker_manifest),
            ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
            ("repositories", repositories),
        ]
    )
    with open(output, "wb") as fh:
        fh.write(archive)


if __name__ == "__main__":
    main()
