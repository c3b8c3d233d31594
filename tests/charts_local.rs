//! `charts[].path`: a chart kept beside the config, as a folder (packed as `helm package`
//! lays it out, the same bytes in every checkout) or as a `.tgz` (taken as it is), built,
//! sealed and pinned like a fetched chart; an edited one shows in `plan` and is refused by
//! `build --locked`; a delta carries it and the far side rebuilds it offline byte for byte,
//! from the output, whatever its own copy of the chart is. Bad entries stop the plan with
//! exit 2 at the entry's line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::charts::{VALUES, chart_tgz, tgz_of};
use common::{Cmd, Lab, sha256_bytes};
use std::fs;
use std::io::Read as _;
use std::path::Path;

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  template:\n    spec:\n      containers:\n        - name: site\n          image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n";

/// The site chart's folder at `dir`: `site-app` 0.1.0, with a `.helmignore` leaving out
/// `*.bak` and a dot file under templates/ that Helm leaves out anyway.
fn site_chart(dir: &Path) {
    fs::create_dir_all(dir.join("templates")).unwrap();
    fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: site-app\nversion: 0.1.0\n",
    )
    .unwrap();
    fs::write(dir.join("values.yaml"), VALUES).unwrap();
    fs::write(dir.join("templates/deployment.yaml"), DEPLOYMENT).unwrap();
    fs::write(dir.join("templates/.deployment.yaml.swp"), "junk").unwrap();
    fs::write(dir.join("notes.bak"), "junk").unwrap();
    fs::write(dir.join(".helmignore"), "# editor leftovers\n*.bak\n").unwrap();
}

/// The lab with `charts` appended to its config (after a `charts:` line).
fn lab_with(charts: &str) -> Lab {
    let lab = Lab::new();
    site_chart(&lab.lab_dir().join("charts/site"));
    fs::write(
        lab.lab_dir().join("charts/tools-1.0.0.tgz"),
        chart_tgz("tools", "1.0.0", VALUES),
    )
    .unwrap();
    let path = lab.lab_dir().join("seedforge.yaml");
    let mut config = fs::read_to_string(&path).unwrap();
    config.push_str(&format!("\ncharts:\n{charts}"));
    fs::write(&path, config).unwrap();
    lab
}

const BOTH: &str = "  - name: site\n    path: charts/site\n    namespace: apps\n  - name: tools\n    path: ./charts/tools-1.0.0.tgz\n    version: 1.0.0\n";

/// The names in a chart archive.
fn names_in(tgz: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
    let mut names = Vec::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        names.push(e.path().unwrap().to_string_lossy().into_owned());
        let mut sink = Vec::new();
        e.read_to_end(&mut sink).unwrap();
    }
    names
}

fn sha256_of(path: &Path) -> String {
    sha256_bytes(&fs::read(path).unwrap())
}

