use super::*;
use crate::debs::control::parse_paragraphs;
use crate::debs::universe::{Verification, candidate};

/// A universe from Packages-style text; `Size` defaults to 0.
fn universe(text: &str) -> Universe {
    let candidates = parse_paragraphs(text)
        .unwrap()
        .into_iter()
        .map(|p| candidate(p, "test").unwrap())
        .collect();
    Universe {
        candidates,
        arch: "amd64".into(),
        verification: Verification::LocalFiles,
        origin: "the test repository".into(),
        suggested: Vec::new(),
    }
}

fn req(names: &[&str]) -> Vec<Request> {
    names.iter().map(|n| n.parse().unwrap()).collect()
}

fn names(c: &Closure) -> Vec<String> {
    c.packages
        .iter()
        .map(|p| format!("{}={}", p.name, p.version))
        .collect()
}

fn base(text: &str) -> Base {
    Base::parse(text, "base.txt").unwrap()
}

const JQ: &str = "\
Package: jq
Version: 1.6-2.1+deb12u3
Architecture: amd64
Depends: libjq1 (= 1.6-2.1+deb12u3), libc6 (>= 2.34)

Package: libjq1
Version: 1.6-2.1+deb12u3
Architecture: amd64
Depends: libc6 (>= 2.36), libonig5 (>= 6.8.1)

Package: libonig5
Version: 6.9.8-1
Architecture: amd64
Depends: libc6 (>= 2.14)
";

#[test]
fn closure_leaves_out_the_base_and_records_who_pulled_what() {
    let b = base("libc6:amd64\t2.36-9+deb12u10\nlibc-bin\t2.36-9\n");
    let c = resolve(&universe(JQ), &req(&["jq"]), &b).unwrap();
    assert_eq!(
        names(&c),
        [
            "jq=1.6-2.1+deb12u3",
            "libjq1=1.6-2.1+deb12u3",
            "libonig5=6.9.8-1"
        ]
    );
    assert_eq!(c.packages[0].pulled_by, ["requested"]);
    assert_eq!(c.packages[1].pulled_by, ["jq"]);
    assert_eq!(c.packages[2].pulled_by, ["libjq1"]);
}

#[test]
fn a_missing_dependency_is_named_with_who_needs_it() {
    let text = JQ.split("\n\nPackage: libonig5").next().unwrap();
    let b = base("libc6 2.36-9\n");
    let e = resolve(&universe(text), &req(&["jq"]), &b)
        .unwrap_err()
        .to_string();
    assert!(e.contains("libonig5 (>= 6.8.1)"), "{e}");
    assert!(
        e.contains("libjq1 1.6-2.1+deb12u3 (pulled in by jq)"),
        "{e}"
    );
    assert!(e.contains("libonig5 is not in the test repository"), "{e}");
    // Without libc6 in the base, libc6 is what is missing.
    let e = resolve(&universe(JQ), &req(&["jq"]), &Base::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("libc6 is not in"), "{e}");
}

#[test]
fn a_base_too_old_pulls_the_newer_version() {
    let text = format!("{JQ}\nPackage: libc6\nVersion: 2.36-9\nArchitecture: amd64\n");
    let c = resolve(&universe(&text), &req(&["jq"]), &base("libc6 2.31-1\n")).unwrap();
    assert!(names(&c).contains(&"libc6=2.36-9".to_string()));
}

#[test]
fn requested_packages_in_the_base_are_reported_not_shipped() {
    let c = resolve(&universe(JQ), &req(&["jq"]), &base("jq 1.6-2.1+deb12u3\n")).unwrap();
    assert!(c.packages.is_empty());
    assert_eq!(c.already_in_base, ["jq"]);
}

