//! The bad-input corpus: every case breaks one input (config, image list, template,
//! certificate or key, .deb, ISO tree, reference) and runs the command that reads it.
//! Each must exit 2 with a message naming the file (and `file:line` where the input has
//! lines), and must write nothing: the case's whole tree, including an output folder
//! filled beforehand (with a good build's output, or sentinel files), is hashed before and
//! after and must be byte-for-byte the same. Cases that need no earlier output also run
//! against an absent output folder, which must stay absent. `build` cases are also run
//! through `plan`, which must report the same error.
//!
//! The table is data: to add a case, add a row.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{Cmd, Lab, copy_tree, repo_root, sha256_bytes};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// The lab config, relative to a case's root.
const CONFIG: &str = "fixtures/lab/seedforge.yaml";
/// The image list of the lab.
const LIST: &str = "fixtures/lab/images.txt";
/// The lab's build output folder.
const OUT: &str = "fixtures/lab/out";

/// One change to a case's tree before the command runs.
#[derive(Clone, Copy)]
enum Edit {
    /// In FILE, replace the first occurrence of OLD with NEW. `{line}` in the expectations
    /// becomes the line of NEW's last line.
    Sub(&'static str, &'static str, &'static str),
    /// Append TEXT to FILE (created if absent); `{line}` becomes the line of its last line.
    Append(&'static str, &'static str),
    /// Write FILE with these bytes.
    Write(&'static str, &'static [u8]),
    /// Run this bash script in the case root (`set -e`); `{repo}` is the repository and
    /// `{good}` a good build's output folder.
    Sh(&'static str),
}

/// What to run.
#[derive(Clone, Copy)]
enum Run {
    /// `seedforge build --config fixtures/lab/seedforge.yaml` (and `plan`); the output
    /// folder is `fixtures/lab/out`, pre-filled with a good build's output.
    Build,
    /// `seedforge ARGS` (`{repo}` expands) writing into the folder OUT (relative to the
    /// case root), pre-filled with sentinel files.
    Args(&'static [&'static str], &'static str),
    /// Like `Args`, run as user `nobody` (when the tests run as root, which can read any
    /// file, so that a file without read permission really is unreadable).
    AsNobody(&'static [&'static str], &'static str),
}

/// `seedforge debs` of the case's `bad.deb` for package foo (or jq), into `o/`.
const DEBS_FOO: &[&str] = &[
    "debs",
    "--deb",
    "bad.deb",
    "--package",
    "foo",
    "--out",
    "o/b.tar.gz",
];
const DEBS_JQ: &[&str] = &[
    "debs",
    "--deb",
    "bad.deb",
    "--package",
    "jq",
    "--out",
    "o/b.tar.gz",
];

struct Case {
    name: &'static str,
    edits: &'static [Edit],
    run: Run,
    /// Substrings stderr must contain; the first names the file (with `:line` where the
    /// input has lines). `{line}` is the line the last text edit ended on (`{line-1}` the
    /// one before), `{first}` the line it started on.
    expect: &'static [&'static str],
}

const fn build(
    name: &'static str,
    edits: &'static [Edit],
    expect: &'static [&'static str],
) -> Case {
    Case {
        name,
        edits,
        run: Run::Build,
        expect,
    }
}

use Edit::{Append, Sh, Sub, Write};

// ------------------------------------------------------------------------------------------
// Configs

