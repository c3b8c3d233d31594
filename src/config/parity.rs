//! `export_parity:` (and `delta --parity`): how much PAR 2.0 recovery data goes beside
//! the parts, as a percentage of their size: `10`, `10%` or `"10%"`, from 1 to 100.

/// A percentage as `export_parity:` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percent(pub u32);

impl<'de> serde::Deserialize<'de> for Percent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct P;
        impl serde::de::Visitor<'_> for P {
            type Value = Percent;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a percentage from 1 to 100 (10 or 10%)")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Percent, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Percent, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Percent, E> {
                parse_percent(v).map(Percent).map_err(E::custom)
            }
        }
        d.deserialize_any(P)
    }
}

/// The percentage `export_parity:` gives, refused (where it is written, and why) without
/// `export_split:`.
pub(super) fn resolve(
    raw: Option<serde_saphyr::Spanned<Percent>>,
    split: bool,
) -> Result<Option<u32>, (serde_saphyr::Location, String)> {
    match raw {
        Some(p) if !split => Err((
            p.referenced,
            "export_parity needs export_split: the recovery data protects the parts".into(),
        )),
        p => Ok(p.map(|p| p.value.0)),
    }
}

/// Parses a percentage from 1 to 100, with or without `%`.
pub fn parse_percent(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let number = t.strip_suffix('%').unwrap_or(t).trim();
    match number.parse::<u32>() {
        Ok(n) if (1..=100).contains(&n) => Ok(n),
        _ => Err(format!(
            "{text:?} is not a percentage from 1 to 100 (10 or 10%: recovery data a tenth of the parts' size)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages() {
        assert_eq!(parse_percent("10"), Ok(10));
        assert_eq!(parse_percent("10%"), Ok(10));
        assert_eq!(parse_percent(" 100 % "), Ok(100));
        assert!(parse_percent("0").is_err());
        assert!(parse_percent("101").is_err());
        assert!(parse_percent("ten").is_err());
    }
}