#[test]
fn first_satisfiable_alternative_wins() {
    let text = "\
Package: a
Version: 1
Architecture: all
Depends: x | y (>= 2) | z

Package: y
Version: 1
Architecture: all

Package: z
Version: 1
Architecture: all
";
    // x missing, y too old: z.
    let c = resolve(&universe(text), &req(&["a"]), &Base::default()).unwrap();
    assert_eq!(names(&c), ["a=1", "z=1"]);
    // An alternative the base has satisfies the relation.
    let c = resolve(&universe(text), &req(&["a"]), &base("x 5\n")).unwrap();
    assert_eq!(names(&c), ["a=1"]);
    // An alternative already chosen for another reason is reused.
    let c = resolve(&universe(text), &req(&["y", "a"]), &Base::default()).unwrap();
    assert_eq!(names(&c), ["a=1", "y=1", "z=1"]);
}

#[test]
fn virtual_packages_through_provides() {
    let text = "\
Package: app
Version: 1
Architecture: all
Depends: mail-transport-agent, awk, libfoo (>= 2)

Package: postfix
Version: 3
Architecture: amd64
Provides: mail-transport-agent

Package: exim4
Version: 4
Architecture: amd64
Provides: mail-transport-agent

Package: mawk
Version: 1.3
Architecture: amd64
Provides: awk

Package: libfoo-compat
Version: 9
Architecture: amd64
Provides: libfoo (= 2.5)
";
    let c = resolve(&universe(text), &req(&["app"]), &Base::default()).unwrap();
    // The first provider by name; a versioned provide meets a versioned dependency.
    assert_eq!(
        names(&c),
        ["app=1", "exim4=4", "libfoo-compat=9", "mawk=1.3"]
    );
    // An unversioned provide never meets a versioned dependency.
    let text = text.replace("libfoo (= 2.5)", "libfoo");
    let e = resolve(&universe(&text), &req(&["app"]), &Base::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("libfoo (>= 2)"), "{e}");
    // A provide in the base counts.
    let c = resolve(
        &universe(text.as_str()),
        &req(&["app"]),
        &base("postfix 3 mail-transport-agent\nmawk 1 awk\nlibfoo 2\n"),
    )
    .unwrap();
    assert_eq!(names(&c), ["app=1"]);
}

#[test]
fn cycles_terminate() {
    let text = "\
Package: a
Version: 1
Architecture: all
Depends: b

Package: b
Version: 1
Architecture: all
Pre-Depends: c

Package: c
Version: 1
Architecture: all
Depends: a (>= 1)
";
    let c = resolve(&universe(text), &req(&["a"]), &Base::default()).unwrap();
    assert_eq!(names(&c), ["a=1", "b=1", "c=1"]);
    assert_eq!(c.packages[0].pulled_by, ["requested", "c"]);
}

#[test]
fn highest_version_unless_a_constraint_pins_another() {
    let text = "\
Package: a
Version: 1
Architecture: all
Depends: c (>= 1), d

Package: d
Version: 1
Architecture: all
Depends: c (<< 2~)

Package: c
Version: 1.5
Architecture: all

Package: c
Version: 2.0
Architecture: all

Package: c
Version: 1:0.1
Architecture: all
";
    let c = resolve(&universe(text), &req(&["c"]), &Base::default()).unwrap();
    assert_eq!(names(&c), ["c=1:0.1"], "the epoch wins");
    let text = text.replace("Version: 1:0.1", "Version: 0.1");
    let c = resolve(&universe(&text), &req(&["a"]), &Base::default()).unwrap();
    assert_eq!(
        names(&c),
        ["a=1", "c=1.5", "d=1"],
        "restart honours d's limit"
    );
    let c = resolve(&universe(&text), &req(&["c=0.1"]), &Base::default()).unwrap();
    assert_eq!(names(&c), ["c=0.1"]);
}

#[test]
fn conflicting_constraints_say_who_wants_what() {
    let text = "\
Package: a
Version: 1
Architecture: all
Depends: c (= 1)

Package: b
Version: 1
Architecture: all
Depends: c (= 2)

Package: c
Version: 1
Architecture: all

Package: c
Version: 2
Architecture: all
";
    let e = resolve(&universe(text), &req(&["a", "b"]), &Base::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("c (= 1)") && e.contains("c (= 2)"), "{e}");
    assert!(e.contains("b 1 needs c (= 2)") || e.contains("a 1"), "{e}");
}