const CONFIG_CASES: &[Case] = &[
    build(
        "unknown key",
        &[Sub(CONFIG, "  port: 5000", "  port: 5000\n  bogus: 1")],
        &["seedforge.yaml:{line}:3", "unknown field `bogus`"],
    ),
    build(
        "unknown top-level key",
        &[Append(CONFIG, "outptu: elsewhere\n")],
        &["seedforge.yaml:{line}:1", "unknown field `outptu`"],
    ),
    build(
        "wrong type: port is text",
        &[Sub(CONFIG, "port: 5000", "port: five")],
        &["seedforge.yaml:{line}:9"],
    ),
    build(
        "port out of range",
        &[Sub(CONFIG, "port: 5000", "port: 70000")],
        &["seedforge.yaml:{line}:9"],
    ),
    build(
        "bad CIDR prefix",
        &[Sub(CONFIG, "192.168.6.10/24", "192.168.6.10/33")],
        &["seedforge.yaml:{line}:", "192.168.6.10/33"],
    ),
    build(
        "address without prefix",
        &[Sub(CONFIG, "192.168.6.11/24", "192.168.6.11")],
        &["seedforge.yaml:{line}:", "prefix length"],
    ),
    build(
        "duplicate node name",
        &[Sub(CONFIG, "name: lab-agent2", "name: lab-agent1")],
        &[
            "seedforge.yaml:{line}:",
            "node name \"lab-agent1\" is used twice",
        ],
    ),
    build(
        "duplicate node address",
        &[Sub(CONFIG, "192.168.6.12/24", "192.168.6.11/24")],
        &["seedforge.yaml:", "same address"],
    ),
    build(
        "unknown node role",
        &[Sub(CONFIG, "role: agent", "role: master")],
        &["seedforge.yaml:{line}:", "master"],
    ),
    build(
        "no server node",
        &[Sub(CONFIG, "role: server", "role: agent")],
        &["seedforge.yaml:", "at least one with role: server"],
    ),
    build(
        "k3s version that is no release",
        &[Sub(CONFIG, "v1.33.1+k3s1", "latest")],
        &["seedforge.yaml:{line}:", "\"latest\" is not a k3s release"],
    ),
    build(
        "k3s version without patch",
        &[Sub(CONFIG, "v1.33.1+k3s1", "v1.33")],
        &["seedforge.yaml:{line}:", "\"v1.33\" is not a k3s release"],
    ),
    build(
        "token written inline",
        &[Sub(
            CONFIG,
            "token: {file: token}",
            "token: not-a-secret-reference",
        )],
        &["seedforge.yaml:{line}:", "cannot be written inline"],
    ),
    build(
        "token file missing",
        &[Sub(
            CONFIG,
            "token: {file: token}",
            "token: {file: no-such-token}",
        )],
        &[
            "seedforge.yaml:{line}:",
            "cluster.token.file",
            "no-such-token",
        ],
    ),
    build(
        "local package sources and a payload file missing, all named at their lines",
        &[Append(
            CONFIG,
            "packages:\n  - name: ops\n    packages: [jq]\n    base: no-base.txt\n    debs: [no-debs, also-missing.deb]\nfiles:\n  - name: extra/tool\n    source: no-tool\n    sha256: abababababababababababababababababababababababababababababababab\n",
        )],
        &[
            "seedforge.yaml:",
            "packages[0].base: ",
            "no-base.txt",
            "packages[0].debs[0]: ",
            "no-debs",
            "packages[0].debs[1]: ",
            "also-missing.deb",
            "carry it with the config",
            "files: extra/tool: source",
            "no-tool",
        ],
    ),
    build(
        "token file empty",
        &[Write("fixtures/lab/token", b"\n")],
        &["seedforge.yaml", "cluster.token", "empty"],
    ),
    build(
        "token variable unset",
        &[Sub(
            CONFIG,
            "token: {file: token}",
            "token: {env: SEEDFORGE_BAD_INPUT_UNSET}",
        )],
        &["seedforge.yaml", "SEEDFORGE_BAD_INPUT_UNSET is not set"],
    ),
    build(
        "secret with two sources",
        &[Sub(
            CONFIG,
            "token: {file: token}",
            "token: {file: token, env: HOME}",
        )],
        &["seedforge.yaml:{line}:", "exactly one of env or file"],
    ),
    build(
        "YAML 1.1 boolean",
        &[Sub(
            CONFIG,
            "  port: 5000",
            "  port: 5000\n  plain_http: yes",
        )],
        &["seedforge.yaml:{line}:", "boolean"],
    ),
    build(
        "number where a string is meant",
        &[Sub(CONFIG, "name: lab\n", "name: 1.10\n")],
        &["seedforge.yaml:{line}:", "1.10"],
    ),
    build(
        "duplicate key",
        &[Sub(CONFIG, "  port: 5000", "  port: 5000\n  port: 5001")],
        &["seedforge.yaml:{line}:", "duplicate mapping key"],
    ),
    build(
        "unclosed flow sequence",
        &[Sub(CONFIG, "  port: 5000", "  port: [5000")],
        &["seedforge.yaml:{line}:"],
    ),
    build(
        "tab indentation",
        &[Sub(CONFIG, "  port: 5000", "\tport: 5000")],
        // The scanner reports the tab at the scalar it was reading, on the line before.
        &["seedforge.yaml:{line-1}:", "tab"],
    ),
    build(
        "alias bomb",
        &[Sub(
            CONFIG,
            "  nameservers:\n    - 192.168.6.1",
            "  nameservers: &a [192.168.6.1, 192.168.6.1, 192.168.6.1, 192.168.6.1]\n  gateway2: &b [*a, *a, *a, *a, *a, *a, *a, *a]",
        )],
        &["seedforge.yaml:{line}:"],
    ),
    build(
        "binary garbage",
        &[Write(CONFIG, b"\x00\x01\x02\x03 not yaml")],
        &["seedforge.yaml:1:1"],
    ),
    build(
        "not UTF-8",
        &[Write(CONFIG, b"version: 1\ncluster:\n  name: \xff\xfe\n")],
        &["seedforge.yaml", "UTF-8"],
    ),
    build("empty file", &[Write(CONFIG, b"")], &["seedforge.yaml:1:1"]),
    build(
        "unsupported version",
        &[Sub(CONFIG, "version: 1", "version: 99")],
        &["seedforge.yaml:{line}:", "unsupported config version 99"],
    ),
    build(
        "cluster name with capitals",
        &[Sub(CONFIG, "name: lab\n", "name: Lab\n")],
        &["seedforge.yaml:{line}:", "\"Lab\" is not a valid name"],
    ),
    build(
        "platform without architecture",
        &[Sub(CONFIG, "    - linux/amd64", "    - linux")],
        &["seedforge.yaml:{line}:", "invalid platform \"linux\""],
    ),
    build(
        "platform no image has",
        &[Sub(CONFIG, "    - linux/amd64", "    - linux/s390x")],
        &["linux/s390x"],
    ),
    build(
        "concurrency 0",
        &[Sub(CONFIG, "concurrency: 4", "concurrency: 0")],
        &["seedforge.yaml:{line}:", "between 1 and 64"],
    ),
    build(
        "unknown compression",
        &[Append(CONFIG, "airgap:\n  compression: lz4\n")],
        &["seedforge.yaml:{line}:", "lz4"],
    ),
    build(
        "zstd level k3s cannot read",
        &[Append(
            CONFIG,
            "airgap:\n  compression: zstd\n  level: 22\n",
        )],
        &["seedforge.yaml:{line}:", "level 22"],
    ),
    build(
        "gateway not an IP",
        &[Sub(
            CONFIG,
            "gateway: 192.168.6.1",
            "gateway: 192.168.6.300",
        )],
        &[
            "seedforge.yaml:{line}:",
            "\"192.168.6.300\" is not an IP address",
        ],
    ),
    build(
        "nameserver not an IP",
        &[Sub(CONFIG, "    - 192.168.6.1\n", "    - dns.example\n")],
        &[
            "seedforge.yaml:{line}:",
            "\"dns.example\" is not an IP address",
        ],
    ),
    build(
        "registry host with a scheme",
        &[Sub(
            CONFIG,
            "host: 192.168.6.1",
            "host: https://192.168.6.1",
        )],
        &["seedforge.yaml:{line}:", "without scheme"],
    ),
    build(
        "negative source date",
        &[Sub(
            CONFIG,
            "source_date_epoch: 1700000000",
            "source_date_epoch: -5",
        )],
        &["seedforge.yaml:{line}:"],
    ),
    build(
        "image list missing",
        &[Sub(CONFIG, "- images.txt", "- no-such-list.txt")],
        &["seedforge.yaml:{line}:", "no-such-list.txt"],
    ),
    build(
        "no image list",
        &[Sub(CONFIG, "  lists:\n    - images.txt", "  lists: []")],
        &["seedforge.yaml:{line}:", "at least one image list"],
    ),
    build(
        "templates folder missing",
        &[Append(CONFIG, "templates: no-such-templates\n")],
        &[
            "seedforge.yaml:{line}:",
            "no-such-templates is not a directory",
        ],
    ),
    build(
        "CA to import missing",
        &[Sub(
            CONFIG,
            "  port: 5000",
            "  port: 5000\n  ca:\n    import: {cert: no-ca.crt, key: no-ca.key}",
        )],
        &["seedforge.yaml:{line}:", "no-ca.crt"],
    ),
    build(
        "unknown disabled component",
        &[Sub(
            CONFIG,
            "  k3s_version: v1.33.1+k3s1",
            "  k3s_version: v1.33.1+k3s1\n  disable: [traefick]",
        )],
        &["seedforge.yaml:{line}:", "traefick"],
    ),
    build(
        "pause image of another release",
        &[Sub(
            CONFIG,
            "  k3s_version: v1.33.1+k3s1",
            "  k3s_version: v1.33.1+k3s1\n  pause_image: rancher/mirrored-pause:3.10",
        )],
        &["docker.io/rancher/mirrored-pause:3.10", "pause"],
    ),
    build(
        "release whose embedded mirror shares no imported images",
        &[
            Sub(CONFIG, "registry:\n  host: 192.168.6.1\n  port: 5000\n", ""),
            Sub(
                CONFIG,
                "  k3s_version: v1.33.1+k3s1",
                "  k3s_version: v1.33.6+k3s1\n  embedded_registry: true",
            ),
        ],
        &[
            "seedforge.yaml:{line-1}:3: ",
            "k3s v1.33.6+k3s1 has a known defect",
            "v1.33.7+k3s1",
        ],
    ),
    build(
        "missing release image list",
        &[Sub(
            CONFIG,
            "  k3s_version: v1.33.1+k3s1",
            "  k3s_version: v1.33.1+k3s1\n  release_images: k3s-images.txt",
        )],
        &[
            "seedforge.yaml:{line}:19: ",
            "cluster.release_images",
            "k3s-images.txt",
        ],
    ),
    build(
        "k3s binary of another release",
        &[
            Write("fixtures/lab/k3s", b"\x7fELF k3s v1.33.0+k3s1\n"),
            Append(CONFIG, "files:\n"),
            Append(
                CONFIG,
                "  - name: bin/k3s\n    source: k3s\n    sha256: \"e12d0e343dbdb2aeb01b53de29d9fba9939ee7ee2486da89f646938f385509e1\"\n",
            ),
        ],
        &[
            "seedforge.yaml:{first}:5: files entry \"bin/k3s\"",
            "is k3s v1.33.0+k3s1",
            "cluster.k3s_version is v1.33.1+k3s1",
        ],
    ),
    build(
        "unknown package set",
        &[
            Append(CONFIG, "packages:\n"),
            Append(
                CONFIG,
                "  - name: ops\n    sets: [k3s-opps]\n    debs: [../debs]\n",
            ),
        ],
        // Reported at the bundle's entry, the first appended line.
        &["seedforge.yaml:{first}:", "k3s-opps"],
    ),
    build(
        "quoted boolean",
        &[Sub(
            CONFIG,
            "  token: {file: token}",
            "  token: {file: token}\n  embedded_registry: \"true\"",
        )],
        &[
            "seedforge.yaml:{line}:22: ",
            "expected a boolean, found the string \"true\" (remove the quotes)",
        ],
    ),
    build(
        "quoted number",
        &[Append(
            CONFIG,
            "airgap:\n  compression: zstd\n  level: \"3\"\n",
        )],
        &[
            "seedforge.yaml:{line}:10: ",
            "expected an integer, found the string \"3\" (remove the quotes)",
        ],
    ),
    build(
        "CA key to import is a folder",
        &[
            Sh("mkdir fixtures/lab/ca-key"),
            Sub(
                CONFIG,
                "  port: 5000",
                "  port: 5000\n  ca:\n    import:\n      cert: token\n      key: ca-key",
            ),
        ],
        &[
            "seedforge.yaml:{line}:12: ",
            "registry.ca.import.key: ",
            "ca-key: is a directory, not a regular file",
        ],
    ),
    build(
        "CA certificate to import is a folder",
        &[
            Sh("mkdir fixtures/lab/ca-cert"),
            Sub(
                CONFIG,
                "  port: 5000",
                "  port: 5000\n  ca:\n    import:\n      cert: ca-cert\n      key: token",
            ),
        ],
        &[
            "seedforge.yaml:{line-1}:13: ",
            "registry.ca.import.cert: ",
            "ca-cert: is a directory, not a regular file",
        ],
    ),
    build(
        "package repository with an ftp URL",
        &[Append(
            CONFIG,
            "packages:\n  - name: ops\n    packages: [jq]\n    repo: {url: \"ftp://deb.example/debian\", suite: bookworm}\n",
        )],
        &[
            "seedforge.yaml:{line}:17: ",
            "packages[0].repo.url: ",
            "only file:, http:// and https:// URLs are supported",
        ],
    ),
    build(
        "package repository with an empty URL",
        &[Append(
            CONFIG,
            "packages:\n  - name: ops\n    packages: [jq]\n    repos:\n      - {url: \"\", suite: bookworm}\n",
        )],
        &[
            "seedforge.yaml:{line}:15: ",
            "packages[0].repos[0].url: the URL is empty",
        ],
    ),
    build(
        "source registry listed twice",
        &[Append(
            CONFIG,
            "registries:\n  - host: registry.example:5000\n  - host: registry.example:5000\n    insecure: true\n",
        )],
        &[
            "seedforge.yaml:{line-1}:11: ",
            "host \"registry.example:5000\" is listed twice",
        ],
    ),
    build(
        "source registry password without a username",
        &[Append(
            CONFIG,
            "registries:\n  - host: registry.example\n    password: {file: token}\n",
        )],
        &["seedforge.yaml:{line}:15: ", "password without a username"],
    ),
    build(
        "source registry CA file missing",
        &[Append(
            CONFIG,
            "registries:\n  - host: registry.example\n    ca_file: no-such-ca.pem\n",
        )],
        &[
            "seedforge.yaml:{line}:14: ",
            "registries[0].ca_file: ",
            "no-such-ca.pem",
        ],
    ),
    build(
        "source registry with port 0",
        &[Append(
            CONFIG,
            "registries:\n  - host: registry.example:0\n",
        )],
        &[
            "seedforge.yaml:{line}:11: ",
            "has port 0, which is out of range",
        ],
    ),
];

