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