/// Both forms in one round: built, sealed and pinned; the folder packs to the same bytes
/// in another checkout with other modes and times; edited, the folder's chart shows as
/// changed in `plan` and `build --locked` refuses it naming both digests; rebuilt, a delta
/// since the first output carries both new archives, and the far side (whose folder is
/// still the old one) applies it, rebuilding offline into the near side's output byte for
/// byte, and does again with neither chart beside its config.
#[test]
fn local_charts_build_seal_cross_a_delta_and_rebuild_offline() {
    let lab = lab_with(BOTH);
    lab.build();
    let out = lab.out_dir();
    let site = out.join("charts/site-0.1.0.tgz");
    let tools = out.join("charts/tools-1.0.0.tgz");
    assert_eq!(
        names_in(&fs::read(&site).unwrap()),
        [
            "site-app/.helmignore",
            "site-app/Chart.yaml",
            "site-app/templates/deployment.yaml",
            "site-app/values.yaml"
        ]
    );
    assert_eq!(
        fs::read(&tools).unwrap(),
        fs::read(lab.lab_dir().join("charts/tools-1.0.0.tgz")).unwrap(),
        "the .tgz is not taken as it is"
    );
    let (site_v1, tools_v1) = (sha256_of(&site), sha256_of(&tools));
    let lock = fs::read_to_string(lab.lab_dir().join("seedforge.lock")).unwrap();
    for pinned in [
        "\"source\": \"charts/site site-app 0.1.0\"",
        "\"source\": \"charts/tools-1.0.0.tgz tools 1.0.0\"",
        &format!("sha256:{site_v1}"),
        &format!("sha256:{tools_v1}"),
    ] {
        assert!(lock.contains(pinned), "{pinned}: {lock}");
    }
    let sums = fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    assert!(
        sums.contains(&format!("{site_v1}  charts/site-0.1.0.tgz"))
            && sums.contains(&format!("{tools_v1}  charts/tools-1.0.0.tgz")),
        "{sums}"
    );
    let helmchart = fs::read_to_string(out.join("charts/site.yaml")).unwrap();
    assert!(helmchart.contains("version: \"0.1.0\""), "{helmchart}");

    // The far side: this config folder and output as first carried.
    lab.receipt("v1.json").run();
    let far = lab.far_copy("far");
    let far_lab = far.join("fixtures/lab");

    // Another checkout (other modes and times): the folder packs to the same bytes.
    let other = far.join("fixtures/lab/charts/site");
    for f in ["Chart.yaml", "values.yaml", "templates/deployment.yaml"] {
        use std::os::unix::fs::PermissionsExt as _;
        let file = other.join(f);
        fs::set_permissions(&file, fs::Permissions::from_mode(0o755)).unwrap();
        let when = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(86_400);
        fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }
    let plan = Cmd::seedforge()
        .cwd(&far)
        .args(["plan", "--config", lab.config_arg()])
        .run();
    assert!(
        plan.stdout
            .contains(&format!("(sha256:{site_v1}) from charts/site")),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("changed:"), "{}", plan.stdout);

    // v2: a template edited (the version kept), the .tgz replaced by a newer one.
    fs::write(
        lab.lab_dir().join("charts/site/templates/deployment.yaml"),
        DEPLOYMENT.replace("  name: {{", "  labels: {tier: web}\n  name: {{"),
    )
    .unwrap();
    fs::write(
        lab.lab_dir().join("charts/tools-1.1.0.tgz"),
        chart_tgz("tools", "1.1.0", VALUES),
    )
    .unwrap();
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap().replace(
        "    path: ./charts/tools-1.0.0.tgz\n    version: 1.0.0\n",
        "    path: ./charts/tools-1.1.0.tgz\n",
    );
    fs::write(&config, text).unwrap();
    let plan = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .run();
    assert!(
        plan.stdout.contains(&format!(
            "; changed: seedforge.lock pins charts/site site-app 0.1.0 sha256:{site_v1}"
        )),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("charts/tools-1.1.0.tgz"),
        "{}",
        plan.stdout
    );
    let site_v2 = planned_digest(&plan.stdout, "site-0.1.0.tgz");
    assert_ne!(site_v2, site_v1);
    let refused = lab
        .seedforge()
        .args(["build", "--locked", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(
        refused.stderr.contains("chart site: ")
            && refused.stderr.contains(&site_v1)
            && refused.stderr.contains(&site_v2),
        "{}",
        refused.stderr
    );
    assert_eq!(sha256_of(&site), site_v1, "changed by a refused build");

    lab.build();
    assert_eq!(sha256_of(&site), site_v2);
    let tools_v2 = out.join("charts/tools-1.1.0.tgz");
    assert_eq!(
        fs::read(&tools_v2).unwrap(),
        chart_tgz("tools", "1.1.0", VALUES)
    );
    lab.delta("v1.json", "delta").run();
    let delta = lab.root().join("delta");
    for carried in [
        "out/charts/site-0.1.0.tgz",
        "out/charts/tools-1.1.0.tgz",
        "config/seedforge.lock",
    ] {
        assert!(delta.join(carried).is_file(), "{carried} not carried");
    }
    // The far side's chart folder is still v1's, and the new .tgz is not beside its
    // config: apply rebuilds offline from what the delta carried.
    common::far_side(&far)
        .arg("apply")
        .arg(&delta)
        .args(["--to", "fixtures/lab/out"])
        .run();
    crate::delta::assert_same_output(&far_lab.join("out"), &out);

    // Offline again, with neither chart beside the config: the same seal.
    fs::remove_dir_all(far_lab.join("charts/site")).unwrap();
    fs::remove_file(far_lab.join("charts/tools-1.0.0.tgz")).unwrap();
    common::far_side(&far)
        .args(["build", "--offline", "--config", lab.config_arg()])
        .run();
    common::assert_same_seal(&out, &far_lab.join("out"), "build --offline");
}

/// The digest `plan`'s text gives the archive at `OUT/charts/FILE`.
fn planned_digest(plan: &str, file: &str) -> String {
    let at = plan
        .find(&format!("charts/{file} (sha256:"))
        .unwrap_or_else(|| panic!("{file}: {plan}"));
    let start = at + file.len() + "charts/ (sha256:".len();
    plan[start..start + 64].to_string()
}

/// Each bad entry stops `plan` (nothing built) with exit 2, naming the config file and
/// the entry's line: `repo` and `path` together, a missing path, a folder without
/// `Chart.yaml`, a file that is no chart archive, an archive without `Chart.yaml`, and a
/// `version` or `chart` the chart's `Chart.yaml` does not say (both named), and a folder
/// holding a symbolic link that leads out of the config's folder (named; Helm would follow
/// it).
#[test]
fn a_bad_local_chart_is_refused_at_its_line() {
    let lab = lab_with("");
    fs::create_dir_all(lab.lab_dir().join("charts/empty")).unwrap();
    fs::write(lab.lab_dir().join("charts/garbage.tgz"), b"not a gzip").unwrap();
    fs::write(
        lab.lab_dir().join("charts/bare.tgz"),
        tgz_of(&[("bare/values.yaml".into(), VALUES.into())]),
    )
    .unwrap();
    // A chart folder (in no git checkout) with a link leading out of the config's folder,
    // to a key elsewhere.
    site_chart(&lab.lab_dir().join("charts/linked"));
    let elsewhere = tempfile::tempdir().unwrap();
    fs::write(elsewhere.path().join("ci.key"), "PRIVATE\n").unwrap();
    fs::create_dir_all(lab.lab_dir().join("charts/linked/files")).unwrap();
    std::os::unix::fs::symlink(
        elsewhere.path().join("ci.key"),
        lab.lab_dir().join("charts/linked/files/ci.key"),
    )
    .unwrap();
    let config = lab.lab_dir().join("seedforge.yaml");
    let base = fs::read_to_string(&config).unwrap();
    let line = base.lines().count() + 1;
    for (entry, says) in [
        (
            "  - name: site\n    path: charts/linked\n",
            "charts/linked/files/ci.key is a symbolic link leading out of the config's folder",
        ),
        (
            "  - name: site\n    repo: https://charts.example.com\n    path: charts/site\n    version: 0.1.0\n",
            "give repo: (a chart repository) or path: (a chart beside the config), not both",
        ),
        (
            "  - name: site\n    path: charts/nope\n",
            "chart site: path charts/nope: ",
        ),
        (
            "  - name: site\n    path: charts/empty\n",
            "chart site: path charts/empty: the folder has no Chart.yaml",
        ),
        (
            "  - name: site\n    path: charts/garbage.tgz\n",
            "chart site: path charts/garbage.tgz: not a chart archive (.tgz) Helm can read",
        ),
        (
            "  - name: site\n    path: charts/bare.tgz\n",
            "chart site: path charts/bare.tgz: the archive holds no NAME/Chart.yaml",
        ),
        (
            "  - name: site\n    path: charts/site\n    version: 0.2.0\n",
            "chart site: version: 0.2.0 is given, but charts/site's Chart.yaml says version 0.1.0",
        ),
        (
            "  - name: site\n    path: charts/site\n    chart: other\n",
            "chart site: chart: other is given, but charts/site's Chart.yaml says name site-app",
        ),
    ] {
        fs::write(&config, format!("{base}{entry}")).unwrap();
        let refused = lab
            .seedforge()
            .args(["plan", "--config", lab.config_arg()])
            .expect(2)
            .run();
        assert!(
            refused
                .stderr
                .contains(&format!("seedforge.yaml:{line}:5: "))
                && refused.stderr.contains(says),
            "{says}:\n{}",
            refused.stderr
        );
    }
    assert!(!lab.out_dir().exists(), "a refused plan wrote something");
}

/// A vendor's chart given by path into its git checkout beside the config, whose
/// `charts/library` links `../../library` of the same checkout, is planned with the library
/// packed in (as Helm packs it: `helm_packages_a_chart_folder_into_the_files_seedforge_packs`);
/// a link of it leaving the checkout, to a file beside the config, is refused by name at
/// the entry's line.
#[test]
fn a_link_within_the_checkout_holding_a_chart_is_followed() {
    let lab = lab_with("  - name: cluster\n    path: vendor/rook/deploy/charts/cluster\n");
    let repo = lab.lab_dir().join("vendor/rook");
    let chart = repo.join("deploy/charts/cluster");
    fs::create_dir_all(repo.join(".git")).unwrap();
    site_chart(&chart);
    fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: cluster\nversion: 1.0.0\n",
    )
    .unwrap();
    let library = repo.join("deploy/charts/library");
    fs::create_dir_all(library.join("templates")).unwrap();
    fs::write(
        library.join("Chart.yaml"),
        "apiVersion: v2\nname: library\nversion: 1.0.0\ntype: library\n",
    )
    .unwrap();
    fs::write(
        library.join("templates/_name.tpl"),
        "{{- define \"library.name\" }}{{ .Release.Name }}{{ end }}\n",
    )
    .unwrap();
    fs::create_dir_all(chart.join("charts")).unwrap();
    std::os::unix::fs::symlink("../../library", chart.join("charts/library")).unwrap();
    let plan = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .run();
    let bound = seedforge::charts::local::LinkBound::of(&chart, &lab.lab_dir()).unwrap();
    let packed = seedforge::charts::local::pack_dir_within(&chart, &bound).unwrap();
    assert!(names_in(&packed).contains(&"cluster/charts/library/templates/_name.tpl".to_string()));
    assert_eq!(
        planned_digest(&plan.stdout, "cluster-1.0.0.tgz"),
        sha256_bytes(&packed)
    );
    // A link out of the checkout, to a key beside the config.
    fs::write(lab.lab_dir().join("ci.key"), "PRIVATE\n").unwrap();
    std::os::unix::fs::symlink("../../../../../ci.key", chart.join("ci.key")).unwrap();
    let refused = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(
        refused.stderr.contains(
            "deploy/charts/cluster/ci.key is a symbolic link leading out of the git checkout holding the chart"
        ) && !refused.stderr.contains("PRIVATE"),
        "{}",
        refused.stderr
    );
}

/// What Helm's `package` (its Go library, as `tests/helm/judge.py` loads it) makes of a
/// chart folder holds the files seedforge packs, byte for byte (`Chart.yaml`, which Helm
/// writes anew from what it read, read back the same): `.helmignore`'s rules (a name, a
/// folder), Helm's default rule (dot files under templates/), a byte-order mark dropped, a
/// subchart's folder, a library chart linked from elsewhere in the same git checkout (Helm
/// follows the link), dot files elsewhere kept. Helm loads seedforge's archive too.
#[test]
fn helm_packages_a_chart_folder_into_the_files_seedforge_packs() {
    let Some(lib) = crate::helm_judge::helm_library() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("site");
    site_chart(&dir);
    fs::write(dir.join("values.yaml"), format!("\u{feff}{VALUES}")).unwrap();
    fs::write(dir.join(".hidden"), "kept\n").unwrap();
    fs::create_dir_all(dir.join("secret")).unwrap();
    fs::write(dir.join("secret/key"), "left out\n").unwrap();
    fs::write(dir.join(".helmignore"), "*.bak\nsecret/\n").unwrap();
    fs::create_dir_all(dir.join("charts/sub/templates")).unwrap();
    fs::write(
        dir.join("charts/sub/Chart.yaml"),
        "apiVersion: v2\nname: sub\nversion: 1.0.0\n",
    )
    .unwrap();
    fs::write(
        dir.join("charts/sub/templates/cm.yaml"),
        "kind: ConfigMap\n",
    )
    .unwrap();
    fs::create_dir_all(dir.join("files/deep")).unwrap();
    fs::write(dir.join("files/deep/a.txt"), "a\n").unwrap();
    fs::create_dir_all(tmp.path().join(".git")).unwrap();
    fs::create_dir_all(tmp.path().join("library/templates")).unwrap();
    fs::write(
        tmp.path().join("library/Chart.yaml"),
        "apiVersion: v2\nname: library\nversion: 1.0.0\ntype: library\n",
    )
    .unwrap();
    fs::write(
        tmp.path().join("library/templates/_name.tpl"),
        "{{- define \"library.name\" }}{{ .Release.Name }}{{ end }}\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("../../library", dir.join("charts/library")).unwrap();
    let bound = seedforge::charts::local::LinkBound::of(&dir, tmp.path()).unwrap();
    let ours = seedforge::charts::local::pack_dir_within(&dir, &bound).unwrap();
    let ours_path = tmp.path().join("ours.tgz");
    fs::write(&ours_path, &ours).unwrap();
    let dist = tmp.path().join("dist");
    fs::create_dir_all(&dist).unwrap();
    const SCRIPT: &str = r#"
import ctypes, sys
L = ctypes.CDLL(sys.argv[1])
L.helm_sdkpy_last_error.restype = ctypes.c_void_p
L.helm_sdkpy_config_create.argtypes = [ctypes.c_char_p] * 4 + [ctypes.POINTER(ctypes.c_ulonglong)]
L.helm_sdkpy_package.argtypes = [ctypes.c_ulonglong, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
L.helm_sdkpy_show_chart.argtypes = [ctypes.c_ulonglong, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
def fail(what):
    p = L.helm_sdkpy_last_error()
    sys.exit(what + ": " + (ctypes.string_at(p).decode() if p else "unknown error"))
h = ctypes.c_ulonglong(0)
if L.helm_sdkpy_config_create(b"default", None, None, b"{}", ctypes.byref(h)) != 0:
    fail("config")
out = ctypes.c_void_p()
if L.helm_sdkpy_package(h.value, sys.argv[2].encode(), sys.argv[3].encode(), ctypes.byref(out)) != 0:
    fail("package")
print(ctypes.string_at(out.value).decode())
shown = ctypes.c_void_p()
if L.helm_sdkpy_show_chart(h.value, sys.argv[4].encode(), ctypes.byref(shown)) != 0:
    fail("show " + sys.argv[4])
"#;
    let home = tmp.path().join("home");
    let packed = Cmd::new("python3")
        .args(["-c", SCRIPT])
        .arg(&lib)
        .arg(&dir)
        .arg(&dist)
        .arg(&ours_path)
        .env("HOME", &home.display().to_string())
        .env("HELM_CACHE_HOME", &home.join("cache").display().to_string())
        .env(
            "HELM_CONFIG_HOME",
            &home.join("config").display().to_string(),
        )
        .env("HELM_DATA_HOME", &home.join("data").display().to_string())
        .run();
    let helms = fs::read(packed.stdout.trim()).unwrap();
    let files = |tgz: &[u8]| {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
        let mut files = std::collections::BTreeMap::new();
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            files.insert(name, data);
        }
        files
    };
    let (ours, helms) = (files(&ours), files(&helms));
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        helms.keys().collect::<Vec<_>>()
    );
    for (name, data) in &ours {
        if name.ends_with("/Chart.yaml") {
            let read = |b: &[u8]| -> serde_json::Value {
                seedforge::charts::read_yaml(std::str::from_utf8(b).unwrap()).unwrap()
            };
            assert_eq!(read(data), read(&helms[name]), "{name}");
        } else {
            assert_eq!(data, &helms[name], "{name}");
        }
    }
    assert!(ours.contains_key("site-app/charts/sub/templates/cm.yaml"));
    assert!(ours.contains_key("site-app/charts/library/templates/_name.tpl"));
    assert!(
        !ours
            .keys()
            .any(|n| n.contains("secret/") || n.ends_with(".bak"))
    );
}
