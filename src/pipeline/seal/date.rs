//! The build's source date: which one a build uses, and what `manifest.json` records of
//! it (`source_date_epoch`, `source_date_from`).
//!
//! An online build takes `SOURCE_DATE_EPOCH` from the environment, else the config's
//! `source_date_epoch`, else none (every date 0). An offline build (`build --offline`, and
//! the rebuild of `apply`) takes the date the output records instead of the environment's:
//! a date that came from `SOURCE_DATE_EPOCH` stays, whatever the environment says here;
//! one that came from the config is the config's (changed on this side, it is an input
//! changed); the environment is never read. A different `SOURCE_DATE_EPOCH` here is named
//! in a warning, with both dates: the same inputs make the same bytes on either side of
//! the gap without anything exported. An output whose `manifest.json` records no
//! `source_date_from` (written by an older seedforge) is dated as before, from the
//! environment first, and the build says so when that is not the date it records.

use super::{MANIFEST, ManifestView, SealError};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Where a build's source date came from (`manifest.json`'s `source_date_from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateFrom {
    /// `SOURCE_DATE_EPOCH` in the environment of the build that first dated the output.
    Environment,
    /// The config's `source_date_epoch`.
    Config,
    /// Neither: every date is 0 (1970-01-01T00:00:00Z).
    None,
}

impl DateFrom {
    fn parse(text: &str) -> Option<DateFrom> {
        match text {
            "environment" => Some(DateFrom::Environment),
            "config" => Some(DateFrom::Config),
            "none" => Some(DateFrom::None),
            _ => None,
        }
    }

    fn says(self) -> &'static str {
        match self {
            DateFrom::Environment => "from SOURCE_DATE_EPOCH",
            DateFrom::Config => "from the config's source_date_epoch",
            DateFrom::None => "no source date given",
        }
    }
}

/// A build's source date and where it came from, as `manifest.json`, `build --json` and
/// `delta.json` give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SourceDate {
    /// Seconds since the epoch; none: every date is 0.
    pub source_date_epoch: Option<u64>,
    /// Where it came from.
    pub source_date_from: DateFrom,
}

/// What an output's `manifest.json` records of its date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// Its `source_date_epoch`.
    pub epoch: Option<u64>,
    /// Its `source_date_from`; none when an older seedforge wrote it (or a newer one,
    /// with an origin this one does not know).
    pub from: Option<DateFrom>,
}

impl Recorded {
    /// What `out/manifest.json` records, if there is one that reads.
    pub fn load(out: &Path) -> Option<Recorded> {
        let view = ManifestView::load(out).ok()?;
        Some(Recorded {
            epoch: view.source_date_epoch,
            from: view.source_date_from.as_deref().and_then(DateFrom::parse),
        })
    }
}

/// `epoch` as seconds and an RFC 3339 time: `1700000000 (2023-11-14T22:13:20Z)`, or
/// `none (every date 0, …)`.
pub fn date_text(epoch: Option<u64>) -> String {
    dated(epoch, "")
}

/// [`date_text`] with `more` said inside its parentheses.
fn dated(epoch: Option<u64>, more: &str) -> String {
    match epoch {
        Some(e) => format!("{e} ({}{more})", crate::sbom::rfc3339(e)),
        None => format!("none (every date 0, 1970-01-01T00:00:00Z{more})"),
    }
}

impl SourceDate {
    /// The date and where it came from: `1700000000 (2023-11-14T22:13:20Z, from
    /// SOURCE_DATE_EPOCH)`.
    pub fn text(&self) -> String {
        dated(
            self.source_date_epoch,
            &format!(", {}", self.source_date_from.says()),
        )
    }
}

impl SourceDate {
    /// `SOURCE_DATE_EPOCH` as this process's environment has it: unset is `None`; set, it
    /// must be a date (digits, a `u64`), or it is refused, never ignored: an empty value,
    /// `-5` or `yesterday` would date the build from the config without a word.
    pub fn from_env() -> Result<Option<String>, SealError> {
        SourceDate::checked(std::env::var_os("SOURCE_DATE_EPOCH").as_deref())
    }

