#!/usr/bin/env python3
"""Write the image sets of `bench/hops.sh` as one OCI image layout: the lab's images at k3s
v1.33.1+k3s1 and the images of v1.34.2+k3s1, v1.35.1+k3s1 and v1.36.2+k3s1, each release's
packaged components under the tags its release notes give (seedforge's release table).

Each image is made as bench/e2e-images.py makes its images (shared base and runtime
layers, an own layer of 8-48 MiB and a small config layer; times --factor). A component's
new tag is the same image stack with a new own layer (the base and runtime blobs are
shared). The pause image, klipper-helm, klipper-lb and busybox stay at v1.33.1's (the table
checks them by repository for the later releases). A tag two releases share is one image.

`names-<RELEASE>.txt` lists each release's ref names (`rancher/klipper-helm:v0.9.5-build20250306`),
one a line; every ref is in index.json. The same arguments write the same blobs.

    bench/make-hops-set.py DIR [--factor 1.0] [--seed 1]
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
BASE = [
    "rancher/mirrored-pause:3.6",
    "rancher/mirrored-coredns-coredns:1.12.1",
    "rancher/local-path-provisioner:v0.0.31",
    "rancher/mirrored-metrics-server:v0.7.2",
    "rancher/klipper-helm:v0.9.5-build20250306",
    "rancher/klipper-lb:v0.4.13",
    "rancher/mirrored-library-traefik:3.3.6",
    "rancher/mirrored-library-busybox:1.36.1",
]
# The components each later release gives a tag of its own (src/preflight/releases.rs).
COMPONENTS = {
    "v1.34.2+k3s1": {"traefik": "3.5.1", "coredns": "1.13.1", "metrics": "v0.8.0", "lpp": "v0.0.32"},
    "v1.35.1+k3s1": {"traefik": "3.6.7", "coredns": "1.14.1", "metrics": "v0.8.1", "lpp": "v0.0.34"},
    "v1.36.2+k3s1": {"traefik": "3.7.4", "coredns": "1.14.4", "metrics": "v0.8.1", "lpp": "v0.0.36"},
}
REPOS = {
    "traefik": "rancher/mirrored-library-traefik",
    "coredns": "rancher/mirrored-coredns-coredns",
    "metrics": "rancher/mirrored-metrics-server",
    "lpp": "rancher/local-path-provisioner",
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--factor", type=float, default=1.0, help="multiplies every layer size")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    blobs = os.path.join(a.dir, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    pool = e2e.text_pool(a.seed)
    cache = {}
    entries, written = [], set()
    stack = {ref.split(":")[0]: i for i, ref in enumerate(BASE)}

    def write(ref):
        if ref not in written:
            written.add(ref)
            i = stack[ref.split(":")[0]]
            entries.append(e2e.image(blobs, cache, a.seed, pool, a.factor, i, ref, f"own-{ref}"))

    names = {"v1.33.1+k3s1": list(BASE)}
    for ref in BASE:
        write(ref)
    for release, tags in COMPONENTS.items():
        refs = {ref.split(":")[0]: ref for ref in BASE}
        for key, tag in tags.items():
            refs[REPOS[key]] = f"{REPOS[key]}:{tag}"
        names[release] = list(refs.values())
        for ref in names[release]:
            write(ref)
    with open(os.path.join(a.dir, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "mediaType": e2e.INDEX_MT, "manifests": entries}, f)
    with open(os.path.join(a.dir, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    for release, refs in names.items():
        with open(os.path.join(a.dir, f"names-{release}.txt"), "w") as f:
            f.write("".join(r + "\n" for r in refs))


if __name__ == "__main__":
    main()
