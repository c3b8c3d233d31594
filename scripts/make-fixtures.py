#!/usr/bin/env python3
"""Generate seedforge's container-image test fixtures, byte for byte reproducibly.

Why this exists
---------------
seedforge mirrors container images into an OCI image layout for air-gapped k3s
clusters.  Its tests and the offline demo need real, spec-valid images to read,
but they must not need a network, a registry, Docker, or hundreds of megabytes
of upstream blobs checked into git.  This script builds tiny stand-ins for the
k3s v1.33 airgap image set from nothing but a few text files, in the three
on-disk formats seedforge accepts as sources:

  fixtures/images/oci/               one OCI image layout holding six images
                                     (mirrored-pause:3.6 is a two-platform
                                     image index: linux/amd64 + linux/arm64/v8)
  fixtures/images/traefik.oci.tar    an OCI archive (tar of an OCI layout)
  fixtures/images/busybox.docker.tar a docker-archive (the `docker save` format)
  fixtures/images/README.md          what each fixture is, with its digests

Most images share one base layer, so blob de-duplication can be tested, both
inside the layout and across the layout and the OCI archive.

The images are not runnable (they contain no executables); they exist to be
parsed, verified, copied and de-duplicated.

Determinism
-----------
Running the script twice produces byte-identical output: every tar entry has
mtime 1700000000, uid/gid 0, uname/gname "root", mode 0644 (files) or 0755
(directories), and entries are sorted (the OCI archive puts oci-layout and
index.json first, as skopeo does); gzip streams are written by hand with
mtime 0, no file name and a fixed OS byte; JSON is compact with a fixed key
order; every config's `created` is 2023-11-14T22:13:20Z.  Compressed layer
bytes depend on the zlib implementation, so another zlib *could* yield other
layer digests; the uncompressed diff_ids never change.

Each run deletes and recreates fixtures/images/ (and nothing else: the script
refuses to delete any path that is not this repository's fixtures/images).

Usage:  scripts/make-fixtures.py        (no arguments; Python 3.11+, stdlib only)
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import struct
import sys
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

# --------------------------------------------------------------------------
# Fixed inputs
# --------------------------------------------------------------------------

EPOCH = 1700000000  # SOURCE_DATE_EPOCH-style constant for every tar mtime
CREATED = "2023-11-14T22:13:20Z"  # == EPOCH, for configs and history
FILE_MODE = 0o644
DIR_MODE = 0o755
OWNER = "root"

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"

ENV_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

BASE_FILES: dict[str, str] = {
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
    "etc/os-release": (
        'NAME="seedforge fixture"\n'
        "ID=seedforge-fixture\n"
        'VERSION_ID="1"\n'
        'PRETTY_NAME="seedforge fixture base layer (not a real distribution)"\n'
    ),
    "etc/passwd": (
        "root:x:0:0:root:/root:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    ),
}


@dataclass(frozen=True)
class Platform:
    """An OS/architecture pair, as used in OCI configs and index entries."""

    architecture: str
    variant: str | None = None
    os: str = "linux"


AMD64 = Platform("amd64")
ARM64 = Platform("arm64", "v8")


@dataclass(frozen=True)
class ImageSpec:
    """One fixture image: its upstream name and where it is written."""

    repository: str  # e.g. "rancher/mirrored-pause"
    tag: str
    platforms: tuple[Platform, ...] = (AMD64,)
    with_base: bool = True  # whether the shared base layer is the first layer

    @property
    def basename(self) -> str:
        return self.repository.rsplit("/", 1)[-1]

    @property
    def short_ref(self) -> str:
        """Ref name inside fixtures/images/oci (`skopeo ... oci:DIR:<this>`)."""
        return f"{self.basename}:{self.tag}"

    @property
    def upstream(self) -> str:
        return f"docker.io/{self.repository}:{self.tag}"


PAUSE = ImageSpec("rancher/mirrored-pause", "3.6", (AMD64, ARM64))
LAYOUT_IMAGES: tuple[ImageSpec, ...] = (
    PAUSE,
    ImageSpec("rancher/mirrored-coredns-coredns", "1.12.1"),
    ImageSpec("rancher/local-path-provisioner", "v0.0.31"),
    ImageSpec("rancher/mirrored-metrics-server", "v0.7.2"),
    ImageSpec("rancher/klipper-helm", "v0.9.5-build20250306"),
    ImageSpec("rancher/klipper-lb", "v0.4.13"),
)
TRAEFIK = ImageSpec("rancher/mirrored-library-traefik", "3.3.6")
# busybox is a single-layer image upstream too; it covers the one-layer case.
BUSYBOX = ImageSpec("rancher/mirrored-library-busybox", "1.36.1", with_base=False)

# --------------------------------------------------------------------------
# Deterministic primitives
# --------------------------------------------------------------------------


def dump_json(obj: object) -> bytes:
    """Compact JSON; key order is the insertion order chosen below."""
    return json.dumps(obj, separators=(",", ":"), sort_keys=False, ensure_ascii=True).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest_of(data: bytes) -> str:
    return "sha256:" + sha256_hex(data)


def make_tar(files: dict[str, bytes], dirs: set[str] | None = None) -> bytes:
    """A ustar archive of `files`; parent directories get their own entries.

    Entries are sorted by path, so every directory precedes its contents.
    """
    all_dirs: set[str] = set(dirs or ())
    for path in files:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            all_dirs.add("/".join(parts[:i]))
    entries: list[tuple[str, bytes | None]] = [(d, None) for d in all_dirs]
    entries += list(files.items())
    entries.sort(key=lambda e: e[0])

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.mtime = EPOCH
            info.uid = info.gid = 0
            info.uname = info.gname = OWNER
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = DIR_MODE
                tar.addfile(info)
            else:
                info.type = tarfile.REGTYPE
                info.mode = FILE_MODE
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    """RFC 1952 member: no FNAME, MTIME=0, XFL=2 (best), OS=255 (unknown)."""
    header = b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x02\xff"
    comp = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS, 9, zlib.Z_DEFAULT_STRATEGY)
    body = comp.compress(data) + comp.flush()
    trailer = struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)
    return header + body + trailer


# --------------------------------------------------------------------------
# Image construction
# --------------------------------------------------------------------------


@dataclass
class Layer:
    """One layer: its uncompressed tar and (lazily) its gzip blob."""

    description: str
    tar: bytes

    @property
    def diff_id(self) -> str:
        return digest_of(self.tar)

    @property
    def gz(self) -> bytes:
        return gzip_bytes(self.tar)


def base_layer() -> Layer:
    files = {k: v.encode() for k, v in BASE_FILES.items()}
    return Layer("shared fixture base: /etc/os-release, /etc/passwd, /etc/group", make_tar(files))


def image_layer(spec: ImageSpec, platform: Platform) -> Layer:
    share = f"usr/share/{spec.basename}"
    files = {
        f"{share}/VERSION": f"{spec.tag}\n".encode(),
        f"{share}/SOURCE": f"{spec.upstream}\n".encode(),
    }
    if len(spec.platforms) > 1:
        arch = platform.architecture + (f"/{platform.variant}" if platform.variant else "")
        files[f"{share}/ARCH"] = f"{platform.os}/{arch}\n".encode()
    if not spec.with_base:
        # A self-contained single-layer image still gets a minimal /etc.
        files["etc/os-release"] = BASE_FILES["etc/os-release"].encode()
    what = f"{spec.basename} {spec.tag} files" + (
        f" for {platform.architecture}" if len(spec.platforms) > 1 else ""
    )
    return Layer(what, make_tar(files))


def image_config(spec: ImageSpec, platform: Platform, layers: list[Layer]) -> bytes:
    cfg: dict[str, object] = {"created": CREATED, "architecture": platform.architecture}
    if platform.variant:
        cfg["variant"] = platform.variant
    cfg["os"] = platform.os
    cfg["config"] = {
        "Env": [ENV_PATH],
        "Cmd": ["cat", f"/usr/share/{spec.basename}/VERSION"],
        "Labels": {
            "org.opencontainers.image.title": spec.basename,
            "org.opencontainers.image.version": spec.tag,
            "org.opencontainers.image.description": "seedforge test fixture, not the real image",
        },
    }
    cfg["rootfs"] = {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]}
    cfg["history"] = [
        {"created": CREATED, "created_by": "scripts/make-fixtures.py", "comment": layer.description}
        for layer in layers
    ]
    return dump_json(cfg)


def descriptor(media_type: str, data: bytes, **extra: object) -> dict[str, object]:
    d: dict[str, object] = {"mediaType": media_type, "digest": digest_of(data), "size": len(data)}
    d.update(extra)
    return d


def platform_json(p: Platform) -> dict[str, str]:
    out = {"architecture": p.architecture, "os": p.os}
    if p.variant:
        out["variant"] = p.variant
    return out


@dataclass
class BuiltImage:
    """An image as OCI blobs, plus the descriptor of its top-level object."""

    spec: ImageSpec
    top: bytes  # manifest or index bytes
    top_media_type: str
    blobs: dict[str, bytes] = field(default_factory=dict)  # digest -> bytes
    platform_manifests: list[tuple[Platform, str]] = field(default_factory=list)


def build_oci_image(spec: ImageSpec, base: Layer) -> BuiltImage:
    blobs: dict[str, bytes] = {}

    def add(data: bytes) -> bytes:
        blobs[digest_of(data)] = data
        return data

    manifests: list[tuple[Platform, bytes]] = []
    for platform in spec.platforms:
        layers = ([base] if spec.with_base else []) + [image_layer(spec, platform)]
        config = add(image_config(spec, platform, layers))
        layer_descs = [descriptor(MT_LAYER_GZIP, add(layer.gz)) for layer in layers]
        manifest = {
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "config": descriptor(MT_CONFIG, config),
            "layers": layer_descs,
        }
        manifests.append((platform, add(dump_json(manifest))))

    if len(manifests) == 1:
        top, media_type = manifests[0][1], MT_MANIFEST
        blobs[digest_of(top)] = top
        return BuiltImage(spec, top, media_type, blobs)

    index = {
        "schemaVersion": 2,
        "mediaType": MT_INDEX,
        "manifests": [
            descriptor(MT_MANIFEST, m, platform=platform_json(p)) for p, m in manifests
        ],
    }
    top = add(dump_json(index))
    built = BuiltImage(spec, top, MT_INDEX, blobs)
    built.platform_manifests = [(p, digest_of(m)) for p, m in manifests]
    return built


def layout_files(images: list[BuiltImage], ref_of) -> dict[str, bytes]:
    """Relative path -> bytes for an OCI image layout holding `images`."""
    blobs: dict[str, bytes] = {}
    entries = []
    for img in images:
        blobs.update(img.blobs)
        entries.append(
            descriptor(img.top_media_type, img.top, annotations={REF_NAME: ref_of(img.spec)})
        )
    index = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": entries}
    files = {
        "oci-layout": dump_json({"imageLayoutVersion": "1.0.0"}),
        "index.json": dump_json(index),
    }
    for digest in sorted(blobs):
        files["blobs/sha256/" + digest.split(":", 1)[1]] = blobs[digest]
    return files


def oci_archive(files: dict[str, bytes]) -> bytes:
    """Tar of a layout in skopeo's order: oci-layout, index.json, blobs/..."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        order = ["oci-layout", "index.json", "blobs", "blobs/sha256"]
        order += sorted(p for p in files if p.startswith("blobs/"))
        for name in order:
            info = tarfile.TarInfo(name)
            info.mtime = EPOCH
            info.uid = info.gid = 0
            info.uname = info.gname = OWNER
            if name in files:
                info.mode = FILE_MODE
                info.size = len(files[name])
                tar.addfile(info, io.BytesIO(files[name]))
            else:
                info.type = tarfile.DIRTYPE
                info.mode = DIR_MODE
                tar.addfile(info)
    return buf.getvalue()


