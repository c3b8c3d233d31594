#!/usr/bin/env python3
"""Write N small synthetic images for `bench/scale-images.sh`: an OCI layout, and on request
the same images as an oci-archive (a tar of the layout) and a docker-archive (`docker save`).

Image i is named docker.io/scale/img-NNNNN:1 in index.json (both the
org.opencontainers.image.ref.name and io.containerd.image.name annotations). It has two gzip
layers: one of ten shared base layers (1 MiB of seeded pseudo-random bytes, incompressible;
image i takes base i % 10) and its own layer (--own KiB, default 4). Odd images are
two-platform image indexes (linux/amd64 + linux/arm64; the arm64 manifest has its own small
layer on the same base), even images single linux/amd64 manifests. The same arguments always
give the same bytes (fixed seed, tar mtimes and owners, gzip headers with mtime 0).

The docker-archive holds one single-platform image per name (the amd64 manifest of an
index), as `docker save` writes: manifest.json (Config, RepoTags, Layers naming
blobs/sha256/HEX members), repositories, and the blobs. Everything is streamed: memory stays
at a few hundred bytes per image.

    bench/make-scale-set.py DIR --images N [--own 4] [--seed 1]
                            [--oci-archive FILE] [--docker-archive FILE]
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import random
import sys
import tarfile

LAYER_MT = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG_MT = "application/vnd.oci.image.config.v1+json"
MANIFEST_MT = "application/vnd.oci.image.manifest.v1+json"
INDEX_MT = "application/vnd.oci.image.index.v1+json"
BASES = 10
BASE_SIZE = 1 << 20


def ref_of(i):
    return f"docker.io/scale/img-{i:05d}:1"


def tar_of(name, data):
    """A one-file tar (GNU format, mtime 0, root owner), as bytes."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    pad = (-len(data)) % 512
    return info.tobuf(format=tarfile.GNU_FORMAT) + data + b"\0" * pad + b"\0" * 1024


def canonical(obj):
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


class Layout:
    """Writes blobs into DIR/blobs/sha256, each once."""

    def __init__(self, root):
        self.blobs = os.path.join(root, "blobs", "sha256")
        os.makedirs(self.blobs, exist_ok=True)

    def put(self, data):
        hexd = hashlib.sha256(data).hexdigest()
        path = os.path.join(self.blobs, hexd)
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(data)
        return {"digest": "sha256:" + hexd, "size": len(data)}

    def layer(self, name, data):
        """A gzip'd one-file tar layer; returns (descriptor, diff_id)."""
        raw = tar_of(name, data)
        desc = self.put(gzip.compress(raw, compresslevel=1, mtime=0))
        return dict(mediaType=LAYER_MT, **desc), "sha256:" + hashlib.sha256(raw).hexdigest()


def image(lay, rng, i, arch, base):
    """One platform's config and manifest; returns (manifest descriptor, config desc, layers)."""
    own, own_diff = lay.layer(f"own-{i:05d}-{arch}.bin", rng.randbytes(OWN))
    config = {
        "architecture": arch,
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "rootfs": {"type": "layers", "diff_ids": [base[1], own_diff]},
        "config": {"Labels": {"bench": f"{i:05d}"}},
    }
    cdesc = dict(mediaType=CONFIG_MT, **lay.put(canonical(config)))
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MT,
        "config": cdesc,
        "layers": [base[0], own],
    }
    mdesc = dict(mediaType=MANIFEST_MT, **lay.put(canonical(manifest)))
    return mdesc, cdesc, [base[0], own]


def add_file(tar, name, path=None, data=None):
    info = tarfile.TarInfo(name)
    info.mtime, info.mode = 0, 0o644
    if data is None:
        info.size = os.path.getsize(path)
        with open(path, "rb") as f:
            tar.addfile(info, f)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def add_dir(tar, name):
    info = tarfile.TarInfo(name)
    info.type, info.mtime, info.mode = tarfile.DIRTYPE, 0, 0o755
    tar.addfile(info)


