#!/usr/bin/env python3
"""Write an OCI image layout of N images sharing one base layer, for `bench/mirror.sh`.

Image i (bench/mirror-01:1 ... bench/mirror-NN:1 as ref names) has two gzip layers: the
shared base (--base MiB of tar content) and its own layer (--own MiB). The content is
seeded pseudo-random bytes, so gzip (level 1) cannot shrink it and the layer sizes are
about the content sizes: with the defaults, 100 MiB + 20 x 20 MiB = 500 MiB of unique
blobs. The same arguments always give the same bytes (fixed seed, mtimes, gzip header).

With --pinned 1 (the default) the set also holds bench/mirror-pinned:1, a multi-platform
index as buildx writes one: linux/amd64 and linux/arm64 images (the shared base and an own
--own MiB layer each) and an attestation manifest for each (`unknown/unknown`, an in-toto
layer), which a list pins by the index digest, so it is mirrored whole.

    bench/make-mirror-set.py DIR [--images 20] [--base 100] [--own 20] [--pinned 1] [--seed 1]
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
CHUNK = 1 << 20


class Sink:
    """Hashes, counts and writes what goes through it."""

    def __init__(self, f):
        self.f, self.h, self.n = f, hashlib.sha256(), 0

    def write(self, b):
        self.h.update(b)
        self.n += len(b)
        return self.f.write(b)

    def flush(self):
        self.f.flush()


class Random:
    """A read-only file of `size` seeded pseudo-random bytes."""

    def __init__(self, rng, size):
        self.rng, self.left = rng, size

    def read(self, n=-1):
        n = self.left if n is None or n < 0 else min(n, self.left)
        self.left -= n
        return self.rng.randbytes(n)


def write_blob(blobs, data_writer):
    """Streams a blob into blobs/ via a temp file; returns (digest, size)."""
    tmp = os.path.join(blobs, ".tmp")
    with open(tmp, "wb") as f:
        sink = Sink(f)
        data_writer(sink)
    digest = "sha256:" + sink.h.hexdigest()
    os.replace(tmp, os.path.join(blobs, sink.h.hexdigest()))
    return digest, sink.n


def layer(blobs, rng, name, mib):
    """A gzip'd tar holding one file of `mib` MiB of random bytes; returns (desc, diff_id)."""
    diff = hashlib.sha256()

    def write(sink):
        with gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=1, mtime=0) as gz:

            class Tee:
                def write(self, b):
                    diff.update(b)
                    return gz.write(b)

            with tarfile.open(fileobj=Tee(), mode="w|", format=tarfile.GNU_FORMAT) as tar:
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = mib * CHUNK, 0, 0o644
                tar.addfile(info, Random(rng, info.size))

    digest, size = write_blob(blobs, write)
    return {"mediaType": LAYER_MT, "digest": digest, "size": size}, "sha256:" + diff.hexdigest()


def document(blobs, obj):
    raw = json.dumps(obj, separators=(",", ":")).encode()
    return write_blob(blobs, lambda s: s.write(raw))


def pinned_index(blobs, rng, base, base_diff, own_mib):
    """An index of two platform images and an attestation manifest for each; its entry."""
    children = []
    for arch in ["amd64", "arm64"]:
        own, own_diff = layer(blobs, rng, f"own-pinned-{arch}.bin", own_mib)
        config = {
            "architecture": arch,
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [base_diff, own_diff]},
        }
        cd, cs = document(blobs, config)
        md, ms = document(blobs, {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MT,
            "config": {"mediaType": CONFIG_MT, "digest": cd, "size": cs},
            "layers": [base, own],
        })
        children.append({"mediaType": MANIFEST_MT, "digest": md, "size": ms,
                         "platform": {"architecture": arch, "os": "linux"}})
    for image in list(children):
        statement = {"_type": "https://in-toto.io/Statement/v0.1",
                     "predicateType": "https://spdx.dev/Document",
                     "subject": [{"name": "bench/mirror-pinned",
                                  "digest": {"sha256": image["digest"][7:]}}],
                     "predicate": {}}
        sd, ss = document(blobs, statement)
        ed, es = document(blobs, {})
        md, ms = document(blobs, {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MT,
            "config": {"mediaType": CONFIG_MT, "digest": ed, "size": es},
            "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": sd, "size": ss,
                        "annotations": {"in-toto.io/predicate-type": "https://spdx.dev/Document"}}],
        })
        children.append({"mediaType": MANIFEST_MT, "digest": md, "size": ms,
                         "platform": {"architecture": "unknown", "os": "unknown"},
                         "annotations": {"vnd.docker.reference.digest": image["digest"],
                                         "vnd.docker.reference.type": "attestation-manifest"}})
    d, n = document(blobs, {"schemaVersion": 2, "mediaType": INDEX_MT, "manifests": children})
    return {"mediaType": INDEX_MT, "digest": d, "size": n,
            "annotations": {"org.opencontainers.image.ref.name": "bench/mirror-pinned:1"}}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--images", type=int, default=20)
    p.add_argument("--base", type=int, default=100)
    p.add_argument("--own", type=int, default=20)
    p.add_argument("--pinned", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    blobs = os.path.join(a.dir, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    rng = random.Random(a.seed)
    base, base_diff = layer(blobs, rng, "base.bin", a.base)
    entries = []
    for i in range(1, a.images + 1):
        own, own_diff = layer(blobs, rng, f"own-{i:02d}.bin", a.own)
        config = {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [base_diff, own_diff]},
            "config": {"Labels": {"bench": f"{i:02d}"}},
        }
        cd, cs = document(blobs, config)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MT,
            "config": {"mediaType": CONFIG_MT, "digest": cd, "size": cs},
            "layers": [base, own],
        }
        md, ms = document(blobs, manifest)
        entries.append({
            "mediaType": MANIFEST_MT,
            "digest": md,
            "size": ms,
            "annotations": {"org.opencontainers.image.ref.name": f"bench/mirror-{i:02d}:1"},
        })
    if a.pinned:
        entries.append(pinned_index(blobs, rng, base, base_diff, a.own))
    with open(os.path.join(a.dir, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "mediaType": INDEX_MT, "manifests": entries}, f)
    with open(os.path.join(a.dir, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')


if __name__ == "__main__":
    main()