#[test]
fn conflicts_and_breaks_are_errors() {
    let text = "\
Package: a
Version: 1
Architecture: all
Conflicts: b, a

Package: b
Version: 1
Architecture: all

Package: c
Version: 1
Architecture: all
Breaks: oldtool (<< 2)
";
    let e = resolve(&universe(text), &req(&["a", "b"]), &Base::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("a 1 conflicts b: b 1 (also in the bundle)"),
        "{e}"
    );
    let e = resolve(&universe(text), &req(&["c"]), &base("oldtool 1.0\n"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("breaks oldtool (<< 2)") && e.contains("base"),
        "{e}"
    );
    assert!(resolve(&universe(text), &req(&["c"]), &base("oldtool 2.0\n")).is_ok());
    assert!(!e.contains("request oldtool"), "{e}");
    // With a newer oldtool in the sources, apt would upgrade it: the error says to request
    // it, and requested, it is upgraded with c.
    let newer = format!("{text}\nPackage: oldtool\nVersion: 2.1\nArchitecture: all\n");
    let e = resolve(&universe(&newer), &req(&["c"]), &base("oldtool 1.0\n"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("apt would upgrade oldtool too: request oldtool too"),
        "{e}"
    );
    let c = resolve(
        &universe(&newer),
        &req(&["c", "oldtool"]),
        &base("oldtool 1.0\n"),
    )
    .unwrap();
    assert_eq!(upgrades(&c), ["oldtool 1.0 -> 2.1"]);
}

#[test]
fn architectures_native_all_and_any() {
    let text = "\
Package: tool
Version: 1
Architecture: amd64
Depends: py:any, data, lib:arm64

Package: py
Version: 3
Architecture: arm64

Package: data
Version: 1
Architecture: arm64

Package: data
Version: 0.9
Architecture: all

Package: lib
Version: 1
Architecture: arm64
";
    let c = resolve(&universe(text), &req(&["tool"]), &Base::default()).unwrap();
    assert_eq!(names(&c), ["data=0.9", "lib=1", "py=3", "tool=1"]);
    let e = resolve(&universe(text), &req(&["py"]), &Base::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("3 (arm64)"), "{e}");
}

#[test]
fn requests_and_base_lines_parse() {
    assert!("jq=1.6-2".parse::<Request>().unwrap().version.is_some());
    assert!("Bad Name".parse::<Request>().is_err());
    assert!("a (>= 1)".parse::<Request>().is_err());
    let b = base("# dpkg-query -W\nlibc6:amd64\t2.36-9\nrc-only\t\n");
    assert_eq!(b.len(), 1);
    let e = Base::parse("x not-a-version\n", "base.txt")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("base.txt:1:"), "{e}");
}

const MTAS: &str = "\
Package: exim4-daemon-light
Version: 4.96-15
Architecture: amd64
Provides: mail-transport-agent, default-mta

Package: postfix
Version: 3.7.11-0
Architecture: amd64
Provides: mail-transport-agent

Package: gawk
Version: 1:5.2.1-2
Architecture: amd64
Provides: awk
";

fn install(c: &Closure) -> Vec<String> {
    c.install.iter().map(ToString::to_string).collect()
}

#[test]
fn install_asks_apt_for_what_apt_can_install() {
    let none = Base::default();
    // NAME=VERSION keeps its version: apt takes it, and install.sh checks it.
    let libc = base("libc6\t2.36-9+deb12u10\n");
    let c = resolve(&universe(JQ), &req(&["jq=1.6-2.1+deb12u3"]), &libc).unwrap();
    assert_eq!(install(&c), ["jq=1.6-2.1+deb12u3"]);
    // A virtual name with one provider becomes that provider.
    let c = resolve(&universe(MTAS), &req(&["default-mta", "awk"]), &none).unwrap();
    assert_eq!(install(&c), ["exim4-daemon-light", "gawk"]);
    assert_eq!(names(&c), ["exim4-daemon-light=4.96-15", "gawk=1:5.2.1-2"]);
    // What the base meets (awk by mawk) is not asked for: apt has no candidate for it.
    let b = base("mawk\t1.3.4.20200120-3.1\tawk\njq\t1.6-2.1+deb12u3\n");
    let c = resolve(&universe(MTAS), &req(&["awk", "gawk"]), &b).unwrap();
    assert_eq!(install(&c), ["gawk"]);
}

#[test]
fn a_virtual_request_with_several_providers_names_them() {
    let e = resolve(
        &universe(MTAS),
        &req(&["mail-transport-agent"]),
        &Base::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains(
            "mail-transport-agent is a virtual package provided by exim4-daemon-light, postfix"
        ),
        "{e}"
    );
    assert!(
        DebsError::Unsatisfiable(String::new()).is_invalid_input(),
        "exit 2"
    );
}

#[test]
fn a_dpkg_status_file_is_a_base_with_provides() {
    let status = "\
Package: mawk
Status: install ok installed
Version: 1.3.4.20200120-3.1
Provides: awk

Package: perl-base
Status: install ok installed
Version: 5.36.0-7+deb12u1
Provides: libscalar-list-utils-perl (= 1:1.62-1), perlapi-5.36.0

Package: jq
Status: deinstall ok config-files
Version: 1.6-2.1+deb12u3
";
    let b = base(status);
    assert_eq!(b.len(), 2);
    let c = resolve(&universe(MTAS), &req(&["awk"]), &b).unwrap();
    assert!(c.packages.is_empty() && c.install.is_empty(), "{c:?}");
    assert_eq!(c.already_in_base, ["awk"]);
    // A removed package is not in the base.
    let libc = "\nPackage: libc6\nStatus: install ok installed\nVersion: 2.36-9+deb12u10\n";
    let c = resolve(
        &universe(JQ),
        &req(&["jq"]),
        &base(&format!("{status}{libc}")),
    )
    .unwrap();
    assert_eq!(install(&c), ["jq"]);
    let e = Base::parse("Package: x\nVersion: 1\n", "status")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("status:1") && e.contains("Package and Status"),
        "{e}"
    );
}