// ------------------------------------------------------------------------------------------
// Image lists and references

const LIST_CASES: &[Case] = &[
    build(
        "destination registry with port 0",
        &[Append(
            LIST,
            "oci:../images/oci:mirrored-pause:3.6 registry.example:0/x/pause:3.6\n",
        )],
        &[
            "images.txt:{line}",
            "\"registry.example:0\" has port 0, which is out of range (1-65535)",
        ],
    ),
    build(
        "image source with registry port 0",
        &[Append(
            LIST,
            "registry.example:0/x/pause:3.6 docker.io/x/pause:3.6\n",
        )],
        &["images.txt:{line}", "has port 0, which is out of range"],
    ),
    build(
        "three fields",
        &[Append(LIST, "oci:../images/oci:mirrored-pause:3.6 a b\n")],
        &["images.txt:{line}"],
    ),
    build(
        "unknown transport",
        &[Append(LIST, "ftp://example.com/x:1 docker.io/x/y:1\n")],
        &["images.txt:{line}", "ftp://"],
    ),
    build(
        "destination with capitals",
        &[Append(
            LIST,
            "oci:../images/oci:mirrored-pause:3.6 Docker.io/UPPER:tag\n",
        )],
        &["images.txt:{line}", "Docker.io/UPPER:tag"],
    ),
    build(
        "destination tag with a bad character",
        &[Append(
            LIST,
            "oci:../images/oci:mirrored-pause:3.6 docker.io/rancher/x:tag!\n",
        )],
        &["images.txt:{line}", "tag!"],
    ),
    build(
        "destination digest too short",
        &[Append(
            LIST,
            "oci:../images/oci:mirrored-pause:3.6 docker.io/rancher/x@sha256:1234\n",
        )],
        &["images.txt:{line}", "64 hex characters"],
    ),
    build(
        "destination port out of range",
        &[Append(
            LIST,
            "oci:../images/oci:mirrored-pause:3.6 registry.example:99999/x:1\n",
        )],
        &["images.txt:{line}", "99999"],
    ),
    build(
        "missing OCI layout directory",
        &[Append(LIST, "oci:../images/no-such-dir:x docker.io/rancher/x:1\n")],
        &["images.txt:{line}", "no-such-dir"],
    ),
    build(
        "ref missing from the OCI layout",
        &[Append(
            LIST,
            "oci:../images/oci:no-such-image:1.0 docker.io/rancher/no-such-image:1.0\n",
        )],
        &["images.txt:{line}", "no-such-image:1.0"],
    ),
    build(
        "empty ref after the layout",
        &[Append(LIST, "oci:../images/oci: docker.io/rancher/x:1\n")],
        &["images.txt:{line}", "empty"],
    ),
    build(
        "missing archive file",
        &[Append(
            LIST,
            "oci-archive:../images/absent.tar docker.io/rancher/absent:1.0\n",
        )],
        &["images.txt:{line}", "absent.tar"],
    ),
    build(
        "archive that is not a tar",
        &[Append(LIST, "oci-archive:seedforge.yaml docker.io/rancher/x:1\n")],
        &["images.txt:{line}", "not a readable tar archive"],
    ),
    build(
        "docker archive without that tag",
        &[Append(
            LIST,
            "docker-archive:../images/busybox.docker.tar:rancher/none:1 docker.io/rancher/none:1\n",
        )],
        &["images.txt:{line}", "no image tagged \"rancher/none:1\""],
    ),
    build(
        "docker archive index out of range",
        &[Append(
            LIST,
            "docker-archive:../images/busybox.docker.tar:@7 docker.io/rancher/x:1\n",
        )],
        &["images.txt:{line}", "@7"],
    ),
    build(
        "duplicate destination",
        &[Append(
            LIST,
            "oci:../images/oci:klipper-lb:v0.4.13 docker.io/rancher/mirrored-pause:3.6\n",
        )],
        &["images.txt:{line}", "docker.io/rancher/mirrored-pause:3.6"],
    ),
    build(
        "list not UTF-8",
        &[Sh("printf 'oci:../images/\\xff:x docker.io/a/b:1\\n' >> fixtures/lab/images.txt")],
        &["images.txt:23", "UTF-8"],
    ),
    build(
        "pause image missing from the airgap set",
        &[Sh("sed -i '/mirrored-pause/d' fixtures/lab/images.txt")],
        &["docker.io/rancher/mirrored-pause:3.6", "pause"],
    ),
    build(
        "pause image reference with capitals",
        &[Sub(
            CONFIG,
            "  k3s_version: v1.33.1+k3s1",
            "  k3s_version: v1.33.1+k3s1\n  pause_image: rancher/Pause:3.6",
        )],
        &["seedforge.yaml:{line}:", "must be lowercase"],
    ),
    Case {
        name: "mirror: bad line in the list",
        edits: &[Write(
            "bad.txt",
            b"oci:fixtures/images/oci:mirrored-pause:3.6 docker.io/rancher/mirrored-pause:3.6\n\
              oci:fixtures/images/oci:klipper-lb:v0.4.13 docker.io/rancher/klipper-lb:v0.4.13 extra\n",
        )],
        run: Run::Args(&["mirror", "--images", "bad.txt", "--layout", "o/oci"], "o"),
        expect: &["bad.txt:2"],
    },
    Case {
        name: "mirror: reference with an empty path component",
        edits: &[Write(
            "bad.txt",
            b"# one image\noci:fixtures/images/oci:mirrored-pause:3.6 docker.io/rancher//pause:3.6\n",
        )],
        run: Run::Args(&["mirror", "--images", "bad.txt", "--layout", "o/oci"], "o"),
        expect: &["bad.txt:2", "docker.io/rancher//pause:3.6"],
    },
];

// ------------------------------------------------------------------------------------------
// Templates (a templates folder overriding the embedded ones)

/// Copies the embedded templates into fixtures/lab/tpl and points the config at them.
const TEMPLATES: Edit = Sh("cp -r {repo}/templates/cloud-init fixtures/lab/tpl && \
                            echo 'templates: tpl' >> fixtures/lab/seedforge.yaml");

