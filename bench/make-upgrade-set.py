#!/usr/bin/env python3
"""Write the image sets of `bench/delta.sh` as one OCI image layout: the lab's images at
one k3s release (v1) and at its next patch release (v2).

v1 is the lab's list (fixtures/lab/images.txt: the k3s v1.33.1+k3s1 airgap images) plus
--apps application images, each made as bench/e2e-images.py makes its images: shared base
and runtime layers (48, 16 and 6 MiB bases; 64, 40 and 32 MiB runtimes), then an own layer
of 8-48 MiB and a small config layer, gzip of half random, half text content (times
--factor).

v2 is what a patch release does to such a set: some system images get a new tag whose
image is the old one with a new own layer and a new small layer (the base and runtime
layers are the same blobs), the others stay as they are, and one image is added (a new
application image on a base the set already has).

`names-v1.txt` and `names-v2.txt` list each version's ref names (`rancher/klipper-helm:v0.9.5-build20250306`),
one a line; every ref of both is in index.json. Every layer's bytes depend only on its
name and --seed: the same arguments write the same blobs.

    bench/make-upgrade-set.py DIR [--apps 0] [--factor 1.0] [--seed 1]
"""

import argparse
import importlib.util
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("e2e_images", os.path.join(HERE, "e2e-images.py"))
e2e = importlib.util.module_from_spec(spec)
spec.loader.exec_module(e2e)

# The lab's images (fixtures/lab/images.txt, k3s v1.33.1+k3s1), in its order.
V1 = [
    "rancher/mirrored-pause:3.6",
    "rancher/mirrored-coredns-coredns:1.12.1",
    "rancher/local-path-provisioner:v0.0.31",
    "rancher/mirrored-metrics-server:v0.7.2",
    "rancher/klipper-helm:v0.9.5-build20250306",
    "rancher/klipper-lb:v0.4.13",
    "rancher/mirrored-library-traefik:3.3.6",
    "rancher/mirrored-library-busybox:1.36.1",
]
# The patch release: these get a new tag, each a new own layer over the same base layers.
BUMPED = {
    "rancher/local-path-provisioner:v0.0.31": "rancher/local-path-provisioner:v0.0.32",
    "rancher/klipper-helm:v0.9.5-build20250306": "rancher/klipper-helm:v0.9.7-build20250616",
    "rancher/mirrored-library-traefik:3.3.6": "rancher/mirrored-library-traefik:3.3.7",
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--apps", type=int, default=0, help="application images besides the lab's")
    p.add_argument("--factor", type=float, default=1.0, help="multiplies every layer size")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    blobs = os.path.join(a.dir, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    pool = e2e.text_pool(a.seed)
    cache = {}
    v1 = V1 + [f"bench/app-{n:02d}:1" for n in range(1, a.apps + 1)]
    entries, v2 = [], []
    for i, ref in enumerate(v1):
        entries.append(e2e.image(blobs, cache, a.seed, pool, a.factor, i, ref, f"own-{ref}"))
        new = BUMPED.get(ref)
        if new:
            # Image i's stack again: the same base and runtime blobs, a new own layer.
            entries.append(e2e.image(blobs, cache, a.seed, pool, a.factor, i, new, f"own-{new}"))
        v2.append(new or ref)
    added = "bench/app-added:1"
    entries.append(e2e.image(blobs, cache, a.seed, pool, a.factor, len(v1), added, f"own-{added}"))
    v2.append(added)
    with open(os.path.join(a.dir, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "mediaType": e2e.INDEX_MT, "manifests": entries}, f)
    with open(os.path.join(a.dir, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    for name, refs in (("names-v1.txt", v1), ("names-v2.txt", v2)):
        with open(os.path.join(a.dir, name), "w") as f:
            f.write("".join(r + "\n" for r in refs))


if __name__ == "__main__":
    main()