#[test]
fn a_base_newer_than_an_exact_dependency_is_refused_naming_both_versions() {
    let perl = "\
Package: perl
Version: 5.36.0-7+deb12u3
Architecture: amd64
Depends: perl-base (= 5.36.0-7+deb12u3)

Package: perl-base
Version: 5.36.0-7+deb12u3
Architecture: amd64
";
    let b = base("perl-base\t5.36.0-7+deb12u4\n");
    let e = resolve(&universe(perl), &req(&["perl"]), &b)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("perl 5.36.0-7+deb12u3 needs perl-base (= 5.36.0-7+deb12u3)")
            && e.contains("base has perl-base 5.36.0-7+deb12u4"),
        "{e}"
    );
}

/// As bookworm has them: perl-base provides perlapi-5.36.0, sysvinit-utils provides
/// lsb-base (= 11.1.0), and lsb-base 11.6 is a transitional package.
const BOOKWORM_BASE: &str = "\
Package: perl-base
Version: 5.36.0-7+deb12u3
Architecture: amd64
Provides: libscalar-list-utils-perl (= 1:1.62), perlapi-5.36.0

Package: sysvinit-utils
Version: 3.06-4
Architecture: amd64
Provides: lsb-base (= 11.1.0)

Package: lsb-base
Version: 11.6
Architecture: all
Depends: sysvinit-utils (>= 3.05-4~)

Package: libperl-tool
Version: 1.0-1
Architecture: amd64
Depends: perlapi-5.36.0, libscalar-list-utils-perl (>= 1:1.50)

Package: init-tool
Version: 1.0-1
Architecture: all
Depends: lsb-base (>= 3.0-6)
";