const TEMPLATE_CASES: &[Case] = &[
    build(
        "undefined variable",
        &[
            TEMPLATES,
            Sub(
                "fixtures/lab/tpl/user-data.tera",
                "#cloud-config\n",
                "#cloud-config\n# {{ no_such_variable }}",
            ),
        ],
        &["tpl/user-data.tera:{line}", "no_such_variable"],
    ),
    build(
        "tera syntax error",
        &[
            TEMPLATES,
            Append("fixtures/lab/tpl/meta-data.tera", "{% if %}\n"),
        ],
        &["tpl/meta-data.tera:{line}"],
    ),
    build(
        "user-data that is not the YAML it means",
        &[
            TEMPLATES,
            Append("fixtures/lab/tpl/user-data.tera", "runcmd: [unclosed\n"),
        ],
        &["node lab-server1: user-data:", "YAML"],
    ),
    build(
        "missing #cloud-config header",
        &[
            TEMPLATES,
            Sub("fixtures/lab/tpl/user-data.tera", "#cloud-config\n", ""),
        ],
        &["user-data:1", "#cloud-config"],
    ),
    build(
        "misspelt cloud-config key",
        &[
            TEMPLATES,
            Append("fixtures/lab/tpl/user-data.tera", "runcmdd: []\n"),
        ],
        &["user-data:", "unknown cloud-config key `runcmdd`"],
    ),
    build(
        "bootstrap unit never enabled",
        &[
            TEMPLATES,
            Sh("sed -i '/enable, --now/d' fixtures/lab/tpl/user-data.tera"),
        ],
        &[
            "user-data:",
            "seedforge-bootstrap.service is written but never enabled",
        ],
    ),
    build(
        "bash syntax error in the bootstrap script",
        &[
            TEMPLATES,
            Append("fixtures/lab/tpl/k3s-bootstrap.sh.tera", "if then fi\n"),
        ],
        &["user-data:", "bash -n", "syntax error"],
    ),
    build(
        "network-config that is not YAML",
        &[
            TEMPLATES,
            Write("fixtures/lab/tpl/network-config.tera", b"version: [\n"),
        ],
        &["network-config:1", "YAML"],
    ),
    Case {
        name: "render: undefined variable",
        edits: &[
            TEMPLATES,
            Sub(
                "fixtures/lab/tpl/network-config.tera",
                "version: 2",
                "version: {{ nope }}",
            ),
        ],
        run: Run::Args(&["render", "--config", CONFIG, "--out", "o"], "o"),
        expect: &["tpl/network-config.tera:{line}", "nope"],
    },
];

// ------------------------------------------------------------------------------------------
// Certificates and keys (the state a previous build left in OUT/pki, and imported CAs)

/// Removes the earlier build's PKI (an imported CA is only taken when there is none).
const NO_PKI: Edit = Sh("rm -r fixtures/lab/out/pki");

const PKI_CASES: &[Case] = &[
    build(
        "PEM garbage in ca.crt",
        &[Write("fixtures/lab/out/pki/ca.crt", b"garbage\n")],
        &["out/pki/ca.crt", "no PEM certificate"],
    ),
    build(
        "empty ca.crt",
        &[Write("fixtures/lab/out/pki/ca.crt", b"")],
        &["out/pki/ca.crt", "no PEM certificate"],
    ),
    build(
        "ca.key that is not a key",
        &[Write(
            "fixtures/lab/out/pki/ca.key",
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )],
        &["out/pki/ca.key", "PKCS#8"],
    ),
    build(
        "ca.key not matching ca.crt",
        &[Sh(
            "cp fixtures/lab/out/pki/registry.key fixtures/lab/out/pki/ca.key",
        )],
        &["out/pki/ca.key", "does not match the certificate"],
    ),
    build(
        "half a CA pair",
        &[Sh("rm fixtures/lab/out/pki/ca.key")],
        &["out/pki/ca.crt exists but", "ca.key does not"],
    ),
    build(
        "truncated registry.crt",
        &[Sh("head -c 100 fixtures/lab/out/pki/registry.crt > c && \
              mv c fixtures/lab/out/pki/registry.crt")],
        &["out/pki/registry.crt", "no PEM certificate"],
    ),
    build(
        "a leaf certificate where the CA should be",
        &[Sh(
            "cp fixtures/lab/out/pki/registry.crt fixtures/lab/out/pki/ca.crt && \
              cp fixtures/lab/out/pki/registry.key fixtures/lab/out/pki/ca.key",
        )],
        &["out/pki/ca.crt", "not a CA certificate"],
    ),
    build(
        "imported CA: garbage",
        &[
            Write("fixtures/lab/ca.pem", b"garbage\n"),
            Write("fixtures/lab/ca-key.pem", b"garbage\n"),
            Sub(
                CONFIG,
                "  port: 5000",
                "  port: 5000\n  ca:\n    import: {cert: ca.pem, key: ca-key.pem}",
            ),
            // An earlier CA would be refused first (it is not replaced): start without one.
            NO_PKI,
        ],
        &["fixtures/lab/ca.pem", "no PEM certificate"],
    ),
    build(
        "imported CA: not a CA",
        &[
            Sh("cp {good}/pki/registry.crt fixtures/lab/ca.pem && \
                cp {good}/pki/registry.key fixtures/lab/ca-key.pem"),
            Sub(
                CONFIG,
                "  port: 5000",
                "  port: 5000\n  ca:\n    import: {cert: ca.pem, key: ca-key.pem}",
            ),
            // An earlier CA would be refused first (it is not replaced): start without one.
            NO_PKI,
        ],
        &["fixtures/lab/ca.pem", "not a CA certificate"],
    ),
    build(
        "imported CA: encrypted key",
        &[
            Sh(
                "openssl req -x509 -newkey rsa:2048 -keyout fixtures/lab/ca-key.pem \
                -out fixtures/lab/ca.pem -days 3650 -subj /CN=x -passout pass:x \
                -addext basicConstraints=critical,CA:TRUE 2>/dev/null",
            ),
            Sub(
                CONFIG,
                "  port: 5000",
                "  port: 5000\n  ca:\n    import: {cert: ca.pem, key: ca-key.pem}",
            ),
            // An earlier CA would be refused first (it is not replaced): start without one.
            NO_PKI,
        ],
        &["fixtures/lab/ca-key.pem", "unencrypted PKCS#8"],
    ),
    build(
        "imported CA: expires tomorrow",
        &[
            Sh(
                "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                -keyout fixtures/lab/ca-key.pem -out fixtures/lab/ca.pem -days 1 -subj /CN=x \
                -addext basicConstraints=critical,CA:TRUE 2>/dev/null",
            ),
            Sub(
                CONFIG,
                "  port: 5000",
                "  port: 5000\n  ca:\n    import: {cert: ca.pem, key: ca-key.pem}",
            ),
            // An earlier CA would be refused first (it is not replaced): start without one.
            NO_PKI,
        ],
        &["fixtures/lab/ca.pem", "30 days"],
    ),
    Case {
        name: "pki: garbage --ca-cert",
        edits: &[
            Write(
                "c.pem",
                b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
            ),
            Sh("cp {good}/pki/ca.key k.pem"),
        ],
        run: Run::Args(
            &[
                "pki",
                "--host",
                "10.0.0.1",
                "--out",
                "o",
                "--ca-cert",
                "c.pem",
                "--ca-key",
                "k.pem",
            ],
            "o",
        ),
        expect: &["c.pem"],
    },
];

// ------------------------------------------------------------------------------------------
// .deb inputs (seedforge debs, and the build's packages step)

