//! Secrets in the shapes secret scanners look for, and in every way a config file
//! writes them, to test the masking with: each value is drawn from a fixed seed (the
//! sample's name and a generation), so nothing here is anyone's secret, and two
//! generations differ in every value (a diff from one to the other changes each line).
//! Read by the unit tests here and by the integration tests (`#[path]`), which put one
//! generation into a build's inputs and the next into the next build's.

/// One shape: the text as written (lines of a YAML document, members of a JSON object,
/// lines of a TOML file) and the values that must never be shown.
pub struct Sample {
    /// What shape it is.
    pub name: &'static str,
    /// Its lines.
    pub text: String,
    /// The secrets in them.
    pub values: Vec<String>,
}

/// A line that must stay visible as written: (its name, the text, what must be seen).
pub struct Kept {
    /// What it is.
    pub name: &'static str,
    /// Its line.
    pub text: String,
    /// What of it must be seen.
    pub visible: String,
}

const LOWER: &str = "abcdefghijkmnopqrstuvwxyz23456789";
const ALNUM: &str = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789";
const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const HEX: &str = "0123456789abcdef";
const UPPER32: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const DIGITS: &str = "0123456789";

/// `len` characters of `alphabet` drawn from the seed (`name`, `generation`, `part`).
pub fn noise(name: &str, generation: u32, part: u32, len: usize, alphabet: &str) -> String {
    let mut x: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name
        .bytes()
        .chain(generation.to_le_bytes())
        .chain(part.to_le_bytes())
    {
        x = (x ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let chars: Vec<char> = alphabet.chars().collect();
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chars[(x >> 11) as usize % chars.len()]
        })
        .collect()
}

/// A password as people write them: letters and digits, a word's length, no shape.
fn word(name: &str, generation: u32, part: u32) -> String {
    format!("pw{}", noise(name, generation, part, 12, LOWER))
}

