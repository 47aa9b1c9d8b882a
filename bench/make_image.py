#!/usr/bin/env python3
"""Test images for bench/run.sh, and pushing them to a registry (stdlib only).

    make_image.py big  --cache DIR [--scale S]   # prints the image directory
    make_image.py many --cache DIR [--layers N] [--layer-mib M]
    make_image.py push IMAGE_DIR http://127.0.0.1:PORT REPO TAG

"big": 4 gzip layers of real files from this machine (/usr/lib, /usr/share,
a Rust toolchain, /usr/bin ...), about 500 MiB compressed in total at scale
1.0, split 35/30/20/15 % like a base layer, dependencies, a toolchain and an
application. Each layer is filled from its own source directories, in sorted
order, until its compressed size reaches its share; entries are normalised
(mtime 0, owner 0:0, no user/group names) and gzip level 6 without a name or
timestamp, so the same machine gives the same bytes.

"many": N layers each holding one file of M MiB of seeded pseudo-random
(incompressible) bytes.

An image directory holds layer-*.tar.gz, config.json and manifest.json (a
Docker schema 2 manifest, written last: its presence marks the image as
complete, so later runs reuse it).
"""

import argparse
import gzip
import hashlib
import io
import json
import multiprocessing
import os
import platform
import random
import shutil
import stat
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request

GENERATOR_VERSION = 1
MIB = 1 << 20
BIG_TOTAL = 500 * MIB  # compressed bytes at scale 1.0
GZIP_LEVEL = 6

MT_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def log(msg):
    print(f"make_image: {msg}", file=sys.stderr, flush=True)


class Tee:
    """A write-only file object that hashes and counts what passes through."""

    def __init__(self, inner):
        self.inner = inner
        self.sha = hashlib.sha256()
        self.count = 0

    def write(self, data):
        self.sha.update(data)
        self.count += len(data)
        if self.inner is not None:
            self.inner.write(data)
        return len(data)

    def flush(self):
        if self.inner is not None:
            self.inner.flush()


class LayerWriter:
    """A gzip-compressed tar layer written to PATH.tmp, hashed compressed and uncompressed as
    it goes, and renamed to PATH when the block ends without an error."""

    def __init__(self, path):
        self.path = path
        self.tmp = path + ".tmp"

    def __enter__(self):
        self.raw = open(self.tmp, "wb")
        self.compressed = Tee(self.raw)
        self.gz = gzip.GzipFile(filename="", mode="wb", fileobj=self.compressed,
                                compresslevel=GZIP_LEVEL, mtime=0)
        self.uncompressed = Tee(self.gz)
        self.tar = tarfile.open(fileobj=self.uncompressed, mode="w|",
                                format=tarfile.PAX_FORMAT)
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.tar.close()
            self.gz.close()
        self.raw.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        return False

    def stats(self, index, **extra):
        """The layer's record in the image directory's layer list."""
        return {
            "index": index,
            "path": self.path,
            "size": self.compressed.count,
            "digest": "sha256:" + self.compressed.sha.hexdigest(),
            "diff_id": "sha256:" + self.uncompressed.sha.hexdigest(),
            "uncompressed": self.uncompressed.count,
            **extra,
        }


def toolchain_dirs():
    home = os.environ.get("RUSTUP_HOME") or os.path.expanduser("~/.rustup")
    base = os.path.join(home, "toolchains")
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return []
    paths = [os.path.join(base, n) for n in names]
    return [p for p in paths if os.path.isdir(p) and not os.path.islink(p)]


def big_layer_plan():
    """(weight, source roots) per layer; roots that don't exist are skipped."""
    return [
        (0.35, ["/usr/lib"]),
        (0.30, ["/usr/share", "/usr/include"]),
        (0.20, toolchain_dirs()),
        (0.15, ["/usr/bin", "/usr/sbin", "/usr/libexec", "/usr/local"]),
    ]


def walk(root):
    """Paths under root (root included), parents before children, sorted."""
    if not os.path.lexists(root):
        return
    yield root
    if os.path.islink(root) or not os.path.isdir(root):
        return
    for dirpath, dirnames, filenames in os.walk(root, onerror=lambda e: None):
        dirnames.sort()
        entries = sorted(dirnames + filenames)
        for name in entries:
            yield os.path.join(dirpath, name)


