#!/usr/bin/env python3
"""Write the image set of `bench/e2e.sh` as one OCI image layout.

A cluster's images share base layers: here three bases (a Debian-like 48 MiB, a
distroless-like 16 MiB, an Alpine-like 6 MiB) and three runtimes on top of some of them
(a JRE 64 MiB, a Python 40 MiB, a Node 32 MiB), then each image's own layer, of 8, 16, 32
or 48 MiB in turn, and a small config layer. The first images carry the names the k3s
release needs (pause, klipper-helm, coredns, ...; `--names`), the others are
`bench/app-NN:1`. Sizes are of the uncompressed content; layers are gzip (level 1) of
content that is half seeded random bytes, half word-like text, so gzip reaches ~1.5x and
a docker-archive (which stores layers uncompressed) is larger than the registry's blobs,
as with real images.

Every layer's bytes depend only on its name and --seed, so a larger set repeats a smaller
one's images exactly (same digests) and adds more. One extra manifest, ref name
`CHANGED_NAME:changed`, is the image named by --changed with a different own layer:
`bench/e2e.sh` pushes it under the original tag to measure a rebuild with one image
changed.

index.json names each manifest by its registry path and tag
(`rancher/mirrored-pause:3.6`); `names.txt` lists them in order, one per line.

    bench/e2e-images.py DIR --images 24 [--names N1,N2,...] [--factor 1.0] [--seed 1]
                            [--changed bench/app-01:1]
"""

import argparse
import gzip
import hashlib
import json
import os
import random
import tarfile

LAYER_MT = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG_MT = "application/vnd.oci.image.config.v1+json"
MANIFEST_MT = "application/vnd.oci.image.manifest.v1+json"
INDEX_MT = "application/vnd.oci.image.index.v1+json"
MIB = 1 << 20
CHUNK = 64 * 1024  # half random, half text
FILE_MAX = 16 * MIB  # a layer is a tar of files of at most this size

WORDS = (
    "the quick brown fox jumps over lazy dog kubernetes container image layer "
    "cluster node pod service airgap registry mirror config manifest digest blob "
    "usr lib bin share etc var log cache python3 libc so static binary include "
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor"
).split()

# name: (uncompressed MiB, parent or None)
BASES = {"base-debian": (48, None), "base-distroless": (16, None), "base-alpine": (6, None)}
RUNTIMES = {"rt-jre": (64, "base-debian"), "rt-python": (40, "base-debian"),
            "rt-node": (32, "base-alpine")}
# Image i (0-based) is built on STACKS[i % len]: its base and runtime layers, in order.
STACKS = [
    ["base-debian"], ["base-debian", "rt-python"], ["base-distroless"],
    ["base-debian", "rt-jre"], ["base-alpine"], ["base-alpine", "rt-node"],
    ["base-debian", "rt-python"], ["base-distroless"],
]
OWN_MIB = [8, 16, 32, 48]


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


class Content:
    """A read-only file of `size` bytes: 32 KiB random, 32 KiB text, repeated."""

    def __init__(self, rng, pool, size):
        self.rng, self.pool, self.left, self.buf = rng, pool, size, b""

    def read(self, n=-1):
        n = self.left if n is None or n < 0 else min(n, self.left)
        while len(self.buf) < n:
            half = CHUNK // 2
            start = self.rng.randrange(len(self.pool) - half)
            self.buf += self.rng.randbytes(half) + self.pool[start:start + half]
        out, self.buf = self.buf[:n], self.buf[n:]
        self.left -= len(out)
        return out


def rng_for(seed, name):
    return random.Random(hashlib.sha256(f"{seed}:{name}".encode()).digest())


def text_pool(seed):
    rng = rng_for(seed, "text")
    return " ".join(rng.choice(WORDS) for _ in range(200_000)).encode()


def write_blob(blobs, fill):
    """Streams a blob into blobs/ via a temp file; returns (digest, size)."""
    tmp = os.path.join(blobs, ".tmp")
    with open(tmp, "wb") as f:
        sink = Sink(f)
        fill(sink)
    os.replace(tmp, os.path.join(blobs, sink.h.hexdigest()))
    return "sha256:" + sink.h.hexdigest(), sink.n


