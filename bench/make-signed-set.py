#!/usr/bin/env python3
"""Write N small images into one OCI layout, for `bench/signatures.sh`.

Image i (ref name img-NNNN:1 in index.json) is one linux/amd64 manifest with its own config
and one gzip layer: a tar holding one file of --size bytes of seeded pseudo-random content
(incompressible, distinct per image). Small sizes make a mirror of the set measure the
per-image work (the manifest, the config, one layer, and whatever else is asked for each
image), not the bytes. The same arguments always give the same bytes (fixed seed, tar mtimes
and owners, gzip headers with mtime 0).

    bench/make-signed-set.py DIR --images N [--size 512] [--seed 1]
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import random
import tarfile

LAYER_MT = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG_MT = "application/vnd.oci.image.config.v1+json"
MANIFEST_MT = "application/vnd.oci.image.manifest.v1+json"
INDEX_MT = "application/vnd.oci.image.index.v1+json"


def put(blobs, data):
    """Stores `data` under its digest; returns its descriptor fields."""
    hexd = hashlib.sha256(data).hexdigest()
    path = os.path.join(blobs, hexd)
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
    return {"digest": f"sha256:{hexd}", "size": len(data)}


def layer(rng, i, size):
    """A gzip tar of one file, its compressed bytes and its uncompressed digest."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(f"data/img-{i:04d}.bin")
        info.size, info.mtime, info.mode = size, 0, 0o644
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        tar.addfile(info, io.BytesIO(rng.randbytes(size)))
    plain = raw.getvalue()
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", compresslevel=1, mtime=0) as g:
        g.write(plain)
    return gz.getvalue(), "sha256:" + hashlib.sha256(plain).hexdigest()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir")
    p.add_argument("--images", type=int, required=True)
    p.add_argument("--size", type=int, default=512, help="bytes of content in each image's layer")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    blobs = os.path.join(a.dir, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    rng = random.Random(a.seed)
    index = []
    for i in range(1, a.images + 1):
        gz, diff_id = layer(rng, i, a.size)
        lay = {"mediaType": LAYER_MT, **put(blobs, gz)}
        config = {
            "architecture": "amd64",
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": {"Cmd": ["/data/img-%04d.bin" % i]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "make-signed-set.py"}],
        }
        cfg = {"mediaType": CONFIG_MT, **put(blobs, json.dumps(config, sort_keys=True).encode())}
        manifest = {"schemaVersion": 2, "mediaType": MANIFEST_MT, "config": cfg, "layers": [lay]}
        m = put(blobs, json.dumps(manifest, sort_keys=True).encode())
        index.append({
            "mediaType": MANIFEST_MT,
            **m,
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"org.opencontainers.image.ref.name": f"img-{i:04d}:1"},
        })
    with open(os.path.join(a.dir, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(a.dir, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "mediaType": INDEX_MT, "manifests": index}, f)


if __name__ == "__main__":
    main()