def main():
    global OWN
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="layout directory to write (created)")
    ap.add_argument("--images", type=int, required=True)
    ap.add_argument("--own", type=int, default=4, help="KiB of each image's own layer (default 4)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--oci-archive", help="also write a tar of the layout here")
    ap.add_argument("--docker-archive", help="also write a docker save tar here")
    a = ap.parse_args()
    if a.images < 1 or a.own < 1:
        ap.error("--images and --own must be positive")
    OWN = a.own * 1024
    lay = Layout(a.dir)
    rng = random.Random(a.seed)
    bases = [lay.layer(f"base-{b}.bin", rng.randbytes(BASE_SIZE)) for b in range(BASES)]

    # The docker-archive's manifest.json is streamed into a side file, entry by entry.
    dock = open(os.path.join(a.dir, ".docker-manifest.json"), "w") if a.docker_archive else None
    with open(os.path.join(a.dir, "index.json.tmp"), "w") as index:
        index.write('{"manifests":[')
        for i in range(1, a.images + 1):
            ref = ref_of(i)
            base = bases[i % BASES]
            amd, cdesc, layers = image(lay, rng, i, "amd64", base)
            if i % 2:
                arm, _, _ = image(lay, rng, i, "arm64", base)
                doc = {
                    "schemaVersion": 2,
                    "mediaType": INDEX_MT,
                    "manifests": [
                        dict(platform={"architecture": "amd64", "os": "linux"}, **amd),
                        dict(platform={"architecture": "arm64", "os": "linux"}, **arm),
                    ],
                }
                top = dict(mediaType=INDEX_MT, **lay.put(canonical(doc)))
            else:
                top = dict(platform={"architecture": "amd64", "os": "linux"}, **amd)
            top["annotations"] = {
                "io.containerd.image.name": ref,
                "org.opencontainers.image.ref.name": ref,
            }
            index.write(("," if i > 1 else "") + canonical(top).decode())
            if dock:
                entry = {
                    "Config": "blobs/sha256/" + cdesc["digest"][7:],
                    "RepoTags": [ref.removeprefix("docker.io/")],
                    "Layers": ["blobs/sha256/" + l["digest"][7:] for l in layers],
                }
                dock.write(("[" if i == 1 else ",") + canonical(entry).decode())
        index.write(f'],"mediaType":"{INDEX_MT}","schemaVersion":2}}')
    os.replace(os.path.join(a.dir, "index.json.tmp"), os.path.join(a.dir, "index.json"))
    with open(os.path.join(a.dir, "oci-layout"), "wb") as f:
        f.write(canonical({"imageLayoutVersion": "1.0.0"}))
    names = sorted(os.listdir(lay.blobs))

    if a.oci_archive:
        with tarfile.open(a.oci_archive + ".tmp", "w", format=tarfile.PAX_FORMAT) as tar:
            add_file(tar, "oci-layout", os.path.join(a.dir, "oci-layout"))
            add_file(tar, "index.json", os.path.join(a.dir, "index.json"))
            add_dir(tar, "blobs")
            add_dir(tar, "blobs/sha256")
            for n in names:
                add_file(tar, "blobs/sha256/" + n, os.path.join(lay.blobs, n))
        os.replace(a.oci_archive + ".tmp", a.oci_archive)

    if dock:
        dock.write("]")
        dock.close()
        side = os.path.join(a.dir, ".docker-manifest.json")
        repos = {}
        with tarfile.open(a.docker_archive + ".tmp", "w", format=tarfile.PAX_FORMAT) as tar:
            add_dir(tar, "blobs")
            add_dir(tar, "blobs/sha256")
            # Every blob of the layout except the arm64 ones and the index documents: simpler
            # to keep them all; docker-archive readers ignore members no entry names.
            for n in names:
                add_file(tar, "blobs/sha256/" + n, os.path.join(lay.blobs, n))
            add_file(tar, "manifest.json", side)
            for i in range(1, a.images + 1):
                repo, tag = ref_of(i).removeprefix("docker.io/").rsplit(":", 1)
                repos[repo] = {tag: ""}
            add_file(tar, "repositories", data=canonical(repos))
        os.remove(side)
        os.replace(a.docker_archive + ".tmp", a.docker_archive)
    print(f"{a.dir}: {a.images} images, {len(names)} blobs", file=sys.stderr)


if __name__ == "__main__":
    main()