def layer(blobs, cache, seed, pool, name, size):
    """A gzip tar of `size` bytes of content under /opt/NAME/; returns (desc, diff_id)."""
    if name in cache:
        return cache[name]
    rng = rng_for(seed, name)
    safe = name.replace("/", "_").replace(":", "_")
    diff = hashlib.sha256()

    def fill(sink):
        with gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=1, mtime=0) as gz:

            class Tee:
                def write(self, b):
                    diff.update(b)
                    return gz.write(b)

            with tarfile.open(fileobj=Tee(), mode="w|", format=tarfile.GNU_FORMAT) as tar:
                left, part = size, 0
                while True:
                    n = min(left, FILE_MAX)
                    info = tarfile.TarInfo(f"opt/{safe}/part-{part:03d}.bin")
                    info.size, info.mtime, info.mode = n, 0, 0o644
                    info.uid = info.gid = 0
                    tar.addfile(info, Content(rng, pool, n))
                    left -= n
                    part += 1
                    if left <= 0:
                        break

    digest, blob_size = write_blob(blobs, fill)
    cache[name] = ({"mediaType": LAYER_MT, "digest": digest, "size": blob_size},
                   "sha256:" + diff.hexdigest())
    return cache[name]


def document(blobs, obj):
    raw = json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()
    return write_blob(blobs, lambda s: s.write(raw))


def image(blobs, cache, seed, pool, factor, i, ref, own_name):
    """Writes image `i` (config + manifest); returns the index entry."""
    mib = lambda m: max(4096, int(m * factor * MIB))  # noqa: E731
    names = []
    for s in STACKS[i % len(STACKS)]:
        names.append((s, (BASES | RUNTIMES)[s][0]))
    names.append((own_name, OWN_MIB[i % len(OWN_MIB)]))
    names.append((own_name + "-etc", 0.0625))
    layers, diffs = [], []
    for name, m in names:
        desc, diff = layer(blobs, cache, seed, pool, name, mib(m))
        layers.append(desc)
        diffs.append(diff)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2025-01-01T00:00:00Z",
        "rootfs": {"type": "layers", "diff_ids": diffs},
        "config": {"Labels": {"bench.e2e": ref}, "Cmd": ["/bin/sh"]},
    }
    cd, cs = document(blobs, config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MT,
        "config": {"mediaType": CONFIG_MT, "digest": cd, "size": cs},
        "layers": layers,
    }
    md, ms = document(blobs, manifest)
    return {"mediaType": MANIFEST_MT, "digest": md, "size": ms,
            "annotations": {"org.opencontainers.image.ref.name": ref}}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--images", type=int, default=24)
    p.add_argument("--names", default="", help="comma-separated ref names of the first images")
    p.add_argument("--factor", type=float, default=1.0, help="multiplies every layer size")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--changed", default="bench/app-01:1")
    a = p.parse_args()
    blobs = os.path.join(a.dir, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    pool = text_pool(a.seed)
    cache = {}
    first = [n for n in a.names.split(",") if n]
    refs = first[: a.images]
    app = 1
    while len(refs) < a.images:
        refs.append(f"bench/app-{app:02d}:1")
        app += 1
    if a.changed not in refs:
        raise SystemExit(f"--changed {a.changed} is not one of the {a.images} images")
    entries = []
    for i, ref in enumerate(refs):
        entries.append(image(blobs, cache, a.seed, pool, a.factor, i, ref, f"own-{ref}"))
    i = refs.index(a.changed)
    name = a.changed.rsplit(":", 1)[0]
    entries.append(image(blobs, cache, a.seed, pool, a.factor, i, name + ":changed",
                         f"own-{a.changed}-v2"))
    with open(os.path.join(a.dir, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "mediaType": INDEX_MT, "manifests": entries}, f)
    with open(os.path.join(a.dir, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(a.dir, "names.txt"), "w") as f:
        f.write("".join(r + "\n" for r in refs))


if __name__ == "__main__":
    main()
