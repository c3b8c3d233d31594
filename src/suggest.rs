//! Naming what was meant: the nearest of the names a user could have written, and a
//! listing of names that stays short however many there are.

/// How many names a message lists before it gives the nearest ones and a count instead.
pub const LIST_AT_MOST: usize = 12;

/// The edit distance between two names (Levenshtein, on characters).
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut last = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = last + usize::from(ca != *cb);
            last = row[j + 1];
            row[j + 1] = sub.min(row[j] + 1).min(last + 1);
        }
    }
    row[b.len()]
}

/// Up to `n` of `known` closest to `wanted` (ignoring ASCII case), nearest first; equally
/// near ones in their order.
pub fn closest<'a>(
    wanted: &str,
    known: impl IntoIterator<Item = &'a str>,
    n: usize,
) -> Vec<&'a str> {
    let lower = wanted.to_ascii_lowercase();
    let mut ranked: Vec<(usize, usize, &str)> = known
        .into_iter()
        .enumerate()
        .map(|(i, k)| (distance(&lower, &k.to_ascii_lowercase()), i, k))
        .collect();
    ranked.sort_unstable();
    ranked.into_iter().take(n).map(|(_, _, k)| k).collect()
}

/// `names` joined by ", " when there are at most [`LIST_AT_MOST`]; otherwise the count and
/// the few nearest to `wanted` (the first few without one), so that a message about a
/// source of thousands of images stays a line.
pub fn listing(names: &[&str], wanted: Option<&str>) -> String {
    if names.len() <= LIST_AT_MOST {
        return names.join(", ");
    }
    let shown: Vec<&str> = match wanted {
        Some(w) => closest(w, names.iter().copied(), 5),
        None => names.iter().copied().take(5).collect(),
    };
    let which = if wanted.is_some() { "nearest" } else { "first" };
    format!("{} names; {which}: {}", names.len(), shown.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance() {
        assert_eq!(distance("adminPassword", "admin"), 8);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
    }

    #[test]
    fn closest_is_nearest_first_and_ignores_case() {
        let known = ["persistence", "Controller", "controllers", "image"];
        assert_eq!(
            closest("controler", known, 2),
            ["Controller", "controllers"]
        );
    }

    #[test]
    fn a_long_listing_gives_a_count_and_the_nearest() {
        let names: Vec<String> = (1..=3000).map(|i| format!("scale/img-{i:05}:1")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let line = listing(&names, Some("scale/img-00000:1"));
        assert!(
            line.starts_with("3000 names; nearest: scale/img-00001:1, "),
            "{line}"
        );
        assert!(line.len() < 200, "{line}");
        assert_eq!(
            listing(&names[..3], None),
            "scale/img-00001:1, scale/img-00002:1, scale/img-00003:1"
        );
        assert!(listing(&names, None).starts_with("3000 names; first: scale/img-00001:1, "));
    }
}
