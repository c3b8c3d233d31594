//! `SOURCE_DATE_EPOCH` is refused when it is not a date (exit 2, naming the variable and
//! its value, nothing written), and a valid one over the config's `source_date_epoch` is
//! said as a warning on the near side, the build dated from it as before.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use common::Lab;

#[test]
fn a_source_date_epoch_that_is_not_a_date_is_refused_and_an_override_is_said() {
    let lab = Lab::new();
    for bad in ["yesterday", "-5", ""] {
        let before = common::snapshot(lab.root());
        let refused = lab
            .seedforge()
            .args(["plan", "--config", lab.config_arg()])
            .env("SOURCE_DATE_EPOCH", bad)
            .expect(2)
            .run();
        assert!(
            refused
                .stderr
                .contains(&format!("SOURCE_DATE_EPOCH={bad:?} is not a date")),
            "{bad:?}: {}",
            refused.stderr
        );
        common::assert_same_tree(&before, &common::snapshot(lab.root()), "a refused plan");
    }
    // The lab's config dates its builds 1700000000: another date from the environment is
    // taken and said.
    let planned = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .env("SOURCE_DATE_EPOCH", "1750000000")
        .run();
    assert!(
        planned
            .stderr
            .contains("warning: SOURCE_DATE_EPOCH=1750000000")
            && planned
                .stderr
                .contains("overrides the config's source_date_epoch"),
        "{}",
        planned.stderr
    );
    // The config's own date: nothing to say.
    let same = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .run();
    assert!(!same.stderr.contains("overrides"), "{}", same.stderr);
}

/// A build that waited for the output's lock (another build, an `apply`) reads its config
/// after it holds the lock: a date changed in the config meanwhile is the one it builds
/// with, not the one it read before waiting.
#[test]
fn a_build_that_waited_for_the_lock_reads_the_config_after_it() {
    let lab = Lab::new();
    let out = lab.out_dir();
    let held = crate::build_lock::hold(&out);
    let mut running = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .spawn();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !crate::build_lock::has_waiter(&held) {
        assert!(
            running.guard.child().try_wait().unwrap().is_none(),
            "the build ended instead of waiting"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the build never waited"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    let changed = text.replace(
        "source_date_epoch: 1700000000",
        "source_date_epoch: 1700000100",
    );
    assert_ne!(changed, text);
    std::fs::write(&config, changed).unwrap();
    drop(held);
    let done = running.wait();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(manifest.contains("1700000100"), "{manifest}");
}