/// A two-column base (`dpkg-query -W`) says no Provides: those of a package the
/// repository has at the base's exact version are the repository's, so neither perl-base
/// (at the node's own version) nor lsb-base (met by sysvinit-utils) is bundled, as apt
/// leaves them out.
#[test]
fn a_two_column_base_takes_provides_from_the_repository_at_the_same_version() {
    let two = base("perl-base\t5.36.0-7+deb12u3\nsysvinit-utils\t3.06-4\n");
    let c = resolve(
        &universe(BOOKWORM_BASE),
        &req(&["libperl-tool", "init-tool"]),
        &two,
    )
    .unwrap();
    assert_eq!(names(&c), ["init-tool=1.0-1", "libperl-tool=1.0-1"]);
    // Blank-aligned columns are columns too.
    let aligned = base("perl-base      5.36.0-7+deb12u3\nsysvinit-utils 3.06-4\n");
    let c = resolve(&universe(BOOKWORM_BASE), &req(&["init-tool"]), &aligned).unwrap();
    assert_eq!(names(&c), ["init-tool=1.0-1"]);
    // Another version of the package says nothing of the node's Provides: lsb-base is
    // bundled, as apt would need it.
    let other = base("sysvinit-utils\t3.06-3\n");
    let c = resolve(&universe(BOOKWORM_BASE), &req(&["init-tool"]), &other).unwrap();
    assert!(names(&c).contains(&"lsb-base=11.6".to_string()), "{c:?}");
    // A third column is the node's own Provides, taken as given.
    let three = base("sysvinit-utils\t3.06-3\tlsb-base (= 11.1.0)\n");
    let c = resolve(&universe(BOOKWORM_BASE), &req(&["init-tool"]), &three).unwrap();
    assert_eq!(names(&c), ["init-tool=1.0-1"]);
}

/// A package the base has at the very version a dependency would pick is never bundled,
/// whatever the base says of its Provides.
#[test]
fn a_package_the_base_has_at_that_version_is_never_bundled() {
    let b = base("perl-base\t5.36.0-7+deb12u3\tsomething-else\n");
    let c = resolve(&universe(BOOKWORM_BASE), &req(&["libperl-tool"]), &b).unwrap();
    assert_eq!(names(&c), ["libperl-tool=1.0-1"]);
    assert!(install(&c).iter().all(|r| r != "perl-base"), "{c:?}");
}

/// jq and libjq1 as bookworm-security has them and as bookworm has them (deb12u1), with a
/// newer libonig5 than the base's.
const JQ_UPDATES: &str = "\
Package: jq
Version: 1.6-2.1+deb12u3
Architecture: amd64
Depends: libjq1 (= 1.6-2.1+deb12u3), libc6 (>= 2.34)

Package: jq
Version: 1.6-2.1+deb12u1
Architecture: amd64
Depends: libjq1 (= 1.6-2.1+deb12u1), libc6 (>= 2.34)

Package: libjq1
Version: 1.6-2.1+deb12u3
Architecture: amd64
Depends: libc6 (>= 2.36), libonig5 (>= 6.8.1)

Package: libjq1
Version: 1.6-2.1+deb12u1
Architecture: amd64
Depends: libc6 (>= 2.36), libonig5 (>= 6.8.1)

Package: libonig5
Version: 6.9.9-1
Architecture: amd64
Depends: libc6 (>= 2.14)
";

fn upgrades(c: &Closure) -> Vec<String> {
    c.upgrades.iter().map(|u| u.to_string()).collect()
}

/// The node's jq and libjq1 at deb12u1, libonig5 6.9.8-1.
const OLD_JQ_BASE: &str = "\
libc6\t2.36-9+deb12u10
jq\t1.6-2.1+deb12u1
libjq1\t1.6-2.1+deb12u1
libonig5\t6.9.8-1
";