def normalise(info):
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def add_parents(tar, path, seen):
    parts = path.strip("/").split("/")[:-1]
    for i in range(1, len(parts) + 1):
        arc = "/".join(parts[:i])
        if arc in seen:
            continue
        seen.add(arc)
        info = tarfile.TarInfo(arc)
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(normalise(info))


def build_big_layer(args):
    """Writes one layer; returns its stats. Runs in a worker process."""
    index, target, roots, path = args
    seen = set()
    files = 0
    with LayerWriter(path) as layer:
        tar, compressed = layer.tar, layer.compressed
        for root in roots:
            for p in walk(root):
                remaining = target - compressed.count
                if remaining <= 0:
                    break
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                mode = st.st_mode
                if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
                    continue
                # Keep big files from overshooting a small target by far.
                if stat.S_ISREG(mode) and st.st_size > max(MIB, 3 * remaining):
                    continue
                arc = p.lstrip("/")
                if arc in seen:
                    continue
                try:
                    add_parents(tar, p, seen)
                    info = normalise(tar.gettarinfo(p, arcname=arc))
                    if info.isreg():
                        with open(p, "rb") as f:
                            tar.addfile(info, f)
                        files += 1
                    else:
                        tar.addfile(info)
                    seen.add(arc)
                except (OSError, tarfile.TarError) as e:
                    # A file vanished or shrank while being read: the layer
                    # would be corrupt; give up on this build loudly.
                    raise RuntimeError(f"reading {p}: {e}") from e
            if compressed.count >= target:
                break
    return layer.stats(index, files=files, roots=roots)


def many_layer(args):
    index, size, path = args
    rng = random.Random(f"drag-bench-many-{index}")
    data = rng.randbytes(size)
    with LayerWriter(path) as layer:
        info = tarfile.TarInfo("data")
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        layer.tar.addfile(normalise(info))
        info = tarfile.TarInfo(f"data/layer-{index:03d}.bin")
        info.size = size
        info.mode = 0o644
        layer.tar.addfile(normalise(info), io.BytesIO(data))
    return layer.stats(index, files=1)


def docker_arch():
    m = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64",
            "arm64": "arm64"}.get(m, m)


def write_image(out, layers, comment):
    """config.json and, last, manifest.json for already written layers."""
    config = {
        "architecture": docker_arch(),
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
        },
        "rootfs": {"type": "layers", "diff_ids": [l["diff_id"] for l in layers]},
        "history": [
            {"created": "1970-01-01T00:00:00Z", "created_by": f"{comment} layer {l['index']}"}
            for l in layers
        ],
    }
    config_bytes = json.dumps(config, indent=2, sort_keys=True).encode()
    with open(os.path.join(out, "config.json"), "wb") as f:
        f.write(config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": {
            "mediaType": MT_CONFIG,
            "size": len(config_bytes),
            "digest": "sha256:" + hashlib.sha256(config_bytes).hexdigest(),
        },
        "layers": [
            {"mediaType": MT_LAYER, "size": l["size"], "digest": l["digest"]}
            for l in layers
        ],
    }
    stats = {
        "layers": [{k: l[k] for k in ("path", "size", "digest", "uncompressed", "files")}
                   for l in layers],
        "compressed": sum(l["size"] for l in layers),
        "uncompressed": sum(l["uncompressed"] for l in layers),
    }
    with open(os.path.join(out, "stats.json"), "w") as f:
        json.dump(stats, f, indent=2)
    tmp = os.path.join(out, "manifest.json.tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=2)
    os.replace(tmp, os.path.join(out, "manifest.json"))


def summary(out):
    with open(os.path.join(out, "stats.json")) as f:
        s = json.load(f)
    return (f"{len(s['layers'])} layers, {s['compressed'] / MIB:.1f} MiB compressed, "
            f"{s['uncompressed'] / MIB:.1f} MiB uncompressed")


def fresh_dir(out):
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)


