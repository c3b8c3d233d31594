//! Debian versions: parsing never panics, a parsed version prints to text that parses back
//! to an equal version, and the ordering is a total order (antisymmetric, transitive,
//! consistent with `==` and with every relation operator) on any three versions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seedforge::debs::version::{Op, Version};
use std::cmp::Ordering;

const OPS: [Op; 5] = [Op::Less, Op::LessEq, Op::Eq, Op::GreaterEq, Op::Greater];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Up to three versions, one per line; lines that do not parse are skipped.
    let versions: Vec<Version> = text
        .split('\n')
        .take(3)
        .filter_map(|l| Version::parse(l).ok())
        .collect();
    for v in &versions {
        let again = Version::parse(&v.to_string()).expect("a printed version parses");
        assert_eq!(again.cmp(v), Ordering::Equal, "{v} != its own printout");
        assert_eq!(v.cmp(v), Ordering::Equal, "{v} is not equal to itself");
        let _ = v.without_epoch();
    }
    for a in &versions {
        for b in &versions {
            let ab = a.cmp(b);
            // Antisymmetry, and == agrees with cmp.
            assert_eq!(ab, b.cmp(a).reverse(), "{a} vs {b} is not antisymmetric");
            assert_eq!(a == b, ab == Ordering::Equal, "{a} == {b} disagrees with cmp");
            // Every operator says what the ordering says.
            for op in OPS {
                let want = match op {
                    Op::Less => ab == Ordering::Less,
                    Op::LessEq => ab != Ordering::Greater,
                    Op::Eq => ab == Ordering::Equal,
                    Op::GreaterEq => ab != Ordering::Less,
                    Op::Greater => ab == Ordering::Greater,
                };
                assert_eq!(op.holds(a, b), want, "{a} {op} {b}");
            }
            for c in &versions {
                let bc = b.cmp(c);
                let ac = a.cmp(c);
                // Transitivity of <= and of ==.
                if ab != Ordering::Greater && bc != Ordering::Greater {
                    assert_ne!(ac, Ordering::Greater, "{a} <= {b} <= {c} but {a} > {c}");
                }
                if ab == Ordering::Equal && bc == Ordering::Equal {
                    assert_eq!(ac, Ordering::Equal, "{a} == {b} == {c} but {a} != {c}");
                }
                if ab == Ordering::Less && bc == Ordering::Less {
                    assert_eq!(ac, Ordering::Less, "{a} < {b} < {c} but not {a} < {c}");
                }
            }
        }
    }
});
