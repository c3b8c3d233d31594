//! The unit tests of [`super`]: `build --offline`'s checks.

use super::*;
use crate::oci::registry::Registries;
use crate::oci::registry::RegistryReader;

#[test]
fn offline_registries_refuse_to_make_a_client_naming_the_image() {
    let registries = Registries::offline();
    let reference = Reference::parse("127.0.0.1:1/rancher/pause:3.6").unwrap();
    let err = RegistryReader::open(&registries, &reference, "docker://x/pause:3.6".into())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("docker://x/pause:3.6"), "{err}");
    assert!(err.contains("127.0.0.1:1"), "{err}");
    assert!(err.contains("--offline"), "{err}");
    assert!(registries.runtime().is_err());
}

/// A manifest stored in `layout` naming `config` and `layers` (digest, size).
fn manifest(layout: &Layout, config: (&Digest, u64), layers: &[(&Digest, u64)]) -> Digest {
    let d = |(digest, size): (&Digest, u64)| serde_json::json!({"mediaType": "application/octet-stream", "digest": digest.to_string(), "size": size});
    let doc = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": d(config),
        "layers": layers.iter().copied().map(d).collect::<Vec<_>>(),
    });
    let bytes = serde_json::to_vec(&doc).unwrap();
    layout.write_blob_bytes(&bytes, None, "t").unwrap()
}

#[test]
fn the_store_names_each_blob_an_image_lacks_and_asks_for_a_shared_one_once() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(dir.path()).unwrap();
    let base = layout.write_blob_bytes(b"shared base", None, "t").unwrap();
    let config = layout.write_blob_bytes(b"{}", None, "t").unwrap();
    let gone = Digest::of(b"never stored");
    let whole = manifest(&layout, (&config, 2), &[(&base, 11)]);
    let lacking = manifest(&layout, (&config, 2), &[(&base, 11), (&gone, 3)]);
    let wrong_size = manifest(&layout, (&config, 3), &[(&base, 11)]);
    let platforms = [Platform::linux_amd64()];
    let store = Store::open(dir.path());
    let found = store.find(&whole, "a", &platforms).unwrap();
    assert_eq!(found.digest, whole);
    assert_eq!(found.media_type, OCI_MANIFEST);
    let present = store.present.borrow().clone();
    assert!(present.contains(&(base.clone(), 11)) && present.contains(&(config.clone(), 2)));
    let e = store.find(&lacking, "b", &platforms).unwrap_err();
    assert!(
        e.contains(&format!("layer {gone}")) && !e.contains(&base.to_string()),
        "{e}"
    );
    let e = store.find(&wrong_size, "c", &platforms).unwrap_err();
    assert!(e.contains(&format!("config {config}")), "{e}");
    // Once found, a shared blob is not looked up again: gone now, still counted.
    std::fs::remove_file(layout.blob_path(&base)).unwrap();
    assert!(store.find(&whole, "d", &platforms).is_ok());
    // A manifest not stored, or damaged, is named as such.
    let e = store.find(&gone, "e", &platforms).unwrap_err();
    assert!(e.contains("is not in"), "{e}");
    std::fs::write(layout.blob_path(&lacking), b"{}").unwrap();
    let e = Store::open(dir.path())
        .find(&lacking, "f", &platforms)
        .unwrap_err();
    assert!(e.contains("is damaged") && e.contains("hashes to"), "{e}");
}

#[test]
fn bundle_inputs_ignore_where_the_folder_is_but_not_what_it_asks_for() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    for d in [a.path(), b.path()] {
        std::fs::write(d.join("base.txt"), "libc6\t2.36-9\n").unwrap();
    }
    let yaml = "name: ops\npackages: [jq]\nbase: base.txt\nrepo: {url: http://127.0.0.1:1/debian, suite: bookworm}\n";
    let bundle: BundleConfig = serde_saphyr::from_str(yaml).unwrap();
    assert!(is_remote(&bundle));
    let one = bundle_inputs(&bundle, a.path(), 5).unwrap();
    assert_eq!(one, bundle_inputs(&bundle, b.path(), 5).unwrap());
    assert_ne!(one, bundle_inputs(&bundle, a.path(), 6).unwrap());
    std::fs::write(b.path().join("base.txt"), "libc6\t2.36-10\n").unwrap();
    assert_ne!(one, bundle_inputs(&bundle, b.path(), 5).unwrap());
    let local: BundleConfig =
        serde_saphyr::from_str("name: ops\npackages: [jq]\ndebs: [d/]\n").unwrap();
    assert!(!is_remote(&local));
}