def docker_archive(spec: ImageSpec, base: Layer) -> tuple[bytes, str]:
    """A `docker save`-style tar; returns (tar bytes, config digest)."""
    platform = spec.platforms[0]
    layers = ([base] if spec.with_base else []) + [image_layer(spec, platform)]
    config = image_config(spec, platform, layers)
    config_name = sha256_hex(config) + ".json"

    files: dict[str, bytes] = {config_name: config}
    layer_paths: list[str] = []
    parent: str | None = None
    for i, layer in enumerate(layers):
        layer_id = sha256_hex(layer.tar)
        legacy: dict[str, object] = {"id": layer_id}
        if parent:
            legacy["parent"] = parent
        legacy["created"] = CREATED
        legacy["container_config"] = {"Env": [ENV_PATH], "Cmd": None}
        if i == len(layers) - 1:
            legacy["config"] = json.loads(config)["config"]
            legacy["architecture"] = platform.architecture
        legacy["os"] = platform.os
        files[f"{layer_id}/VERSION"] = b"1.0"
        files[f"{layer_id}/json"] = dump_json(legacy)
        files[f"{layer_id}/layer.tar"] = layer.tar
        layer_paths.append(f"{layer_id}/layer.tar")
        parent = layer_id

    repo_tag = f"{spec.repository}:{spec.tag}"
    files["manifest.json"] = dump_json(
        [{"Config": config_name, "RepoTags": [repo_tag], "Layers": layer_paths}]
    )
    files["repositories"] = dump_json({spec.repository: {spec.tag: parent}})
    return make_tar(files), digest_of(config)


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------