    fn checked(value: Option<&std::ffi::OsStr>) -> Result<Option<String>, SealError> {
        let Some(value) = value else {
            return Ok(None);
        };
        let text = value.to_string_lossy();
        let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        if digits && text.parse::<u64>().is_ok() {
            return Ok(Some(text.into_owned()));
        }
        Err(SealError::EnvDate {
            value: text.into_owned(),
        })
    }

    /// The date a build of a config dated `config` uses, with `SOURCE_DATE_EPOCH` set to
    /// `env` here (as it reads; a value that is not a number is ignored, as always). With
    /// `recorded` (an offline build of an output with a `manifest.json`), the output's date
    /// is kept; the second value is what the build should be told (both dates named).
    pub fn resolve(
        env: Option<&str>,
        config: Option<u64>,
        recorded: Option<Recorded>,
        out: &Path,
    ) -> (SourceDate, Option<String>) {
        let env_epoch = env.and_then(|v| v.parse::<u64>().ok());
        let online = || match (env_epoch, config) {
            (Some(e), _) => SourceDate::new(Some(e), DateFrom::Environment),
            (None, Some(c)) => SourceDate::new(Some(c), DateFrom::Config),
            (None, None) => SourceDate::new(None, DateFrom::None),
        };
        let manifest = out.join(MANIFEST);
        let Some(recorded) = recorded else {
            // The environment's date over the config's: said, as the override it is.
            let note = match (env_epoch, config) {
                (Some(e), Some(c)) if e != c => Some(format!(
                    "SOURCE_DATE_EPOCH={} overrides the config's source_date_epoch, {}: the build is dated from the environment",
                    date_text(Some(e)),
                    date_text(Some(c)),
                )),
                _ => None,
            };
            return (online(), note);
        };
        let Some(from) = recorded.from else {
            // An older seedforge's output: dated as before, said when that changes it.
            let date = online();
            let note = (date.source_date_epoch != recorded.epoch).then(|| {
                format!(
                    "{}: records source date {} and no source_date_from (an older seedforge wrote it), so this build is dated as before: {}; every dated file changes. Rebuild with the recorded date (SOURCE_DATE_EPOCH={}) to keep them",
                    manifest.display(),
                    date_text(recorded.epoch),
                    date.text(),
                    recorded.epoch.unwrap_or(0),
                )
            });
            return (date, note);
        };
        let date = match (from, recorded.epoch) {
            (DateFrom::Environment, Some(e)) => SourceDate::new(Some(e), DateFrom::Environment),
            _ => match config {
                Some(c) => SourceDate::new(Some(c), DateFrom::Config),
                None => SourceDate::new(None, DateFrom::None),
            },
        };
        let warning = (env_epoch.is_some() && env_epoch != date.source_date_epoch).then(|| {
            format!(
                "SOURCE_DATE_EPOCH={} here is not the source date of {}: the offline build keeps the output's, {}, so that the same inputs make the same bytes; SOURCE_DATE_EPOCH dates an online build",
                date_text(env_epoch),
                manifest.display(),
                date.text(),
            )
        });
        (date, warning)
    }

    fn new(source_date_epoch: Option<u64>, source_date_from: DateFrom) -> SourceDate {
        SourceDate {
            source_date_epoch,
            source_date_from,
        }
    }

