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

/// The name an image pulled as `image` is stored under so that the nodes find it: the
/// name the chart pulls, as the airgap archives must carry it (the container runtime
/// looks an image up by that name). A `registry.rewrite` changes where the cluster's
/// registry holds it, which `push` and `serve` apply ([`crate::image::rewrite`]), not its
/// name.
pub fn destination(image: &Reference) -> Reference {
    image.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pulled_image_keeps_its_name() {
        let image = Reference::parse("rancher/mirrored-pause:3.6").unwrap();
        assert_eq!(destination(&image), image);
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