const DEB_CASES: &[Case] = &[
    Case {
        name: "truncated .deb",
        edits: &[Sh("cp {repo}/fixtures/debs/*.deb . && \
                     head -c 3000 jq_1.6-2.1+deb12u3_amd64.deb > jq.tmp && \
                     mv jq.tmp jq_1.6-2.1+deb12u3_amd64.deb")],
        run: Run::Args(
            &[
                "debs",
                "--deb",
                ".",
                "--package",
                "jq",
                "--out",
                "o/b.tar.gz",
            ],
            "o",
        ),
        expect: &["jq_1.6-2.1+deb12u3_amd64.deb", "truncated"],
    },
    Case {
        name: "not an ar archive",
        edits: &[Write("bad.deb", b"hello, not a package\n")],
        run: Run::Args(DEBS_JQ, "o"),
        expect: &["bad.deb", "no ar archive signature"],
    },
    Case {
        name: "ar archive without a control member",
        edits: &[Write(
            "bad.deb",
            b"!<arch>\ndebian-binary   1700000000  0     0     100644  4         `\n2.0\n",
        )],
        run: Run::Args(DEBS_JQ, "o"),
        expect: &["bad.deb", "no control.tar member"],
    },
    Case {
        name: "control without Version",
        edits: &[Sh(concat!(
            "mkdir -p pk/DEBIAN && printf 'Package: foo\\nArchitecture: all\\nMaintainer: x\\nDescription: x\\n' > pk/DEBIAN/control && ",
            "dpkg-deb --build --nocheck pk bad.deb >/dev/null"
        ))],
        run: Run::Args(DEBS_FOO, "o"),
        expect: &["bad.deb", "no Version field"],
    },
    Case {
        name: "control with a line that is no field",
        edits: &[Sh(concat!(
            "mkdir -p pk/DEBIAN && printf 'Package: foo\\nVersion: 1.0\\nArchitecture: all\\nbroken line\\n' > pk/DEBIAN/control && ",
            "dpkg-deb --build --nocheck pk bad.deb >/dev/null"
        ))],
        run: Run::Args(DEBS_FOO, "o"),
        expect: &["bad.deb", "control file line 4"],
    },
    Case {
        name: "control with a bad version",
        edits: &[Sh(concat!(
            "mkdir -p pk/DEBIAN && printf 'Package: foo\\nVersion: abc\\nArchitecture: all\\n' > pk/DEBIAN/control && ",
            "dpkg-deb --build --nocheck pk bad.deb >/dev/null"
        ))],
        run: Run::Args(DEBS_FOO, "o"),
        expect: &["bad.deb:1", "does not start with a digit"],
    },
    Case {
        name: "control with a bad dependency",
        edits: &[Sh(concat!(
            "mkdir -p pk/DEBIAN && printf 'Package: foo\\nVersion: 1.0\\nArchitecture: all\\nDepends: bar (>> )\\n' > pk/DEBIAN/control && ",
            "dpkg-deb --build --nocheck pk bad.deb >/dev/null"
        ))],
        run: Run::Args(DEBS_FOO, "o"),
        expect: &["bad.deb:1", "Depends"],
    },
    Case {
        name: "dependency missing from the .debs",
        edits: &[Sh("cp {repo}/fixtures/debs/jq_*.deb .")],
        run: Run::Args(
            &[
                "debs",
                "--deb",
                "jq_1.6-2.1+deb12u3_amd64.deb",
                "--package",
                "jq",
                "--out",
                "o/b.tar.gz",
            ],
            "o",
        ),
        expect: &["jq_1.6-2.1+deb12u3_amd64.deb", "libjq1"],
    },
    Case {
        name: "base list with a bad version",
        edits: &[Write("base.txt", b"jq\t1.6\nlibc6\tnot-a-version\n")],
        run: Run::Args(
            &[
                "debs",
                "--deb",
                "{repo}/fixtures/debs",
                "--package",
                "jq",
                "--base",
                "base.txt",
                "--out",
                "o/b.tar.gz",
            ],
            "o",
        ),
        expect: &["base.txt:2", "libc6"],
    },
    Case {
        name: "packages directory missing",
        edits: &[],
        run: Run::Args(
            &[
                "debs",
                "--deb",
                "no-such-dir/",
                "--package",
                "jq",
                "--out",
                "o/b.tar.gz",
            ],
            "o",
        ),
        expect: &["no-such-dir"],
    },
    build(
        "build: truncated .deb in a bundle",
        &[
            Sh(
                "mkdir -p fixtures/lab/debs && cp {repo}/fixtures/debs/*.deb fixtures/lab/debs/ && \
                head -c 2000 fixtures/lab/debs/libonig5_6.9.8-1_amd64.deb > x && \
                mv x fixtures/lab/debs/libonig5_6.9.8-1_amd64.deb",
            ),
            Append(
                CONFIG,
                "packages:\n  - name: tools\n    packages: [jq]\n    debs: [debs]\n",
            ),
        ],
        &["libonig5_6.9.8-1_amd64.deb", "truncated"],
    ),
];

// ------------------------------------------------------------------------------------------
// ISO trees (seedforge iso)

const ISO_CASES: &[Case] = &[
    Case {
        name: "tree deeper than ECMA-119 allows",
        edits: &[Sh(
            "mkdir -p t/a/b/c/d/e/f/g/h && echo x > t/a/b/c/d/e/f/g/h/f",
        )],
        run: Run::Args(&["iso", "--out", "o/seed.iso", "t"], "o"),
        expect: &["t/a/b/c/d/e/f/g/h", "8 levels"],
    },
    Case {
        name: "symlink loop",
        edits: &[Sh("mkdir -p t && echo x > t/user-data && ln -s . t/loop")],
        run: Run::Args(&["iso", "--out", "o/seed.iso", "t"], "o"),
        expect: &["t/loop", "symbolic link"],
    },
    Case {
        name: "symlink to a file",
        edits: &[Sh(
            "mkdir -p t && echo x > t/user-data && ln -s user-data t/meta-data",
        )],
        run: Run::Args(&["iso", "--out", "o/seed.iso", "t"], "o"),
        expect: &["t/meta-data", "symbolic link"],
    },
    Case {
        name: "FIFO",
        edits: &[Sh("mkdir -p t && echo x > t/user-data && mkfifo t/pipe")],
        run: Run::Args(&["iso", "--out", "o/seed.iso", "t"], "o"),
        expect: &["t/pipe", "FIFO"],
    },
    Case {
        name: "name that is not UTF-8",
        edits: &[Sh("mkdir -p t && echo x > \"t/$(printf 'bad\\xff')\"")],
        run: Run::Args(&["iso", "--out", "o/seed.iso", "t"], "o"),
        expect: &["t/bad", "not valid UTF-8"],
    },
    Case {
        name: "unreadable file",
        edits: &[Sh(
            "chmod 755 . && mkdir -p t && echo x > t/user-data && chmod 000 t/user-data",
        )],
        run: Run::AsNobody(&["iso", "--out", "o/seed.iso", "t"], "o"),
        expect: &["t/user-data", "cannot be read"],
    },
    Case {
        name: "output inside the tree",
        edits: &[Sh("mkdir -p o && echo x > o/user-data")],
        run: Run::Args(&["iso", "--out", "o/seed.iso", "o"], "o"),
        expect: &["o/seed.iso", "inside the source directory"],
    },
    Case {
        name: "source that is a file",
        edits: &[Write("t", b"x\n")],
        run: Run::Args(&["iso", "--out", "o/seed.iso", "t"], "o"),
        expect: &["t: is not a directory"],
    },
    Case {
        name: "label too long",
        edits: &[Sh("mkdir -p t && echo x > t/user-data")],
        run: Run::Args(
            &[
                "iso",
                "--label",
                "a-label-of-26-characters!!",
                "--out",
                "o/seed.iso",
                "t",
            ],
            "o",
        ),
        expect: &["label \"a-label-of-26-characters!!\"", "1 to 16"],
    },
];

// ------------------------------------------------------------------------------------------
// Hostile input: values that look fine alone, files that are no files, outputs that would
// destroy inputs or someone else's files, and links inside the output folder.

/// Leaves the earlier build's files but not its marks of ownership (state, build lock).
const NOT_OURS: Edit =
    Sh("rm -rf fixtures/lab/out/.seedforge fixtures/lab/out/.seedforge-build.lock");

