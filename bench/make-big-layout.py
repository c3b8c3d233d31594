#!/usr/bin/env python3
"""Write a large, deterministic OCI image layout for benchmarking `seedforge airgap`.

The layout holds one image, named docker.io/bench/big:1 in index.json (both the
org.opencontainers.image.ref.name and io.containerd.image.name annotations), whose
uncompressed tar layers total about --size MiB. Every layer is a tar of a few files
whose content alternates 32 KiB of pseudo-random bytes with 32 KiB of word-like text,
so compressors have real work to do and reach a realistic ratio (~1.8x with zstd -3).

Layers are streamed to disk and hashed on the way; no layer is held in memory.
The same arguments always give the same bytes (fixed seed, mtimes, owners, modes).

    bench/make-big-layout.py DIR [--size MIB] [--layers N] [--seed S] [--gzip]

With --gzip every layer is stored gzip-compressed (level 1, media type ...tar+gzip), as
registries serve them; --size is then the compressed total, approximately.
"""

import argparse
import gzip
import hashlib
import json
import os
import random
import sys
import tarfile

REF = "docker.io/bench/big:1"
CHUNK = 64 * 1024  # half random, half text
FILE_SIZE = 32 * 1024 * 1024  # files per layer are at most this big
LAYER_MT = "application/vnd.oci.image.layer.v1.tar"
GZIP_LAYER_MT = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG_MT = "application/vnd.oci.image.config.v1+json"
MANIFEST_MT = "application/vnd.oci.image.manifest.v1+json"
INDEX_MT = "application/vnd.oci.image.index.v1+json"

WORDS = (
    "the quick brown fox jumps over lazy dog kubernetes container image layer "
    "cluster node pod service airgap registry mirror config manifest digest blob "
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
    "usr lib bin share etc var log cache python3 libc so static binary include"
).split()


class HashingFile:
    """A write-only file object that hashes and counts what goes through it."""

    def __init__(self, f):
        self.f = f
        self.h = hashlib.sha256()
        self.n = 0

    def write(self, b):
        self.h.update(b)
        self.n += len(b)
        return self.f.write(b)

    def flush(self):
        self.f.flush()


class ContentReader:
    """Read-only file object yielding `size` bytes of partly compressible data."""

    def __init__(self, rng, text_pool, size):
        self.rng = rng
        self.pool = text_pool
        self.left = size
        self.buf = b""

    def _chunk(self):
        half = CHUNK // 2
        start = self.rng.randrange(len(self.pool) - half)
        return self.rng.randbytes(half) + self.pool[start : start + half]

    def read(self, n=-1):
        if n is None or n < 0:
            n = self.left
        n = min(n, self.left)
        while len(self.buf) < n:
            self.buf += self._chunk()
        out, self.buf = self.buf[:n], self.buf[n:]
        self.left -= len(out)
        return out


def text_pool(rng, size=1 << 20):
    lines = []
    total = 0
    while total < size:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14)))
        line = f"{rng.randrange(1 << 20):06x} {line}\n"
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()[:size]


def write_blob(blobs, data):
    hexd = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, hexd), "wb") as f:
        f.write(data)
    return hexd, len(data)


def write_layer(blobs, rng, pool, index, size, compress=False):
    """Returns (blob hex digest, blob size, diff_id hex digest)."""
    tmp = os.path.join(blobs, f".layer-{index}.tmp")
    with open(tmp, "wb", buffering=1 << 20) as raw:
        stored = HashingFile(raw)
        gz = gzip.GzipFile(fileobj=stored, mode="wb", compresslevel=1, mtime=0) if compress else None
        hf = HashingFile(gz) if compress else stored
        with tarfile.open(fileobj=hf, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
            d = tarfile.TarInfo(f"data{index}")
            d.type = tarfile.DIRTYPE
            d.mode = 0o755
            d.mtime = 0
            tar.addfile(d)
            left, n = size, 0
            while left > 0:
                fsize = min(FILE_SIZE, left)
                ti = tarfile.TarInfo(f"data{index}/file{n:04d}.bin")
                ti.size = fsize
                ti.mode = 0o644
                ti.mtime = 0
                tar.addfile(ti, ContentReader(rng, pool, fsize))
                left -= fsize
                n += 1
        if gz:
            gz.close()
    hexd = stored.h.hexdigest()
    os.replace(tmp, os.path.join(blobs, hexd))
    return hexd, stored.n, hf.h.hexdigest()


def canonical(obj):
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="layout directory to write (created; must be empty or absent)")
    ap.add_argument("--size", type=int, default=1024, help="total layer content in MiB (default 1024)")
    ap.add_argument("--layers", type=int, default=8, help="number of layers (default 8)")
    ap.add_argument("--seed", type=int, default=1, help="PRNG seed (default 1)")
    ap.add_argument("--gzip", action="store_true", help="store the layers gzip-compressed")
    args = ap.parse_args()
    if args.size < 1 or args.layers < 1:
        ap.error("--size and --layers must be positive")

    blobs = os.path.join(args.dir, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    if os.listdir(blobs):
        sys.exit(f"{args.dir}: not empty")

    rng = random.Random(args.seed)
    pool = text_pool(rng)
    total = args.size * 1024 * 1024
    if args.gzip:
        total = total * 3 // 2  # gzip -1 makes about 1.5x of this content
    base, extra = divmod(total, args.layers)
    layers = []
    for i in range(args.layers):
        size = base + (1 if i < extra else 0)
        hexd, n, diff = write_layer(blobs, rng, pool, i, size, args.gzip)
        mt = GZIP_LAYER_MT if args.gzip else LAYER_MT
        layers.append({"mediaType": mt, "digest": "sha256:" + hexd, "size": n, "diff": diff})
        print(f"layer {i + 1}/{args.layers}: sha256:{hexd} {n} bytes", file=sys.stderr)

    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + l.pop("diff") for l in layers]},
        "history": [
            {"created": "1970-01-01T00:00:00Z", "created_by": f"bench layer {i}"}
            for i in range(len(layers))
        ],
    }
    chex, csize = write_blob(blobs, canonical(config))
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MT,
        "config": {"mediaType": CONFIG_MT, "digest": "sha256:" + chex, "size": csize},
        "layers": layers,
    }
    mhex, msize = write_blob(blobs, canonical(manifest))
    index = {
        "schemaVersion": 2,
        "mediaType": INDEX_MT,
        "manifests": [
            {
                "mediaType": MANIFEST_MT,
                "digest": "sha256:" + mhex,
                "size": msize,
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {
                    "io.containerd.image.name": REF,
                    "org.opencontainers.image.ref.name": REF,
                },
            }
        ],
    }
    with open(os.path.join(args.dir, "index.json"), "wb") as f:
        f.write(canonical(index))
    with open(os.path.join(args.dir, "oci-layout"), "wb") as f:
        f.write(canonical({"imageLayoutVersion": "1.0.0"}))
    print(f"{args.dir}: {REF}, manifest sha256:{mhex}", file=sys.stderr)


if __name__ == "__main__":
    main()
