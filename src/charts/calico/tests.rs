use super::*;
use serde_json::json;

fn written(o: &Outcome) -> Vec<String> {
    o.as_ref()
        .unwrap()
        .iter()
        .map(|p| p.written.clone())
        .collect()
}

#[test]
fn the_table_is_ordered_and_each_row_names_its_source() {
    let all: Vec<Release> = releases().collect();
    assert_eq!(all.len(), 55);
    for r in &all {
        assert!(
            r.operator.starts_with("v1.") && r.calico.starts_with("v3."),
            "{r:?}"
        );
        assert!(["docker.io", "quay.io"].contains(&r.registry), "{r:?}");
        assert_eq!(
            r.source,
            format!(
                "https://github.com/tigera/operator/blob/{}/config/calico_versions.yml",
                r.operator
            )
        );
    }
    assert_eq!(release("v1.38.6").unwrap().registry, "docker.io");
    assert_eq!(release("1.38.7").unwrap().registry, "quay.io");
    assert_eq!(release("v1.40.15").unwrap().calico, "v3.31.7");
    assert!(release("v1.39.0").is_none());
}

#[test]
fn an_installation_of_defaults_pulls_calicos_components_from_the_default_registry() {
    let spec = json!({"kubernetesProvider": "", "kubeletVolumePluginPath": "/var/lib/kubelet"});
    let got = pulled(Some("v1.38.9"), "Installation", &spec, &spec);
    assert_eq!(
        written(&got),
        [
            "quay.io/calico/node:v3.30.5",
            "quay.io/calico/cni:v3.30.5",
            "quay.io/calico/typha:v3.30.5",
            "quay.io/calico/kube-controllers:v3.30.5",
            "quay.io/calico/pod2daemon-flexvol:v3.30.5",
            "quay.io/calico/csi:v3.30.5",
            "quay.io/calico/node-driver-registrar:v3.30.5",
        ]
    );
    let p = &got.unwrap()[0];
    assert_eq!(
        p.field,
        "spec (tigera/operator v1.38.9 deploys Calico v3.30.5: calico/node)"
    );
    assert_eq!(p.parts, ["v1.38.9"]);
    // Before v1.38.7 the operator's default registry for Calico was Docker Hub's.
    let got = pulled(Some("v1.36.16"), "Installation", &spec, &spec);
    assert_eq!(written(&got)[0], "docker.io/calico/node:v3.29.7");
}

#[test]
fn the_registry_path_and_prefix_move_every_image_and_switches_leave_components_out() {
    let spec = json!({
        "registry": "registry.example:5000/",
        "imagePath": "mirror/calico",
        "imagePrefix": "x-",
        "flexVolumePath": "None",
        "kubeletVolumePluginPath": "None",
        "cni": {"type": "AmazonVPC"},
        "fipsMode": "Enabled",
        "certificateManagement": {"caCert": "", "signerName": "a.b/c"},
    });
    let got = pulled(Some("v1.40.15"), "Installation", &spec, &spec);
    assert_eq!(
        written(&got),
        [
            "registry.example:5000/mirror/calico/x-node:v3.31.7-fips",
            "registry.example:5000/mirror/calico/x-typha:v3.31.7-fips",
            "registry.example:5000/mirror/calico/x-kube-controllers:v3.31.7-fips",
            "registry.example:5000/mirror/calico/x-key-cert-provisioner:v3.31.7",
        ]
    );
    assert_eq!(
        got.unwrap()[0].parts,
        ["registry.example:5000/", "mirror/calico", "x-", "v1.40.15"]
    );
    // UseDefault is the default; a provider with its own plugin takes no Calico CNI.
    let spec = json!({"registry": "UseDefault", "kubernetesProvider": "EKS"});
    let got = written(&pulled(Some("v1.42.4"), "Installation", &spec, &spec));
    assert_eq!(got[0], "quay.io/calico/node:v3.32.1");
    assert!(!got.iter().any(|i| i.contains("/cni:")), "{got:?}");
}

#[test]
fn the_other_resources_take_the_installations_registry() {
    let installation = json!({"registry": "registry.example:5000"});
    let of = |kind: &str, v: &str| written(&pulled(Some(v), kind, &Value::Null, &installation));
    assert_eq!(
        of("APIServer", "v1.38.9"),
        ["registry.example:5000/calico/apiserver:v3.30.5"]
    );
    assert_eq!(
        of("Whisker", "v1.38.9"),
        [
            "registry.example:5000/calico/whisker:v3.30.5",
            "registry.example:5000/calico/whisker-backend:v3.30.5",
        ]
    );
    assert_eq!(
        of("Goldmane", "v1.40.0"),
        ["registry.example:5000/calico/goldmane:v3.31.0"]
    );
    // Goldmane came with the operator of Calico 3.30.
    assert!(of("Goldmane", "v1.36.16").is_empty());
    assert!(deploys("Installation") && deploys("Whisker") && !deploys("TigeraStatus"));
}

#[test]
fn what_the_table_cannot_say_is_said() {
    let spec = json!({});
    let why = pulled(Some("v1.44.0"), "Installation", &spec, &spec).unwrap_err();
    assert!(
        why.starts_with("tigera/operator v1.44.0 is not in seedforge's table of the Calico releases the operator deploys (v1.36.0 to v1.42.4, Calico v3.29.0 to v3.32.1)"),
        "{why}"
    );
    let why = pulled(None, "Installation", &spec, &spec).unwrap_err();
    assert!(why.contains("no tigera/operator container"), "{why}");
    let spec = json!({"variant": "TigeraSecureEnterprise"});
    let why = pulled(Some("v1.38.9"), "Installation", &spec, &spec).unwrap_err();
    assert!(
        why.contains("spec.variant is TigeraSecureEnterprise"),
        "{why}"
    );
}

#[test]
fn the_operators_version_is_its_containers_tag() {
    let refs: Vec<crate::image::Reference> = [
        "quay.io/calico/ctl:v3.30.5",
        "registry.example:5000/tigera/operator:v1.38.9",
    ]
    .iter()
    .map(|r| crate::image::Reference::parse(r).unwrap())
    .collect();
    assert_eq!(operator_version(&refs).as_deref(), Some("v1.38.9"));
    assert_eq!(operator_version(&refs[..1]), None);
}
