//! Where each value of the config is written: a map from a value's path
//! (`registry.ca.import.key`, `registries[1].host`, `packages[0].repos[2].url`) to its line
//! and column, for the checks that run after deserializing (the filesystem, values that
//! only conflict with each other) and still must name the line they are about.

use serde_saphyr::granit_parser::{Event, Parser};
use std::collections::HashMap;

/// One value's place in the file, and its text when it is a scalar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Place {
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
    /// The scalar's value (`None` for a mapping, a sequence or an alias).
    pub scalar: Option<String>,
}

/// The places of every value of a YAML document.
#[derive(Debug, Default)]
pub(super) struct Positions(HashMap<String, Place>);

enum Frame {
    /// A mapping at `path`, with the key whose value comes next (`None`: a key comes next).
    Map { path: String, key: Option<String> },
    /// A sequence at `path`, with the index of the next item.
    Seq { path: String, index: usize },
}

impl Positions {
    /// Reads the places of `text`'s values; a syntax error ends the walk (the YAML reader
    /// reports it).
    pub fn of(text: &str) -> Positions {
        let mut places = HashMap::new();
        let mut stack: Vec<Frame> = Vec::new();
        for event in Parser::new_from_str(text) {
            let Ok((event, span)) = event else { break };
            let (scalar, opens) = match &event {
                Event::Scalar(value, ..) => (Some(value.to_string()), false),
                Event::Alias(_) | Event::UnresolvedAlias(_) => (None, false),
                Event::SequenceStart(..) | Event::MappingStart(..) => (None, true),
                Event::SequenceEnd | Event::MappingEnd => {
                    stack.pop();
                    advance(&mut stack);
                    continue;
                }
                _ => continue,
            };
            let path = match stack.last_mut() {
                None => String::new(),
                Some(Frame::Map {
                    key: key @ None, ..
                }) => {
                    // A key: a scalar names the value that follows; anything else is a key
                    // no config has, under a path nothing looks up.
                    if !opens {
                        *key = Some(scalar.unwrap_or_else(|| "?".into()));
                        continue;
                    }
                    "?".into()
                }
                Some(Frame::Map {
                    path,
                    key: Some(key),
                }) => {
                    if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    }
                }
                Some(Frame::Seq { path, index }) => format!("{path}[{index}]"),
            };
            places.insert(
                path.clone(),
                Place {
                    line: span.start.line() as u64,
                    column: span.start.col() as u64 + 1,
                    scalar,
                },
            );
            match event {
                Event::MappingStart(..) => stack.push(Frame::Map { path, key: None }),
                Event::SequenceStart(..) => stack.push(Frame::Seq { path, index: 0 }),
                _ => advance(&mut stack),
            }
        }
        Positions(places)
    }

    /// The place of the value at `path`.
    pub fn get(&self, path: &str) -> Option<&Place> {
        self.0.get(path)
    }

    /// Every value's path and place, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Place)> {
        self.0.iter().map(|(path, place)| (path.as_str(), place))
    }

    /// The line and column of the value at `path`, or of the closest enclosing value
    /// written in the file (line 1 when none is).
    pub fn at(&self, path: &str) -> (u64, u64) {
        let mut path = path;
        loop {
            if let Some(p) = self.0.get(path) {
                return (p.line, p.column);
            }
            match path.rfind(['.', '[']) {
                Some(i) => path = &path[..i],
                None => return (1, 1),
            }
        }
    }
}

/// One value of the innermost collection is complete.
fn advance(stack: &mut [Frame]) {
    match stack.last_mut() {
        Some(Frame::Map { key, .. }) => {
            *key = match key {
                None => Some("?".into()),
                Some(_) => None,
            }
        }
        Some(Frame::Seq { index, .. }) => *index += 1,
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_values_flow_and_block_have_their_line_and_column() {
        let text = "\
version: 1
registry:
  ca:
    import: {cert: ca.crt, key: ca.key}
registries:
  - host: a.example
  - {host: b.example, ca_file: b.pem}
packages:
  - name: ops
    repos:
      - url: http://x
      - url: ftp://y
";
        let p = Positions::of(text);
        assert_eq!(p.at("version"), (1, 10));
        assert_eq!(p.at("registry.ca.import.key"), (4, 33));
        assert_eq!(
            p.get("registry.ca.import.key").unwrap().scalar.as_deref(),
            Some("ca.key")
        );
        assert_eq!(p.at("registries[0].host"), (6, 11));
        assert_eq!(p.at("registries[1].ca_file"), (7, 32));
        assert_eq!(p.at("packages[0].repos[1].url"), (12, 14));
        assert_eq!(
            p.get("packages[0].repos[1].url").unwrap().scalar.as_deref(),
            Some("ftp://y")
        );
        // A value not written falls back to what encloses it.
        assert_eq!(p.at("registries[1].username"), (7, 5));
        assert_eq!(p.at("nothing.here"), (1, 1));
    }
}
