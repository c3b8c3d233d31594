//! The images a chart pulls against the image lists: whether a list has one (the same
//! name and tag or digest), and the name an added one is stored under so that the nodes'
//! `registries.yaml` finds it. The images themselves are found by rendering the chart
//! ([`super::pulled`]).

use crate::image::Reference;

/// Whether `image` is among `listed` (the image lists' destinations): the same name and
/// the same tag or digest.
pub fn is_listed(image: &Reference, listed: &[Reference]) -> bool {
    listed.iter().any(|l| {
        l.name() == image.name()
            && ((image.tag().is_some() && l.tag() == image.tag())
                || l.tag_or_digest() == image.tag_or_digest())
    })
}

/// The name an image pulled as `image` is stored under so that the nodes find it: their
/// `registries.yaml` sends its registry to the cluster's registry with `rewrite` applied to
/// the repository (k3s applies a rewrite whose expression matches; of several, here the
/// first in name order), so the image is kept under the rewritten repository. An
/// expression that does not compile, or a result that is no reference, leaves it as it is
/// (the config's check refuses the former).
pub fn destination(
    image: &Reference,
    rewrite: Option<&std::collections::BTreeMap<String, String>>,
) -> Reference {
    let Some(rules) = rewrite else {
        return image.clone();
    };
    for (from, to) in rules {
        let Ok(re) = regex::Regex::new(from) else {
            continue;
        };
        if !re.is_match(image.repository()) {
            continue;
        }
        let repo = re.replace(image.repository(), to.as_str());
        let mut text = format!("{}/{repo}", image.registry());
        if let Some(t) = image.tag() {
            text.push_str(&format!(":{t}"));
        }
        if let Some(d) = image.digest() {
            text.push_str(&format!("@{d}"));
        }
        return Reference::parse(&text).unwrap_or_else(|_| image.clone());
    }
    image.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewrite_moves_the_destination_as_the_nodes_will_ask_for_it() {
        let image = Reference::parse("rancher/mirrored-pause:3.6").unwrap();
        assert_eq!(destination(&image, None), image);
        let rules: std::collections::BTreeMap<String, String> =
            [("^rancher/(.*)".to_string(), "lab/rancher/$1".to_string())].into();
        assert_eq!(
            destination(&image, Some(&rules)).to_string(),
            "docker.io/lab/rancher/mirrored-pause:3.6"
        );
        let other = Reference::parse("quay.io/jetstack/cert-manager-controller:v1.15.0").unwrap();
        assert_eq!(destination(&other, Some(&rules)), other);
    }

    #[test]
    fn listed_means_same_name_and_tag() {
        let listed = vec![Reference::parse("docker.io/demo/app:1.0").unwrap()];
        assert!(is_listed(
            &Reference::parse("demo/app:1.0").unwrap(),
            &listed
        ));
        assert!(!is_listed(
            &Reference::parse("demo/app:1.1").unwrap(),
            &listed
        ));
        assert!(!is_listed(
            &Reference::parse("other/app:1.0").unwrap(),
            &listed
        ));
    }
}