const HOSTILE_CASES: &[Case] = &[
    build(
        "node address is its subnet's network address",
        &[Sub(CONFIG, "192.168.6.12/24", "192.168.6.0/24")],
        &["seedforge.yaml:{line}:", "network address of its subnet"],
    ),
    build(
        "node address is its subnet's broadcast address",
        &[Sub(CONFIG, "192.168.6.12/24", "192.168.6.255/24")],
        &["seedforge.yaml:{line}:", "broadcast address of its subnet"],
    ),
    build(
        "node address with a /0 prefix",
        &[Sub(CONFIG, "192.168.6.12/24", "192.168.6.12/0")],
        &["seedforge.yaml:{line}:", "/0 prefix"],
    ),
    build(
        "node address 0.0.0.0",
        &[Sub(CONFIG, "192.168.6.12/24", "0.0.0.0/24")],
        &["seedforge.yaml:{line}:", "unspecified address"],
    ),
    build(
        "node address is multicast",
        &[Sub(CONFIG, "192.168.6.12/24", "224.0.0.12/24")],
        &["seedforge.yaml:{line}:", "multicast address"],
    ),
    build(
        "node address is loopback",
        &[Sub(CONFIG, "192.168.6.12/24", "127.0.0.12/8")],
        &["seedforge.yaml:{line}:", "loopback address"],
    ),
    build(
        "node has the gateway's address",
        &[
            Sub(CONFIG, "host: 192.168.6.1", "host: 192.168.6.2"),
            Sub(CONFIG, "192.168.6.12/24", "192.168.6.1/24"),
        ],
        &[
            "seedforge.yaml:",
            "lab-agent2",
            "gateway's address 192.168.6.1",
        ],
    ),
    build(
        "node has the registry's address",
        &[
            Sub(CONFIG, "192.168.6.12/24", "192.168.6.1/24"),
            Sub(CONFIG, "gateway: 192.168.6.1", "gateway: 192.168.6.254"),
        ],
        &[
            "seedforge.yaml:",
            "lab-agent2",
            "registry's address 192.168.6.1",
            "on another machine",
            "cluster.embedded_registry: true",
        ],
    ),
    build(
        "nameserver with a port",
        &[Sub(CONFIG, "    - 192.168.6.1\n", "    - 10.20.30.1:53\n")],
        &[
            "seedforge.yaml:38:7:",
            "\"10.20.30.1:53\" is not an IP address: a port is not written here",
        ],
    ),
    build(
        "gateway with a prefix",
        &[Sub(
            CONFIG,
            "gateway: 192.168.6.1",
            "gateway: 192.168.6.1/24",
        )],
        &[
            "seedforge.yaml:36:",
            "\"192.168.6.1/24\" is not an IP address: give the address without its /prefix",
        ],
    ),
    build(
        "registry named by a node's host name",
        &[Sub(
            CONFIG,
            "  host: 192.168.6.1\n",
            "  host: Lab-Server1.lab.example\n",
        )],
        &[
            "seedforge.yaml:14:",
            "registry.host lab-server1.lab.example names node \"lab-server1\"",
            "on another machine",
            "cluster.embedded_registry: true",
        ],
    ),
    build(
        "gateway outside the node's subnet",
        &[Sub(CONFIG, "gateway: 192.168.6.1", "gateway: 10.0.0.1")],
        &["seedforge.yaml:", "network.gateway 10.0.0.1 is outside"],
    ),
    build(
        "IPv6 node with an IPv4 gateway",
        &[Sub(CONFIG, "192.168.6.12/24", "fd00::12/64")],
        &["seedforge.yaml:", "IPv6 address (fd00::12/64)", "is IPv4"],
    ),
    build(
        "registry host 0.0.0.0",
        &[Sub(CONFIG, "host: 192.168.6.1", "host: 0.0.0.0")],
        &["seedforge.yaml:{line}:", "unspecified address"],
    ),
    build(
        "registry host 255.255.255.255",
        &[Sub(CONFIG, "host: 192.168.6.1", "host: 255.255.255.255")],
        &["seedforge.yaml:{line}:", "broadcast address"],
    ),
    build(
        "registry port 0",
        &[Sub(CONFIG, "port: 5000", "port: 0")],
        &["seedforge.yaml:{line}:3", "registry.port 0"],
    ),
    build(
        "YAML tag !!binary on a node name",
        &[Sub(
            CONFIG,
            "name: lab-agent2",
            "name: !!binary bGFiLWFnZW50Mg==",
        )],
        &["seedforge.yaml:{line}:", "YAML tag"],
    ),
    build(
        "custom YAML tag",
        &[Sub(CONFIG, "role: server", "role: !shout server")],
        &["seedforge.yaml:{line}:", "YAML tag `!shout`"],
    ),
    build(
        "two YAML documents",
        &[Append(CONFIG, "---\nversion: 1\n")],
        &["seedforge.yaml:{first}:", "second YAML document"],
    ),
    build(
        "token that is only whitespace",
        &[Write("fixtures/lab/token", b"   \t \n")],
        &["seedforge.yaml", "cluster.token", "only whitespace"],
    ),
    build(
        "token holding a NUL byte",
        &[Write("fixtures/lab/token", b"K10abc\0def\n")],
        &["seedforge.yaml", "cluster.token", "NUL byte"],
    ),
    build(
        "token holding a line break",
        &[Write("fixtures/lab/token", b"K10abc\ndef\n")],
        &["seedforge.yaml", "cluster.token", "line break"],
    ),
    build(
        "token file is a FIFO",
        &[Sh("rm fixtures/lab/token && mkfifo fixtures/lab/token")],
        &["fixtures/lab/token", "a FIFO"],
    ),
    build(
        "token file is /dev/zero",
        &[Sub(
            CONFIG,
            "token: {file: token}",
            "token: {file: /dev/zero}",
        )],
        &["/dev/zero", "a character device"],
    ),
    build(
        "image list is a FIFO",
        &[Sh(
            "rm fixtures/lab/images.txt && mkfifo fixtures/lab/images.txt",
        )],
        &["fixtures/lab/images.txt", "a FIFO"],
    ),
    build(
        "image list larger than its cap",
        &[Sh("truncate -s 17M fixtures/lab/images.txt")],
        &[
            "fixtures/lab/images.txt",
            "larger than the 16777216-byte limit",
        ],
    ),
    build(
        "md5 digest on a source",
        &[Append(
            LIST,
            "docker.io/library/busybox@md5:0123456789abcdef0123456789abcdef docker.io/x/busybox:md5\n",
        )],
        &["images.txt:{line}:", "uses md5"],
    ),
    build(
        "destination with a tag and another image's digest",
        &[Append(
            LIST,
            "oci:../images/oci:mirrored-pause:3.6 docker.io/x/pause:3.6@sha256:0000000000000000000000000000000000000000000000000000000000000000\n",
        )],
        &["images.txt:{line}:", "which is not the source's"],
    ),
    build(
        "output folder is the config's folder",
        &[Sub(CONFIG, "output: out", "output: .")],
        &[
            "would overwrite or hold an input",
            "seedforge.yaml (the config)",
        ],
    ),
    build(
        "output folder is the root folder",
        &[Sub(CONFIG, "output: out", "output: /")],
        &["/: refusing to write into the root folder"],
    ),
    build(
        "output folder holds the token file",
        &[
            Sub(CONFIG, "token: {file: token}", "token: {file: out/token}"),
            Sh("mkdir -p fixtures/lab/out && cp fixtures/lab/token fixtures/lab/out/token"),
        ],
        &["out/token (cluster.token)"],
    ),
    build(
        "output folder is someone else's, with a file at a seedforge path",
        &[NOT_OURS],
        &["already exists in an output folder that no seedforge build wrote"],
    ),
    build(
        "output folder of someone else's with only a SHA256SUMS",
        &[Sh(
            "rm -rf fixtures/lab/out && mkdir fixtures/lab/out && echo mine > fixtures/lab/out/SHA256SUMS",
        )],
        &["out/SHA256SUMS: already exists"],
    ),
    build(
        "iso/ inside the output is a symbolic link",
        &[Sh(
            "mkdir -p elsewhere && rm -rf fixtures/lab/out/iso && ln -s ../../../elsewhere fixtures/lab/out/iso",
        )],
        &["out/iso: is a symbolic link"],
    ),
    build(
        "nodes/ inside the output is a symbolic link",
        &[Sh(
            "mkdir -p elsewhere && rm -rf fixtures/lab/out/nodes && ln -s ../../../elsewhere fixtures/lab/out/nodes",
        )],
        &["out/nodes: is a symbolic link"],
    ),
    build(
        "registry/ inside the output is a symbolic link",
        &[Sh(
            "mkdir -p elsewhere && rm -rf fixtures/lab/out/registry && ln -s ../../../elsewhere fixtures/lab/out/registry",
        )],
        &["out/registry: is a symbolic link"],
    ),
    build(
        "a node's user-data is a symbolic link",
        &[Sh(
            "echo keep > victim && rm fixtures/lab/out/nodes/lab-agent1/user-data && ln -s ../../../../../victim fixtures/lab/out/nodes/lab-agent1/user-data",
        )],
        &["out/nodes/lab-agent1/user-data: is a symbolic link"],
    ),
    build(
        "output folder is a regular file",
        &[Sh(
            "rm -rf fixtures/lab/out && echo mine > fixtures/lab/out",
        )],
        &["fixtures/lab/out: is a regular file, where the output fixtures/lab/out needs a folder"],
    ),
    build(
        "export_dir is the output folder",
        &[Append(CONFIG, "export_dir: out\n")],
        &[
            "seedforge.yaml:{line}:13: export_dir: ",
            "out: is inside the output folder",
        ],
    ),
    build(
        "export_dir is the output's iso folder",
        &[Append(CONFIG, "export_dir: out/iso\n")],
        &[
            "seedforge.yaml:{line}:13: export_dir: ",
            "out/iso: is inside the output folder",
            "unsealed",
        ],
    ),
    build(
        "export_dir reaches into the output through a symbolic link",
        &[
            Sh("ln -s out fixtures/lab/to-out"),
            Append(CONFIG, "export_dir: to-out/iso\n"),
        ],
        &[
            "seedforge.yaml:{line}:13: export_dir: ",
            "to-out/iso: is inside the output folder",
        ],
    ),
    build(
        "export_dir inside a local image source",
        &[Append(CONFIG, "export_dir: ../images/oci/seeds\n")],
        &[
            "seedforge.yaml:{line}:13: export_dir: ",
            "is inside an input folder: ",
            "images/oci (the image source of ",
        ],
    ),
    build(
        "export_dir is the templates folder",
        &[
            Sh("mkdir -p fixtures/lab/tpl"),
            Append(CONFIG, "templates: tpl\nexport_dir: tpl\n"),
        ],
        &[
            "seedforge.yaml:{line}:13: export_dir: ",
            "tpl: is inside an input folder: ",
            "(templates)",
        ],
    ),
    build(
        "export_dir inside a manifests folder",
        &[
            Sh("mkdir -p fixtures/lab/manifests"),
            Append(
                CONFIG,
                "manifests:\n  - manifests\nexport_dir: manifests/seeds\n",
            ),
        ],
        &[
            "seedforge.yaml:{line}:13: export_dir: ",
            "is inside an input folder: ",
            "(manifests)",
        ],
    ),
    build(
        "export_dir inside a folder of local .debs",
        &[
            Sh("mkdir -p fixtures/lab/debs && echo libc6 > fixtures/lab/base.txt"),
            Append(
                CONFIG,
                "packages:\n  - name: ops\n    packages: [jq]\n    base: base.txt\n    debs: [debs]\nexport_dir: debs/seeds\n",
            ),
        ],
        &[
            "seedforge.yaml:{line}:13: export_dir: ",
            "is inside an input folder: ",
            "(packages: ops)",
        ],
    ),
    build(
        "output inside a manifests folder",
        &[
            Sh("mkdir -p fixtures/lab/manifests"),
            Sub(CONFIG, "output: out", "output: manifests/out"),
            Append(CONFIG, "manifests:\n  - manifests\n"),
        ],
        &[
            "manifests/out: the output would overwrite or hold an input: ",
            "(manifests)",
        ],
    ),
    build(
        "export_dir is a regular file",
        &[
            Sh("echo mine > fixtures/lab/seeds"),
            Append(CONFIG, "export_dir: seeds\n"),
        ],
        &[
            "seedforge.yaml:{line}:13: export_dir: ",
            "seeds: is a regular file, where export_dir ",
            "needs a folder",
        ],
    ),
    build(
        "export_dir lies under a regular file",
        &[
            Sh("echo mine > fixtures/lab/seeds"),
            Append(CONFIG, "export_dir: seeds/usb\n"),
        ],
        &[
            "seedforge.yaml:{line}:13: export_dir: ",
            "seeds: is a regular file, where export_dir ",
        ],
    ),
    build(
        "export_dir is a symbolic link to nothing",
        &[
            Sh("ln -s nowhere fixtures/lab/seeds"),
            Append(CONFIG, "export_dir: seeds\n"),
        ],
        &[
            "seedforge.yaml:{line}:13: export_dir: ",
            "seeds: is a symbolic link to nothing, where export_dir ",
        ],
    ),
    build(
        "output folder is a symbolic link to nothing",
        &[Sh(
            "rm -rf fixtures/lab/out && ln -s nowhere fixtures/lab/out",
        )],
        &[
            "fixtures/lab/out: is a symbolic link to nothing, where the output fixtures/lab/out needs a folder",
        ],
    ),
    build(
        "export_dir is /dev/null",
        &[Append(CONFIG, "export_dir: /dev/null\n")],
        &[
            "seedforge.yaml:{line}:13: export_dir: /dev/null: is a character device, where export_dir",
        ],
    ),
    Case {
        name: "init into a regular file",
        edits: &[Sh("mkdir -p o && echo mine > o/new")],
        run: Run::Args(&["init", "o/new"], "o"),
        expect: &["o/new: is a regular file, where the output o/new needs a folder"],
    },
    Case {
        name: "init --templates through a templates link to another folder",
        edits: &[Sh(
            "mkdir -p o/new elsewhere && ln -s ../../elsewhere o/new/templates",
        )],
        run: Run::Args(&["init", "o/new", "--templates"], "o"),
        expect: &["o/new/templates: is a symbolic link"],
    },
    Case {
        name: "man pages into a regular file",
        edits: &[Sh("mkdir -p o && echo mine > o/man")],
        run: Run::Args(&["man", "o/man"], "o"),
        expect: &["o/man: is a regular file, where the output o/man needs a folder"],
    },
    Case {
        name: "pki for a registry on port 0",
        edits: &[],
        run: Run::Args(
            &[
                "pki",
                "--host",
                "192.168.6.1",
                "--port",
                "0",
                "--out",
                "o/pki",
            ],
            "o",
        ),
        expect: &["--port", "0 is not in 1..=65535"],
    },
    Case {
        name: "airgap written over the index.json of the layout it reads",
        edits: &[Sh("mkdir -p o && cp -r {good}/oci o/layout")],
        run: Run::Args(
            &[
                "airgap",
                "--layout",
                "o/layout",
                "--out",
                "o/layout/index.json",
                "--compression",
                "none",
            ],
            "o",
        ),
        expect: &["would overwrite or hold an input", "the layout it reads"],
    },
    Case {
        name: "airgap written into the blobs of the layout it reads",
        edits: &[Sh("mkdir -p o && cp -r {good}/oci o/layout")],
        run: Run::Args(
            &[
                "airgap",
                "--layout",
                "o/layout",
                "--out",
                "o/layout/blobs/sha256/a.tar",
            ],
            "o",
        ),
        expect: &["would overwrite or hold an input", "the layout it reads"],
    },
    Case {
        name: "debs bundle written into the folder of .debs it reads",
        edits: &[Sh(
            "mkdir -p o/debs && cp {repo}/fixtures/debs/*.deb o/debs/",
        )],
        run: Run::Args(
            &[
                "debs",
                "--deb",
                "o/debs",
                "--package",
                "jq",
                "--out",
                "o/debs/b.tar.gz",
            ],
            "o",
        ),
        expect: &["would overwrite or hold an input", "--deb"],
    },
];