def output_dir() -> Path:
    """fixtures/images of the repository containing this script, checked."""
    repo = Path(__file__).resolve().parent.parent
    if not (repo / "Cargo.toml").is_file() or not (repo / "scripts" / "make-fixtures.py").is_file():
        sys.exit(f"make-fixtures: {repo} does not look like the seedforge repository; refusing")
    fixtures = repo / "fixtures"
    target = fixtures / "images"
    for p in (fixtures, target):
        if p.is_symlink():
            sys.exit(f"make-fixtures: {p} is a symlink; refusing to delete through it")
    if target.resolve() != repo / "fixtures" / "images" or target.resolve().parent.parent != repo:
        sys.exit(f"make-fixtures: {target} resolves outside {repo}/fixtures/images; refusing")
    return target


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in sorted(files.items()):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def readme(layout: list[BuiltImage], traefik: BuiltImage, busybox_config: str,
           busybox_tar: bytes, traefik_tar: bytes, base: Layer) -> bytes:
    lines = [
        "# Image fixtures",
        "",
        "Tiny, spec-valid stand-ins for the k3s v1.33 airgap images (text files",
        "only, nothing runnable). Generated by `scripts/make-fixtures.py`, which",
        "deletes and regenerates this directory byte-identically on every run —",
        "do not edit by hand; change the script and re-run `scripts/make-fixtures.py`",
        "(Python 3.11+, stdlib only) from anywhere.",
        "",
        "All timestamps are 1700000000 (`2023-11-14T22:13:20Z`). Most images share",
        f"one base layer (gzip blob `{digest_of(base.gz)}`,",
        f"diff_id `{base.diff_id}`), so blob de-duplication can be tested.",
        "",
        "## `oci/` — OCI image layout",
        "",
        "Refer to an image as `oci:fixtures/images/oci:<ref name>`.",
        "",
        "| ref name | upstream image | top-level object | digest |",
        "|---|---|---|---|",
    ]
    for img in layout:
        kind = "image index" if img.top_media_type == MT_INDEX else "image manifest"
        lines.append(
            f"| `{img.spec.short_ref}` | `{img.spec.upstream}` | {kind} | `{digest_of(img.top)}` |"
        )
    lines += ["", "`mirrored-pause:3.6` is an image index with two platform manifests:", ""]
    for p, d in next(i for i in layout if i.spec == PAUSE).platform_manifests:
        plat = f"{p.os}/{p.architecture}" + (f"/{p.variant}" if p.variant else "")
        lines.append(f"- `{plat}`: `{d}`")
    lines += [
        "",
        "## `traefik.oci.tar` — OCI archive",
        "",
        "A tar of an OCI image layout (what `skopeo copy ... oci-archive:` writes)",
        f"holding `{TRAEFIK.upstream}` (ref name `{TRAEFIK.upstream}`),",
        "an image manifest for linux/amd64 that reuses the shared base layer.",
        "",
        f"- manifest digest: `{digest_of(traefik.top)}`",
        f"- archive sha256: `{sha256_hex(traefik_tar)}`",
        "",
        "## `busybox.docker.tar` — docker-archive",
        "",
        "The `docker save` format: `manifest.json`, the config as `<sha256>.json`,",
        "one `<sha256 of layer.tar>/` directory per layer (`VERSION`, `json`,",
        "uncompressed `layer.tar`) and `repositories`. It holds",
        f"`{BUSYBOX.repository}:{BUSYBOX.tag}` (linux/amd64, one layer, no base layer).",
        "A docker-archive has no manifest of its own; its image ID is the config digest.",
        "Tools that read it synthesize a manifest (and may re-encode the config), so",
        "the digest they report depends on the tool, not on this file.",
        "",
        f"- config digest (image ID): `{busybox_config}`",
        f"- archive sha256: `{sha256_hex(busybox_tar)}`",
        "",
    ]
    return "\n".join(lines).encode()


def main() -> int:
    if len(sys.argv) > 1:
        print(__doc__, file=sys.stderr)
        return 2
    target = output_dir()

    base = base_layer()
    layout = [build_oci_image(spec, base) for spec in LAYOUT_IMAGES]
    traefik = build_oci_image(TRAEFIK, base)
    traefik_tar = oci_archive(layout_files([traefik], lambda s: s.upstream))
    busybox_tar, busybox_config = docker_archive(BUSYBOX, base)

    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    write_tree(target / "oci", layout_files(layout, lambda s: s.short_ref))
    (target / "traefik.oci.tar").write_bytes(traefik_tar)
    (target / "busybox.docker.tar").write_bytes(busybox_tar)
    (target / "README.md").write_bytes(
        readme(layout, traefik, busybox_config, busybox_tar, traefik_tar, base)
    )

    for img in layout + [traefik]:
        print(f"{digest_of(img.top)}  {img.spec.upstream}")
    print(f"{busybox_config}  {BUSYBOX.upstream} (config digest)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