/// `apt-get install jq` over an older jq upgrades it, and its libjq1 with it (jq's
/// `Depends: libjq1 (= VERSION)` is no longer met by the base's), but not libonig5: the
/// base's 6.9.8-1 still meets libjq1's `>= 6.8.1`, and apt leaves a met dependency alone.
#[test]
fn a_requested_package_older_in_the_base_is_upgraded_as_apt_would() {
    let c = resolve(&universe(JQ_UPDATES), &req(&["jq"]), &base(OLD_JQ_BASE)).unwrap();
    assert_eq!(names(&c), ["jq=1.6-2.1+deb12u3", "libjq1=1.6-2.1+deb12u3"]);
    assert_eq!(
        upgrades(&c),
        [
            "jq 1.6-2.1+deb12u1 -> 1.6-2.1+deb12u3",
            "libjq1 1.6-2.1+deb12u1 -> 1.6-2.1+deb12u3"
        ]
    );
    assert_eq!(c.packages[0].pulled_by, ["requested"]);
    assert_eq!(c.packages[1].pulled_by, ["jq"]);
    assert!(c.already_in_base.is_empty(), "{c:?}");
    assert_eq!(install(&c), ["jq"]);
    // The same from the node's dpkg status file.
    let status = "\
Package: libc6
Status: install ok installed
Version: 2.36-9+deb12u10

Package: jq
Status: install ok installed
Version: 1.6-2.1+deb12u1
Depends: libjq1 (= 1.6-2.1+deb12u1), libc6 (>= 2.34)

Package: libjq1
Status: install ok installed
Version: 1.6-2.1+deb12u1
Depends: libc6 (>= 2.36), libonig5 (>= 6.8.1)

Package: libonig5
Status: install ok installed
Version: 6.9.8-1
";
    let s = resolve(&universe(JQ_UPDATES), &req(&["jq"]), &base(status)).unwrap();
    assert_eq!(names(&s), names(&c));
    assert_eq!(upgrades(&s), upgrades(&c));
}

/// A base version equal to or newer than the candidate stays: nothing is bundled, as
/// `apt-get install` says "already the newest version".
#[test]
fn a_base_version_equal_or_newer_than_the_candidate_stays() {
    for have in ["1.6-2.1+deb12u3", "1.6-2.1+deb12u4", "1:1.5-1"] {
        let b = base(&format!("libc6 2.36-9\njq {have}\nlibjq1 {have}\n"));
        let c = resolve(&universe(JQ_UPDATES), &req(&["jq"]), &b).unwrap();
        assert!(c.packages.is_empty(), "{have}: {c:?}");
        assert!(
            c.upgrades.is_empty() && c.install.is_empty(),
            "{have}: {c:?}"
        );
        assert_eq!(c.already_in_base, ["jq"], "{have}");
    }
}

/// A version request between the base's and the newest upgrades to that version; one the
/// base has is met by the base.
#[test]
fn a_version_request_upgrades_to_that_version() {
    let text = JQ_UPDATES.replace("deb12u1", "deb12u2");
    let b = base("libc6 2.36-9\njq 1.6-2.1+deb12u1\nlibjq1 1.6-2.1+deb12u1\nlibonig5 6.9.8-1\n");
    let c = resolve(&universe(&text), &req(&["jq=1.6-2.1+deb12u2"]), &b).unwrap();
    assert_eq!(
        upgrades(&c),
        [
            "jq 1.6-2.1+deb12u1 -> 1.6-2.1+deb12u2",
            "libjq1 1.6-2.1+deb12u1 -> 1.6-2.1+deb12u2"
        ]
    );
    assert_eq!(install(&c), ["jq=1.6-2.1+deb12u2"]);
    let c = resolve(&universe(JQ_UPDATES), &req(&["jq=1.6-2.1+deb12u1"]), &b).unwrap();
    assert!(c.packages.is_empty() && c.upgrades.is_empty(), "{c:?}");
}