// ------------------------------------------------------------------------------------------
// The runner

/// Every path under `root` with its kind, mode and (for files) sha256, and for a file the
/// inode and change time it had when hashed.
type Hashes = BTreeMap<PathBuf, (String, Option<(u64, i64, i64)>)>;

/// The [`Hashes`] of the tree under `root`. A file whose inode and change time are those
/// `earlier` recorded for its path keeps the hash recorded there: its bytes and mode are
/// as they were, since any write, `chmod` or rename moves the ctime, which no program can
/// set back. Only what changed is read again.
fn hashes(root: &Path, earlier: Option<&Hashes>) -> Hashes {
    let mut out = BTreeMap::new();
    common::walk(root, root, &mut |rel, meta, path| {
        let mode = meta.mode();
        let key = meta
            .is_file()
            .then(|| (meta.ino(), meta.ctime(), meta.ctime_nsec()));
        let kept = earlier
            .and_then(|e| e.get(rel))
            .filter(|(_, k)| key.is_some() && *k == key);
        let value = if let Some((value, _)) = kept {
            value.clone()
        } else if meta.is_dir() {
            format!("dir {mode:o}")
        } else if meta.is_file() {
            // Unreadable by design in one case: hash what root can read, or note it.
            match fs::read(path) {
                Ok(bytes) => format!("file {mode:o} {}", sha256_bytes(&bytes)),
                Err(e) => format!("file {mode:o} unreadable {e}"),
            }
        } else if meta.file_type().is_symlink() {
            format!("link {}", fs::read_link(path).unwrap().display())
        } else {
            format!("other {mode:o}")
        };
        out.insert(rel.to_path_buf(), (value, key));
    });
    out
}

