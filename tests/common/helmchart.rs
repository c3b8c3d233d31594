//! The HelmChart resource k3s's helm-controller reads (`helm.cattle.io/v1`), as a table of
//! its fields written down here: each field of `spec` the CRD declares, with its JSON type
//! and, where the CRD restricts it, the values it allows. [`validate_helmchart`] turns the
//! table into a JSON schema and judges a manifest by it. `spec` is closed: the API server
//! prunes a field a structural schema does not name, so a misspelt field would be dropped
//! silently on the node rather than refused.

/// `spec`'s fields: name, JSON type (`None`: any value), allowed values (empty: any).
const SPEC: &[(&str, Option<&str>, &[&str])] = &[
    ("authPassCredentials", Some("boolean"), &[]),
    ("authSecret", Some("object"), &[]),
    ("backOffLimit", Some("integer"), &[]),
    ("bootstrap", Some("boolean"), &[]),
    ("chart", Some("string"), &[]),
    ("chartContent", Some("string"), &[]),
    ("createNamespace", Some("boolean"), &[]),
    ("dockerRegistrySecret", Some("object"), &[]),
    ("driver", Some("string"), &["secret", "configmap"]),
    (
        "failurePolicy",
        Some("string"),
        &["abort", "reinstall", "retry"],
    ),
    ("forceConflicts", Some("boolean"), &[]),
    ("helmVersion", Some("string"), &[]),
    ("insecureSkipTLSVerify", Some("boolean"), &[]),
    ("jobImage", Some("string"), &[]),
    ("plainHTTP", Some("boolean"), &[]),
    ("podSecurityContext", Some("object"), &[]),
    ("repo", Some("string"), &[]),
    ("repoCA", Some("string"), &[]),
    ("repoCAConfigMap", Some("object"), &[]),
    ("securityContext", Some("object"), &[]),
    ("serverSide", Some("string"), &["true", "false", "auto"]),
    ("set", Some("object"), &[]),
    ("takeOwnership", Some("boolean"), &[]),
    ("targetNamespace", Some("string"), &[]),
    ("timeout", Some("string"), &[]),
    ("values", None, &[]),
    ("valuesContent", Some("string"), &[]),
    ("valuesSecrets", Some("array"), &[]),
    ("version", Some("string"), &[]),
];

/// The schema [`SPEC`] describes, for a whole HelmChart document.
fn schema() -> serde_json::Value {
    let spec: serde_json::Map<String, serde_json::Value> = SPEC
        .iter()
        .map(|(name, kind, allowed)| {
            let mut field = serde_json::Map::new();
            if let Some(kind) = kind {
                field.insert("type".into(), (*kind).into());
            }
            if !allowed.is_empty() {
                field.insert("enum".into(), allowed.to_vec().into());
            }
            ((*name).to_owned(), field.into())
        })
        .collect();
    serde_json::json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {"type": "object", "properties": spec, "additionalProperties": false},
            "status": {"type": "object"},
        },
    })
}

/// Judges `doc` by the HelmChart fields of [`SPEC`].
pub fn validate_helmchart(doc: &serde_json::Value) -> Result<(), String> {
    let mut compiler = boon::Compiler::new();
    let url = "https://seedforge.invalid/helmchart-v1.json";
    compiler.add_resource(url, schema()).unwrap();
    let mut schemas = boon::Schemas::new();
    let root = compiler.compile(url, &mut schemas).unwrap();
    schemas.validate(doc, root).map_err(|e| format!("{e:#}"))
}