/// A dependency the base has at a version too old for the upgraded package is upgraded
/// with it and reported; a request the base lacks altogether is no upgrade.
#[test]
fn a_dependency_too_old_for_the_new_version_is_upgraded() {
    let text = "\
Package: tool
Version: 1.0-2
Architecture: all
Depends: libtool (>= 1.0-2), helper (>= 1.0)

Package: libtool
Version: 1.0-2
Architecture: all

Package: helper
Version: 1.0-2
Architecture: all

Package: other
Version: 1.0-1
Architecture: all
Depends: libtool
";
    let b = base("tool 1.0-1\nlibtool 1.0-1\nhelper 1.0-1\n");
    let c = resolve(&universe(text), &req(&["tool", "other"]), &b).unwrap();
    assert_eq!(names(&c), ["libtool=1.0-2", "other=1.0-1", "tool=1.0-2"]);
    assert_eq!(
        upgrades(&c),
        ["libtool 1.0-1 -> 1.0-2", "tool 1.0-1 -> 1.0-2"]
    );
    let libtool = c.packages.iter().find(|p| p.name == "libtool").unwrap();
    assert_eq!(libtool.pulled_by, ["tool"]);
    assert_eq!(install(&c), ["tool", "other"]);
    // Without tool requested, other's plain dependency on libtool is met by the base.
    let c = resolve(&universe(text), &req(&["other"]), &b).unwrap();
    assert_eq!(names(&c), ["other=1.0-1"]);
    assert!(c.upgrades.is_empty());
}

/// Upgrading libjq1 alone would break the base's jq, which needs the old libjq1 exactly:
/// refused, naming jq, whether the base says its dependencies (a status file) or the
/// repository's entry at the base's version does (a list). Requesting jq too resolves.
#[test]
fn an_upgrade_that_breaks_a_base_package_is_refused_naming_it() {
    let status = "\
Package: libc6
Status: install ok installed
Version: 2.36-9+deb12u10

Package: jq
Status: install ok installed
Version: 1.6-2.1+deb12u1
Depends: libjq1 (= 1.6-2.1+deb12u1), libc6 (>= 2.34)

Package: libjq1
Status: install ok installed
Version: 1.6-2.1+deb12u1
Depends: libc6 (>= 2.36), libonig5 (>= 6.8.1)

Package: libonig5
Status: install ok installed
Version: 6.9.8-1
";
    for b in [base(status), base(OLD_JQ_BASE)] {
        let e = resolve(&universe(JQ_UPDATES), &req(&["libjq1"]), &b)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("upgrades libjq1 1.6-2.1+deb12u1 -> 1.6-2.1+deb12u3")
                && e.contains("jq 1.6-2.1+deb12u1 depends on libjq1 (= 1.6-2.1+deb12u1)")
                && e.contains("request jq too"),
            "{e}"
        );
        let c = resolve(&universe(JQ_UPDATES), &req(&["libjq1", "jq"]), &b).unwrap();
        assert_eq!(c.upgrades.len(), 2, "{c:?}");
    }
    // A base package whose dependency the upgrade still meets is no obstacle.
    let loose = status.replace("libjq1 (= 1.6-2.1+deb12u1)", "libjq1 (>= 1.6)");
    let c = resolve(&universe(JQ_UPDATES), &req(&["libjq1"]), &base(&loose)).unwrap();
    assert_eq!(upgrades(&c), ["libjq1 1.6-2.1+deb12u1 -> 1.6-2.1+deb12u3"]);
}

/// A request for a real package is met only by that package in the base: `apt-get install
/// lsb-base` installs lsb-base 11.6 on a node whose sysvinit-utils provides lsb-base (as a
/// dependency, the provide meets it); a virtual request is still met by a provide.
#[test]
fn a_requested_real_package_is_not_met_by_a_provide() {
    let two = base("perl-base\t5.36.0-7+deb12u3\nsysvinit-utils\t3.06-4\n");
    let c = resolve(&universe(BOOKWORM_BASE), &req(&["lsb-base"]), &two).unwrap();
    assert_eq!(names(&c), ["lsb-base=11.6"]);
    assert_eq!(install(&c), ["lsb-base"]);
    assert!(
        c.already_in_base.is_empty() && c.upgrades.is_empty(),
        "{c:?}"
    );
    let c = resolve(&universe(BOOKWORM_BASE), &req(&["perlapi-5.36.0"]), &two).unwrap();
    assert!(c.packages.is_empty() && c.install.is_empty(), "{c:?}");
    assert_eq!(c.already_in_base, ["perlapi-5.36.0"]);
}