fn b64(bytes: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn sample(name: &'static str, text: String, values: Vec<String>) -> Sample {
    Sample { name, text, values }
}

/// Values secret by their shape alone, each under a key that says nothing: (name, value).
pub fn shaped(g: u32) -> Vec<(&'static str, String)> {
    let n = |name: &str, part, len, alphabet| noise(name, g, part, len, alphabet);
    vec![
        (
            "cloud access key id",
            format!("AKIA{}", n("aws-id", 0, 16, UPPER32)),
        ),
        ("cloud secret access key", n("aws-secret", 0, 40, B64)),
        (
            "git host classic token",
            format!("ghp_{}", n("gh", 0, 36, ALNUM)),
        ),
        (
            "git host fine-grained token",
            format!(
                "github_pat_{}_{}",
                n("ghf", 0, 22, ALNUM),
                n("ghf", 1, 59, ALNUM)
            ),
        ),
        (
            "git host project token",
            format!("glpat-{}", n("gl", 0, 20, URL64)),
        ),
        (
            "chat bot token",
            format!(
                "xoxb-{}-{}-{}",
                n("sl", 0, 12, DIGITS),
                n("sl", 1, 13, DIGITS),
                n("sl", 2, 24, ALNUM)
            ),
        ),
        (
            "chat webhook",
            format!(
                "https://hooks.slack.com/services/T{}/B{}/{}",
                n("hook", 0, 8, UPPER32),
                n("hook", 1, 10, UPPER32),
                n("hook", 2, 24, ALNUM)
            ),
        ),
        ("cloud API key", format!("AIza{}", n("gcp", 0, 35, URL64))),
        (
            "payment secret key",
            format!("sk_live_{}", n("stripe", 0, 32, ALNUM)),
        ),
        (
            "package registry token",
            format!("npm_{}", n("npm", 0, 36, ALNUM)),
        ),
        (
            "image registry token",
            format!("dckr_pat_{}", n("dckr", 0, 27, URL64)),
        ),
        ("model hub token", format!("hf_{}", n("hf", 0, 34, ALNUM))),
        (
            "AI service key",
            format!("sk-proj-{}", n("oai", 0, 48, URL64)),
        ),
        (
            "mail service key",
            format!("SG.{}.{}", n("sg", 0, 22, URL64), n("sg", 1, 43, URL64)),
        ),
        (
            "JWT",
            format!(
                "eyJhbGciOiJIUzI1NiJ9.eyJ{}.{}",
                n("jwt", 0, 40, URL64),
                n("jwt", 1, 43, URL64)
            ),
        ),
        (
            "k3s join token",
            format!(
                "K10{}::server:{}",
                n("k3s", 0, 64, HEX),
                n("k3s", 1, 32, HEX)
            ),
        ),
        ("long random string", n("random", 0, 48, B64)),
    ]
}

/// The YAML samples: lines at the top level of a manifest document (the last one starts
/// a Secret document of its own).
pub fn yaml(g: u32) -> Vec<Sample> {
    let w = |name, part| word(name, g, part);
    let mut out = Vec::new();
    for (name, key) in [
        ("a key naming its secret by a word of it", "joinKey"),
        ("an upper-case passwd", "DB_PASSWD"),
        ("a short pwd", "adminPwd"),
        ("a dashed secret", "client-secret"),
        ("an auth header", "X-Auth-Token"),
        ("credentials", "Credentials"),
        ("a certificate", "tlsCert"),
        ("an access key", "accessKey"),
        ("a passphrase", "passphrase"),
    ] {
        let v = w(key, 0);
        out.push(sample(name, format!("{key}: \"{v}\"\n"), vec![v]));
    }
    let v = w("flow", 0);
    out.push(sample(
        "a flow mapping",
        format!("db: {{user: app, password: {v}}}\n"),
        vec![v],
    ));
    let v = w("next", 0);
    out.push(sample(
        "a value on the next line",
        format!("password:\n  {v}\n"),
        vec![v],
    ));
    let (a, b) = (w("block", 0), w("block", 1));
    out.push(sample(
        "a block scalar",
        format!("sessionToken: |\n  {a}\n  {b}\n"),
        vec![a, b],
    ));
    let (a, b) = (w("plain", 0), w("plain", 1));
    out.push(sample(
        "a plain scalar on two lines",
        format!("apiToken: {a}\n  {b}\n"),
        vec![a, b],
    ));
    let (a, b) = (w("quoted", 0), w("quoted", 1));
    out.push(sample(
        "a quoted scalar on two lines",
        format!("signingSecret: \"{a}\n  {b}\"\n"),
        vec![a, b],
    ));
    let (a, b) = (w("comment", 0), w("comment", 1));
    out.push(sample(
        "commented-out lines",
        format!("# password: {a}\n#   registryToken: \"{b}\"\n"),
        vec![a, b],
    ));
    let v = w("trailing", 0);
    out.push(sample(
        "a comment after a value",
        format!("replicas: 3  # api_key: {v}\n"),
        vec![v],
    ));
    let (a, b, c) = (w("env", 0), w("env", 1), w("env", 2));
    out.push(sample(
        "env pairs",
        format!(
            "containers:\n  - name: app\n    env:\n      - name: DB_PASSWORD\n        value: {a}\n      - value: \"{b}\"\n        name: REDIS_AUTH\n      - {{name: SMTP_PASS, value: {c}}}\n      - name: LOG_LEVEL\n        value: debug\n"
        ),
        vec![a, b, c],
    ));
    let (a, b, c, d) = (w("flag", 0), w("flag", 1), w("flag", 2), w("flag", 3));
    out.push(sample(
        "flags and their values",
        format!(
            "args:\n  - --password\n  - {a}\n  - --token={b}\n  - \"--api-key\"\n  - \"{c}\"\ncommand: [\"server\", \"--secret\", \"{d}\"]\n"
        ),
        vec![a, b, c, d],
    ));
    let v = w("conn", 0);
    out.push(sample(
        "a connection string",
        format!("connectionString: \"Server=db;User Id=app;Password={v};Encrypt=true\"\n"),
        vec![v],
    ));
    let v = w("userinfo", 0);
    out.push(sample(
        "a URL's user information",
        format!("databaseUrl: postgres://app:{v}@db.internal:5432/app\n"),
        vec![v],
    ));
    let v = w("query", 0);
    out.push(sample(
        "a URL's token parameter",
        format!("webhook: https://api.example.invalid/hook?channel=ops&token={v}&x=1\n"),
        vec![v],
    ));
    let auth = b64(format!("robot:{}", w("dockercfg", 0)).as_bytes());
    let json = format!("{{\"auths\":{{\"registry.example.invalid\":{{\"auth\":\"{auth}\"}}}}}}");
    out.push(sample(
        "a docker config in a value",
        format!(".dockerconfigjson: '{json}'\n"),
        vec![auth.clone(), w("dockercfg", 0)],
    ));
    let (l1, l2) = (noise("pem", g, 0, 64, B64), noise("pem", g, 1, 64, B64));
    out.push(sample(
        "a PEM private key",
        format!("bundle: |\n  -----BEGIN RSA PRIVATE KEY-----\n  {l1}\n  {l2}\n  -----END RSA PRIVATE KEY-----\n"),
        vec![l1, l2],
    ));
    for (i, (name, v)) in shaped(g).into_iter().enumerate() {
        out.push(sample(name, format!("note{i:02}: {v}\n"), vec![v]));
    }
    // A Secret: every value of its data and stringData, whatever the key.
    let (user, ini, blob) = (w("secret-user", 0), w("secret-ini", 0), w("secret-blob", 0));
    let blob64 = b64(blob.as_bytes());
    let cfg64 = b64(json.as_bytes());
    out.push(sample(
        "a Secret's stringData and data",
        format!(
            "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: app-secrets\ntype: Opaque\nstringData:\n  username: {user}\n  app.ini: |\n    [db]\n    user = {ini}\ndata:\n  blob: {blob64}\n  .dockerconfigjson: {cfg64}\n"
        ),
        vec![user, ini, blob64, cfg64],
    ));
    out
}

/// The JSON samples: members of one object, each ending in `,` but the last.
pub fn json(g: u32) -> Vec<Sample> {
    let w = |name, part| word(name, g, part);
    let (a, b, c, d) = (w("j-api", 0), w("j-db", 0), w("j-env", 0), w("j-token", 0));
    let auth = b64(format!("robot:{}", w("j-auth", 0)).as_bytes());
    let key = noise("j-pem", g, 0, 64, B64);
    vec![
        sample("a JSON key", format!("  \"apiKey\": \"{a}\",\n"), vec![a]),
        sample(
            "a JSON object on one line",
            format!("  \"db\": {{\"user\": \"app\", \"password\": \"{b}\"}},\n"),
            vec![b],
        ),
        sample(
            "a docker config",
            format!(
                "  \"auths\": {{\n    \"registry.example.invalid\": {{\n      \"auth\": \"{auth}\"\n    }}\n  }},\n"
            ),
            vec![auth],
        ),
        sample(
            "a service account key",
            format!(
                "  \"private_key\": \"-----BEGIN PRIVATE KEY-----\\n{key}\\n-----END PRIVATE KEY-----\\n\",\n"
            ),
            vec![key],
        ),
        sample(
            "a JSON env pair",
            format!("  \"env\": [{{\"name\": \"DB_PASSWORD\", \"value\": \"{c}\"}}],\n"),
            vec![c],
        ),
        sample("a JSON token", format!("  \"token\": \"{d}\"\n"), vec![d]),
    ]
}

/// The TOML samples: lines of one file.
pub fn toml(g: u32) -> Vec<Sample> {
    let w = |name, part| word(name, g, part);
    let (a, b, c, d, e) = (
        w("t-pw", 0),
        w("t-url", 0),
        w("t-cert", 0),
        w("t-multi", 0),
        w("t-api", 0),
    );
    vec![
        sample(
            "a TOML key",
            format!("[database]\nuser = \"app\"\npassword = \"{a}\"\n"),
            vec![a],
        ),
        sample(
            "a TOML URL",
            format!("url = \"mysql://app:{b}@db:3306/app\"\n"),
            vec![b],
        ),
        sample(
            "a TOML inline table",
            format!("[server]\ntls = {{ cert = \"{c}\", port = 8443 }}\n"),
            vec![c],
        ),
        sample(
            "a TOML multi-line string",
            format!("secret = \"\"\"\n{d}\n\"\"\"\n"),
            vec![d],
        ),
        sample(
            "a TOML literal string",
            format!("api_key = '{e}'\n"),
            vec![e],
        ),
    ]
}

/// Lines that change from one generation to the next and must stay visible: content
/// addresses, versions, paths, names.
pub fn kept(g: u32) -> Vec<Kept> {
    let digest = noise("digest", g, 0, 64, HEX);
    let uid = format!(
        "{}-{}-4{}-8{}-{}",
        noise("uid", g, 0, 8, HEX),
        noise("uid", g, 1, 4, HEX),
        noise("uid", g, 2, 3, HEX),
        noise("uid", g, 3, 3, HEX),
        noise("uid", g, 4, 12, HEX)
    );
    let k = |name, text: String, visible: String| Kept {
        name,
        text,
        visible,
    };
    vec![
        k(
            "an image pinned by digest",
            format!("pinned: registry.example.invalid/team/app@sha256:{digest}\n"),
            format!("@sha256:{digest}"),
        ),
        k(
            "a k3s release",
            format!("k3sRelease: v1.3{g}.1+k3s1\n"),
            format!("v1.3{g}.1+k3s1"),
        ),
        k(
            "a path",
            format!("dataPath: /var/lib/rancher/k3s/storage/app-{g}/Data\n"),
            format!("/var/lib/rancher/k3s/storage/app-{g}/Data"),
        ),
        k("a UUID", format!("uid: {uid}\n"), uid),
        k(
            "a camel-case name",
            format!("serviceAccountName: MyApplicationServiceAccount{g}\n"),
            format!("MyApplicationServiceAccount{g}"),
        ),
        k(
            "a topology key",
            format!("topologyKey: topology.kubernetes.io/zone-{g}\n"),
            format!("topology.kubernetes.io/zone-{g}"),
        ),
    ]
}

/// A YAML manifest holding every YAML sample and kept line of generation `g`.
pub fn yaml_file(g: u32) -> String {
    let mut text =
        String::from("apiVersion: example.invalid/v1\nkind: AppSettings\nmetadata:\n  name: app\n");
    for k in kept(g) {
        text.push_str(&k.text);
    }
    for s in yaml(g) {
        text.push_str(&s.text);
    }
    text
}

/// A JSON file holding every JSON sample of generation `g`.
pub fn json_file(g: u32) -> String {
    let mut text = String::from("{\n  \"service\": \"app\",\n");
    for s in json(g) {
        text.push_str(&s.text);
    }
    text.push_str("}\n");
    text
}

/// A TOML file holding every TOML sample of generation `g`.
pub fn toml_file(g: u32) -> String {
    let mut text = String::from("title = \"app\"\n");
    for s in toml(g) {
        text.push_str(&s.text);
    }
    text
}

/// Every value of generation `g` that must never be shown.
pub fn all_values(g: u32) -> Vec<(&'static str, String)> {
    (yaml(g).into_iter().chain(json(g)).chain(toml(g)))
        .flat_map(|s| s.values.into_iter().map(move |v| (s.name, v)))
        .collect()
}