def cmd_big(a):
    if not a.scale > 0:
        sys.exit("make_image: --scale must be > 0")
    out = os.path.join(a.cache, f"big-v{GENERATOR_VERSION}-scale{a.scale:g}")
    if os.path.exists(os.path.join(out, "manifest.json")):
        log(f"reusing {out} ({summary(out)})")
        print(out)
        return
    fresh_dir(out)
    total = BIG_TOTAL * a.scale
    plan = big_layer_plan()
    # A layer whose own roots run out continues with the other layers' roots.
    all_roots = [r for _, roots in plan for r in roots]
    jobs = []
    for i, (weight, roots) in enumerate(plan, 1):
        fallback = [r for r in all_roots if r not in roots]
        jobs.append((i, int(total * weight), roots + fallback,
                     os.path.join(out, f"layer-{i}.tar.gz")))
    log(f"building {out}: {len(jobs)} layers, {total / MIB:.1f} MiB compressed "
        f"(gzip -{GZIP_LEVEL}; takes a while at scale 1)")
    with multiprocessing.Pool(min(len(jobs), os.cpu_count() or 1)) as pool:
        layers = sorted(pool.map(build_big_layer, jobs, chunksize=1),
                        key=lambda l: l["index"])
    for l in layers:
        log(f"  layer {l['index']}: {l['size'] / MIB:.1f} MiB gz, "
            f"{l['uncompressed'] / MIB:.1f} MiB tar, {l['files']} files")
        if l["size"] < jobs[l["index"] - 1][1] * 0.9:
            log(f"  warning: layer {l['index']} ran out of source files")
    write_image(out, layers, "drag bench big")
    log(f"built {out} ({summary(out)})")
    print(out)


def cmd_many(a):
    out = os.path.join(a.cache, f"many-v{GENERATOR_VERSION}-{a.layers}x{a.layer_mib:g}MiB")
    if os.path.exists(os.path.join(out, "manifest.json")):
        log(f"reusing {out} ({summary(out)})")
        print(out)
        return
    fresh_dir(out)
    size = int(a.layer_mib * MIB)
    jobs = [(i, size, os.path.join(out, f"layer-{i:03d}.tar.gz"))
            for i in range(1, a.layers + 1)]
    layers = [many_layer(j) for j in jobs]
    write_image(out, layers, "drag bench many")
    log(f"built {out} ({summary(out)})")
    print(out)


def request(method, url, data=None, headers=None, expect=(200,)):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        resp = urllib.request.urlopen(req, timeout=600)
    except urllib.error.HTTPError as e:
        body = e.read().decode(errors="replace")
        sys.exit(f"make_image: {method} {url}: HTTP {e.code}: {body}")
    with resp:
        resp.read()
        if resp.status not in expect:
            sys.exit(f"make_image: {method} {url}: unexpected HTTP {resp.status}")
        return resp


def push_blob(base, repo, path, digest, size):
    resp = request("POST", f"{base}/v2/{repo}/blobs/uploads/", data=b"",
                   headers={"Content-Length": "0"}, expect=(202,))
    location = urllib.parse.urljoin(base + "/", resp.headers["Location"])
    sep = "&" if "?" in location else "?"
    url = f"{location}{sep}digest={urllib.parse.quote(digest)}"
    with open(path, "rb") as body:  # streamed by http.client, not read whole
        request("PUT", url, data=body, expect=(201,), headers={
            "Content-Length": str(size),
            "Content-Type": "application/octet-stream",
        })


def cmd_push(a):
    base = a.registry.rstrip("/")
    with open(os.path.join(a.image, "manifest.json"), "rb") as f:
        manifest_bytes = f.read()
    manifest = json.loads(manifest_bytes)
    layer_files = sorted(p for p in os.listdir(a.image) if p.startswith("layer-")
                         and p.endswith(".tar.gz"))
    if len(layer_files) != len(manifest["layers"]):
        sys.exit(f"make_image: {a.image}: layer files don't match the manifest")
    for desc, name in zip(manifest["layers"], layer_files):
        push_blob(base, a.repo, os.path.join(a.image, name), desc["digest"], desc["size"])
    push_blob(base, a.repo, os.path.join(a.image, "config.json"),
              manifest["config"]["digest"], manifest["config"]["size"])
    request("PUT", f"{base}/v2/{a.repo}/manifests/{a.tag}", data=manifest_bytes,
            headers={"Content-Type": MT_MANIFEST}, expect=(201,))


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("big")
    b.add_argument("--cache", required=True)
    b.add_argument("--scale", type=float, default=1.0)
    m = sub.add_parser("many")
    m.add_argument("--cache", required=True)
    m.add_argument("--layers", type=int, default=40)
    m.add_argument("--layer-mib", type=float, default=1.0)
    u = sub.add_parser("push")
    u.add_argument("image")
    u.add_argument("registry")
    u.add_argument("repo")
    u.add_argument("tag")
    a = p.parse_args()
    {"big": cmd_big, "many": cmd_many, "push": cmd_push}[a.cmd](a)


if __name__ == "__main__":
    main()