    /// Refuses, before any step, a build of the signed `output` (only its public key here,
    /// key id `hint`) whose date is not the one its `manifest.json` records: every dated
    /// file would change, and no signature here signs them. Named by both dates, never
    /// by the signature that would fail at the end.
    pub(super) fn check_signable(&self, output: &Path, hint: &str) -> Result<(), SealError> {
        let Some(recorded) = Recorded::load(output) else {
            return Ok(());
        };
        if recorded.epoch == self.source_date_epoch {
            return Ok(());
        }
        let how = match recorded.from {
            None => format!(
                "; {MANIFEST} records no source_date_from (an older seedforge wrote it), so the date is taken as before, SOURCE_DATE_EPOCH first: run with SOURCE_DATE_EPOCH={}",
                recorded.epoch.unwrap_or(0)
            ),
            Some(_) => String::new(),
        };
        Err(SealError::SourceDate {
            path: output.join(MANIFEST),
            message: format!(
                "source date {} here, but the output records {}: every dated file would change, and the output is signed (key id {hint}) with only the public key here: nothing was built{how}",
                self.text(),
                date_text(recorded.epoch),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_date_epoch_that_is_not_a_date_is_refused_and_an_override_said() {
        use std::ffi::OsStr;
        for bad in [
            "yesterday",
            "-5",
            "",
            " 5",
            "1.5",
            "99999999999999999999999",
        ] {
            let err = SourceDate::checked(Some(OsStr::new(bad))).unwrap_err();
            assert!(err.is_invalid_input(), "{bad}");
            assert!(
                err.to_string()
                    .starts_with(&format!("SOURCE_DATE_EPOCH={bad:?} is not a date")),
                "{err}"
            );
        }
        assert_eq!(
            SourceDate::checked(Some(OsStr::new("1700000000"))).unwrap(),
            Some("1700000000".into())
        );
        assert_eq!(SourceDate::checked(None).unwrap(), None);
        let out = Path::new("out");
        let (date, note) = SourceDate::resolve(Some("1700000000"), Some(1600000000), None, out);
        assert_eq!(date.source_date_epoch, Some(1700000000));
        let note = note.unwrap();
        assert!(
            note.contains("SOURCE_DATE_EPOCH=1700000000") && note.contains("overrides"),
            "{note}"
        );
        assert!(
            SourceDate::resolve(Some("7"), Some(7), None, out)
                .1
                .is_none()
        );
        assert!(SourceDate::resolve(Some("7"), None, None, out).1.is_none());
    }

    fn rec(epoch: Option<u64>, from: Option<DateFrom>) -> Option<Recorded> {
        Some(Recorded { epoch, from })
    }

    #[test]
    fn an_online_build_takes_the_environment_then_the_config() {
        let out = Path::new("out");
        let (d, w) = SourceDate::resolve(Some("5"), Some(7), None, out);
        assert_eq!(d, SourceDate::new(Some(5), DateFrom::Environment));
        // Over the config's date: said.
        assert!(w.is_some_and(|w| w.contains("overrides")));
        let (d, w) = SourceDate::resolve(Some("5"), None, None, out);
        assert_eq!(d, SourceDate::new(Some(5), DateFrom::Environment));
        assert!(w.is_none());
        let (d, _) = SourceDate::resolve(None, Some(7), None, out);
        assert_eq!(d, SourceDate::new(Some(7), DateFrom::Config));
        let (d, _) = SourceDate::resolve(None, None, None, out);
        assert_eq!(d, SourceDate::new(None, DateFrom::None));
    }

    #[test]
    fn an_offline_build_keeps_the_recorded_date_and_names_another_environments() {
        let out = Path::new("out");
        let env = Some(DateFrom::Environment);
        // Dated by the near side's environment: kept, with none here or another.
        for here in [None, Some("1800000000")] {
            let (d, w) = SourceDate::resolve(here, Some(7), rec(Some(1_750_000_000), env), out);
            assert_eq!(
                d,
                SourceDate::new(Some(1_750_000_000), DateFrom::Environment)
            );
            assert_eq!(w.is_some(), here.is_some());
        }
        let (_, w) = SourceDate::resolve(
            Some("1800000000"),
            Some(7),
            rec(Some(1_750_000_000), env),
            out,
        );
        let w = w.unwrap();
        for said in [
            "1800000000",
            "1750000000",
            "2025-06-15T15:06:40Z",
            "out/manifest.json",
        ] {
            assert!(w.contains(said), "{said}: {w}");
        }
        // The same date in the environment: nothing to say.
        let (_, w) =
            SourceDate::resolve(Some("1750000000"), None, rec(Some(1_750_000_000), env), out);
        assert!(w.is_none());
        // Dated by the config: the config's, now (an edit is an input changed).
        let (d, w) = SourceDate::resolve(
            Some("9"),
            Some(8),
            rec(Some(7), Some(DateFrom::Config)),
            out,
        );
        assert_eq!(d, SourceDate::new(Some(8), DateFrom::Config));
        assert!(w.is_some());
        let (d, _) = SourceDate::resolve(Some("9"), None, rec(None, Some(DateFrom::None)), out);
        assert_eq!(d, SourceDate::new(None, DateFrom::None));
    }

    #[test]
    fn an_older_output_is_dated_as_before_and_says_so_when_that_changes_it() {
        let out = Path::new("out");
        let (d, w) = SourceDate::resolve(Some("9"), Some(7), rec(Some(7), None), out);
        assert_eq!(d, SourceDate::new(Some(9), DateFrom::Environment));
        let w = w.unwrap();
        assert!(
            w.contains("older seedforge") && w.contains("SOURCE_DATE_EPOCH=7"),
            "{w}"
        );
        let (d, w) = SourceDate::resolve(None, Some(7), rec(Some(7), None), out);
        assert_eq!(d, SourceDate::new(Some(7), DateFrom::Config));
        assert!(w.is_none());
    }
}

#[cfg(test)]
mod signable {
    use super::*;

    fn output(manifest: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(MANIFEST), manifest).unwrap();
        dir
    }

    #[test]
    fn a_signed_output_of_another_date_is_refused_naming_both_dates_not_the_signature() {
        // An older seedforge's output: no source_date_from.
        let old = output(r#"{"source_date_epoch": 1750000000, "artifacts": []}"#);
        let here = SourceDate::new(Some(1_700_000_000), DateFrom::Config);
        let e = here.check_signable(old.path(), "KEYID").unwrap_err();
        assert!(e.is_invalid_input());
        let said = e.to_string();
        for s in [
            "1700000000 (2023-11-14T22:13:20Z, from the config's source_date_epoch)",
            "1750000000 (2025-06-15T15:06:40Z)",
            "SOURCE_DATE_EPOCH=1750000000",
            "older seedforge",
            "manifest.json",
        ] {
            assert!(said.contains(s), "{s}: {said}");
        }
        assert!(!said.contains("no signature"), "{said}");
        // The recorded date: nothing to refuse.
        let same = SourceDate::new(Some(1_750_000_000), DateFrom::Environment);
        same.check_signable(old.path(), "KEYID").unwrap();
        // No manifest: nothing recorded to compare with.
        let empty = tempfile::tempdir().unwrap();
        here.check_signable(empty.path(), "KEYID").unwrap();
    }

    #[test]
    fn the_recorded_date_reads_from_manifest_json_and_an_unknown_origin_as_none() {
        let new = output(
            r#"{"source_date_epoch": 5, "source_date_from": "environment", "artifacts": []}"#,
        );
        assert_eq!(
            Recorded::load(new.path()),
            Some(Recorded {
                epoch: Some(5),
                from: Some(DateFrom::Environment)
            })
        );
        let newer = output(r#"{"source_date_epoch": 5, "source_date_from": "x", "artifacts": []}"#);
        assert_eq!(Recorded::load(newer.path()).unwrap().from, None);
        let old = output(r#"{"source_date_epoch": null, "artifacts": []}"#);
        assert_eq!(
            Recorded::load(old.path()),
            Some(Recorded {
                epoch: None,
                from: None
            })
        );
    }
}