/// Names the first difference between two tree hashes.
fn diff(before: &Hashes, after: &Hashes) -> Option<String> {
    for (p, (v, _)) in after {
        match before.get(p) {
            None => return Some(format!("{} was created ({v})", p.display())),
            Some((b, _)) if b != v => {
                return Some(format!("{} changed: {b} -> {v}", p.display()));
            }
            _ => {}
        }
    }
    before
        .keys()
        .find(|p| !after.contains_key(*p))
        .map(|p| format!("{} was removed", p.display()))
}

fn expand(s: &str, good: &Path) -> String {
    s.replace("{repo}", &repo_root().display().to_string())
        .replace("{good}", &good.display().to_string())
}

/// 1-based line of byte `at` of `text`.
fn first_line_of(text: &str, at: usize) -> usize {
    text[..at].matches('\n').count() + 1
}

/// 1-based line of the last line of `inserted`, which starts at byte `at` of `text`.
fn last_line_of(text: &str, at: usize, inserted: &str) -> usize {
    let inserted = inserted.strip_suffix('\n').unwrap_or(inserted);
    text[..at + inserted.len()].matches('\n').count() + 1
}

/// Applies the edits; returns the lines the last text edit started and ended on.
fn apply(edits: &[Edit], root: &Path, good: &Path) -> Result<Option<(usize, usize)>, String> {
    let mut line = None;
    for edit in edits {
        match *edit {
            Edit::Sub(file, old, new) => {
                let path = root.join(file);
                let text = fs::read_to_string(&path).map_err(|e| format!("{file}: {e}"))?;
                let at = text
                    .find(old)
                    .ok_or_else(|| format!("{file} holds no {old:?}"))?;
                let text = text.replacen(old, new, 1);
                line = Some((first_line_of(&text, at), last_line_of(&text, at, new)));
                fs::write(&path, &text).unwrap();
            }
            Edit::Append(file, more) => {
                let path = root.join(file);
                let mut text = fs::read_to_string(&path).unwrap_or_default();
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                let at = text.len();
                text.push_str(more);
                line = Some((first_line_of(&text, at), last_line_of(&text, at, more)));
                fs::write(&path, &text).unwrap();
            }
            Edit::Write(file, bytes) => {
                let path = root.join(file);
                if let Some(dir) = path.parent() {
                    fs::create_dir_all(dir).unwrap();
                }
                fs::write(&path, bytes).unwrap();
            }
            Edit::Sh(script) => {
                let out = Cmd::new("bash")
                    .arg("-c")
                    .arg(format!("set -e\n{}", expand(script, good)))
                    .cwd(root)
                    .any_status()
                    .run();
                if out.code != Some(0) {
                    return Err(format!("setup script failed: {script}\n{}", out.stderr));
                }
            }
        }
    }
    Ok(line)
}

/// Sentinel content for an output folder that is not a build's.
fn fill_sentinels(dir: &Path) {
    fs::create_dir_all(dir.join("sub")).unwrap();
    fs::write(dir.join("keep.txt"), "an earlier output\n").unwrap();
    fs::write(dir.join("sub/seed.iso"), vec![0x5a; 4096]).unwrap();
    fs::write(dir.join("b.tar.gz"), b"an earlier bundle").unwrap();
    fs::set_permissions(dir.join("keep.txt"), fs::Permissions::from_mode(0o600)).unwrap();
}

fn is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Runs one variant of a case; returns what went wrong, if anything.
fn run_variant(case: &Case, with_previous: bool, good: &Path) -> Result<(), String> {
    let lab = Lab::new();
    let root = lab.root();
    let out_rel = match case.run {
        Run::Build => OUT,
        Run::Args(_, out) | Run::AsNobody(_, out) => out,
    };
    let out_dir = root.join(out_rel);
    if with_previous {
        match case.run {
            Run::Build => copy_tree(good, &out_dir, &|_| false),
            _ => fill_sentinels(&out_dir),
        }
    }
    let line = apply(case.edits, root, good)?;
    let before = hashes(root, None);
    let expect: Vec<String> = case
        .expect
        .iter()
        .map(|e| {
            let e = expand(e, good);
            match line {
                Some((first, last)) => e
                    .replace("{line}", &last.to_string())
                    .replace("{line-1}", &(last - 1).to_string())
                    .replace("{first}", &first.to_string()),
                None => e,
            }
        })
        .collect();
    let mut runs: Vec<Cmd> = Vec::new();
    match case.run {
        Run::Build => {
            runs.push(lab.seedforge().args(["build", "--config", CONFIG]));
            runs.push(lab.seedforge().args(["plan", "--config", CONFIG]));
        }
        Run::Args(args, _) => {
            runs.push(lab.seedforge().args(args.iter().map(|a| expand(a, good))));
        }
        Run::AsNobody(args, _) => {
            let args = args.iter().map(|a| expand(a, good));
            runs.push(if is_root() {
                Cmd::new("setpriv")
                    .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                    .arg(common::seedforge_bin())
                    .args(args)
                    .cwd(root)
            } else {
                lab.seedforge().args(args)
            });
        }
    }
    for cmd in runs {
        let out = cmd.any_status().run();
        let what = out.what.rsplit('/').next().unwrap_or_default().to_string();
        if out.code != Some(2) {
            return Err(format!(
                "{what}: exit code {:?}, not 2\nstderr:\n{}",
                out.code, out.stderr
            ));
        }
        for e in &expect {
            if !out.stderr.contains(e.as_str()) {
                return Err(format!("{what}: no {e:?} in stderr:\n{}", out.stderr));
            }
        }
        if let Some(d) = diff(&before, &hashes(root, Some(&before))) {
            return Err(format!("{what}: {d}\nstderr:\n{}", out.stderr));
        }
    }
    Ok(())
}

/// True if a case edits the earlier output (and so needs one).
fn needs_previous(case: &Case) -> bool {
    case.edits.iter().any(|e| match e {
        Edit::Sh(s) => s.contains(OUT),
        Edit::Sub(f, ..) | Edit::Append(f, _) | Edit::Write(f, _) => f.starts_with(OUT),
    })
}

/// Runs every case of a table (both variants) and fails listing every case that failed.
fn run_table(table: &[Case]) {
    // A good build of the lab: its output pre-fills the build cases' output folders.
    let good = Lab::new();
    good.build();
    let good = good.out_dir();
    let mut failures = Vec::new();
    for case in table {
        for with_previous in [false, true] {
            if !with_previous && needs_previous(case) {
                continue;
            }
            if let Err(why) = run_variant(case, with_previous, &good) {
                let variant = if with_previous {
                    "over an earlier output"
                } else {
                    "with no earlier output"
                };
                failures.push(format!("case {:?} ({variant}): {why}", case.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} case(s) failed:\n\n{}",
        failures.len(),
        table.len(),
        failures.join("\n\n")
    );
}

#[test]
fn configs() {
    run_table(CONFIG_CASES);
}

#[test]
fn image_lists_and_references() {
    run_table(LIST_CASES);
}

#[test]
fn templates() {
    run_table(TEMPLATE_CASES);
}

#[test]
fn certificates_and_keys() {
    if !common::require_tool("openssl") {
        return;
    }
    run_table(PKI_CASES);
}

#[test]
fn debs() {
    if !common::require_tool("dpkg-deb") {
        return;
    }
    run_table(DEB_CASES);
}

#[test]
fn hostile_input() {
    run_table(HOSTILE_CASES);
}

#[test]
fn iso_trees() {
    if is_root() && !common::require_tool("setpriv") {
        return;
    }
    run_table(ISO_CASES);
}

/// The corpus is as large as promised: at least 50 cases over every kind of input.
#[test]
fn the_corpus_has_at_least_50_cases_of_every_kind() {
    let tables = [
        CONFIG_CASES,
        LIST_CASES,
        TEMPLATE_CASES,
        PKI_CASES,
        DEB_CASES,
        ISO_CASES,
        HOSTILE_CASES,
    ];
    assert!(tables.iter().all(|t| t.len() >= 5));
    let total: usize = tables.iter().map(|t| t.len()).sum();
    assert!(total >= 50, "only {total} cases");
    let mut names: Vec<&str> = tables
        .iter()
        .flat_map(|t| t.iter().map(|c| c.name))
        .collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(names.len(), before, "two cases share a name");
}
