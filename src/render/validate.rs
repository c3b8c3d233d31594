//! Checks on rendered node files, made the way their consumers read them: cloud-init needs
//! the `#cloud-config` header, YAML that means what it says and a config its schema
//! accepts ([`super::schema`]); systemd runs only units
//! that are enabled; bash stops at the first syntax error; Ubuntu's installer refuses an
//! `autoinstall:` without `version: 1` or with a key it does not know. Each problem names
//! the node, the file and the line.

use super::{NodeFiles, RenderError};
use crate::vocab::InstallMode;
use serde_json::Value;
use std::io::Write as _;
use std::process::{Command, Stdio};

/// The keys Ubuntu's installer (Subiquity) knows under `autoinstall:`, from its autoinstall
/// reference. Since 24.04 any other key is a fatal validation error at install time; older
/// installers ignore it silently. Either way it is caught here.
pub const AUTOINSTALL_KEYS: &[&str] = &[
    "active-directory",
    "apt",
    "codecs",
    "debconf-selections",
    "drivers",
    "early-commands",
    "error-commands",
    "identity",
    "interactive-sections",
    "kernel",
    "kernel-crash-dumps",
    "keyboard",
    "late-commands",
    "locale",
    "network",
    "oem",
    "packages",
    "proxy",
    "refresh-installer",
    "reporting",
    "shutdown",
    "snaps",
    "source",
    "ssh",
    "storage",
    "timezone",
    "ubuntu-pro",
    "updates",
    "user-data",
    "version",
    "zdevs",
];

/// The autoinstall keys holding command lists.
const COMMAND_LISTS: &[&str] = &["early-commands", "late-commands", "error-commands"];

/// Validates the three files of a node.
pub fn node_files(files: &NodeFiles) -> Result<(), RenderError> {
    let invalid = |file: &str, line: usize, message: String| RenderError::Invalid {
        node: files.node.clone(),
        file: file.to_string(),
        line,
        message,
    };
    for (name, text, _) in files.files() {
        if let Some(i) = text.split('\n').position(|l| l.contains('\r')) {
            return Err(invalid(
                name,
                i + 1,
                "carriage return (CRLF line ending) in a rendered file".into(),
            ));
        }
    }
    if files.user_data.lines().next() != Some("#cloud-config") {
        return Err(invalid(
            "user-data",
            1,
            "the first line must be exactly `#cloud-config`, or cloud-init ignores the file".into(),
        ));
    }
    let user_data = parse(&files.user_data).map_err(|(l, m)| invalid("user-data", l, m))?;
    let meta = parse(&files.meta_data).map_err(|(l, m)| invalid("meta-data", l, m))?;
    let net = parse(&files.network_config).map_err(|(l, m)| invalid("network-config", l, m))?;
    for key in ["instance-id", "local-hostname"] {
        if meta
            .get(key)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(invalid(
                "meta-data",
                1,
                format!("`{key}` is missing or empty"),
            ));
        }
    }
    if net.get("version").and_then(Value::as_u64) != Some(2) {
        return Err(invalid(
            "network-config",
            1,
            "`version: 2` is required".into(),
        ));
    }
    let check = || -> Result<(), (usize, String)> {
        check_user_data(&files.user_data, &user_data, &[])?;
        match (files.install, user_data.get("autoinstall")) {
            (_, Some(autoinstall)) => check_autoinstall(&files.user_data, autoinstall),
            (InstallMode::Autoinstall, None) => Err((
                1,
                "an autoinstall node's user-data needs an `autoinstall:` mapping, or the installer asks its questions on the console".into(),
            )),
            (InstallMode::CloudInit, None) => Ok(()),
        }
    };
    check().map_err(|(l, m)| invalid("user-data", l, m))
}

/// Parses YAML strictly: YAML 1.1 booleans (`yes`, `on`) and unquoted numbers-that-look-
/// like-strings (`0644`) are errors, since cloud-init's YAML 1.1 parser reads them otherwise.
fn parse(text: &str) -> Result<Value, (usize, String)> {
    yaml11_surprises(text)?;
    serde_saphyr::from_str_with_options::<Value>(text, crate::input::yaml_options()).map_err(|e| {
        let line = e.location().map_or(1, |l| l.line() as usize);
        let message = e.to_string();
        let message = match message.rfind(" at line ") {
            Some(i) => message[..i].to_string(),
            None => message,
        };
        (line, format!("does not parse as YAML: {message}"))
    })
}

/// Plain scalars that YAML 1.1 (cloud-init's PyYAML) reads differently than YAML 1.2 or a
/// human: `no` is false, `0644` is 420. Block scalar contents (scripts) are skipped.
fn yaml11_surprises(text: &str) -> Result<(), (usize, String)> {
    const BOOLISH: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
        "OFF",
    ];
    let mut block_indent: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        if let Some(b) = block_indent {
            if trimmed.is_empty() || indent > b {
                continue;
            }
            block_indent = None;
        }
        if trimmed.starts_with('#') {
            continue;
        }
        let value = match trimmed.strip_prefix("- ") {
            Some(v) => v.rsplit_once(": ").map_or(v, |(_, v)| v),
            None => trimmed.split_once(": ").map_or("", |(_, v)| v),
        };
        let value = value.split(" #").next().unwrap_or_default().trim();
        if value.starts_with('|') || value.starts_with('>') {
            block_indent = Some(indent);
            continue;
        }
        let octal =
            value.len() > 1 && value.starts_with('0') && value.bytes().all(|b| b.is_ascii_digit());
        if BOOLISH.contains(&value) || octal {
            return Err((
                i + 1,
                format!(
                    "unquoted `{value}` is read by cloud-init's YAML 1.1 parser as {}; quote it (or write true/false)",
                    if octal {
                        "an octal number"
                    } else {
                        "a boolean"
                    }
                ),
            ));
        }
    }
    Ok(())
}

/// Line (1-based) of the value at `path` (`["autoinstall", "version"]`, or with list
/// indexes: `["write_files", "1", "path"]`) in block-style YAML, found by indentation; the
/// line of the deepest part found if the rest is not (1 if none). A list item's line is its
/// `- `; flow-style collections are not looked into.
fn key_line(text: &str, path: &[&str]) -> usize {
    // A list item's first key shares the line with its dash: the dash is blanked out once
    // the item is chosen, so that its keys line up.
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let is_content = |l: &str| {
        let t = l.trim_start();
        !t.is_empty() && !t.starts_with('#')
    };
    let is_item = |l: &str| {
        let t = l.trim_start();
        t == "-" || t.starts_with("- ")
    };
    let (mut start, mut end, mut found) = (0, lines.len(), 1);
    for token in path {
        let Some(child_indent) = lines[start..end]
            .iter()
            .find(|l| is_content(l))
            .map(|l| indent(l))
        else {
            break;
        };
        let at_child = |l: &String| is_content(l) && indent(l) == child_indent;
        let at = match token.parse::<usize>() {
            Ok(n) => (start..end)
                .filter(|&i| at_child(&lines[i]) && is_item(&lines[i]))
                .nth(n),
            Err(_) => (start..end).find(|&i| {
                at_child(&lines[i])
                    && lines[i]
                        .trim_start()
                        .strip_prefix(token)
                        .is_some_and(|r| r.starts_with(':'))
            }),
        };
        let Some(at) = at else {
            break;
        };
        found = at + 1;
        if is_item(&lines[at]) {
            lines[at].replace_range(child_indent..=child_indent, " ");
            start = at;
        } else {
            start = at + 1;
        }
        // The value ends at the next line as far left as the key, but a list may sit at
        // the key's own indentation.
        end = (at + 1..end)
            .find(|&i| {
                let l = &lines[i];
                is_content(l)
                    && (indent(l) < child_indent || (indent(l) == child_indent && !is_item(l)))
            })
            .unwrap_or(end);
    }
    found
}

/// Line (1-based) of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map_or(1, |i| i + 1)
}

/// Checks a cloud-config mapping: the user-data itself (`at` empty) or one nested in it
/// (`["autoinstall", "user-data"]`, the installed system's first boot).
fn check_user_data(text: &str, doc: &Value, at: &[&str]) -> Result<(), (usize, String)> {
    let Some(map) = doc.as_object() else {
        return Err((
            key_line(text, at).max(2),
            "a cloud-config must be a YAML mapping".into(),
        ));
    };
    check_schema(text, doc, at)?;
    let files: Vec<(&str, &str)> = map
        .get("write_files")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| Some((f.get("path")?.as_str()?, f.get("content")?.as_str()?)))
        .collect();
    let runcmd: Vec<String> = map
        .get("runcmd")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(command_text)
        .collect();
    let scripts: Vec<&str> = files
        .iter()
        .filter(|(_, content)| is_shell_script(content))
        .map(|(_, content)| *content)
        .collect();
    let mut units = Vec::new();
    for (path, content) in &files {
        if is_shell_script(content) {
            check_shell(text, path, content)?;
        }
        if let Some(unit) = systemd_unit(path) {
            check_unit_enabled(text, path, unit, &runcmd, &scripts)?;
            units.push((unit.to_string(), (*content).to_string()));
        }
    }
    super::units::verify(&units).map_err(|(unit, message)| {
        let path = format!("/etc/systemd/system/{unit}");
        (line_of(text, &path), format!("unit {unit}: {message}"))
    })
}

/// Checks a cloud-config against cloud-init's schema ([`super::schema`]), then refuses a
/// top-level key the schema does not know: cloud-init 22.4 ignores it silently, so a
/// misspelt key would be lost on the node.
fn check_schema(text: &str, doc: &Value, at: &[&str]) -> Result<(), (usize, String)> {
    let version = super::schema::CLOUD_INIT_VERSION;
    let internal = |e: String| (1, e);
    if let Some(problem) = super::schema::check(doc).map_err(internal)? {
        let path: Vec<&str> = at
            .iter()
            .copied()
            .chain(problem.path.iter().map(String::as_str))
            .collect();
        let place = match path.is_empty() {
            true => "the document".to_string(),
            false => format!("`{}`", path.join(".")),
        };
        return Err((
            key_line(text, &path),
            format!(
                "{place}: {} (refused by cloud-init {version}'s cloud-config schema)",
                problem.message
            ),
        ));
    }
    for key in doc.as_object().into_iter().flat_map(|m| m.keys()) {
        if !super::schema::is_known_key(key).map_err(internal)? {
            let path: Vec<&str> = at.iter().copied().chain([key.as_str()]).collect();
            return Err((
                key_line(text, &path),
                format!(
                    "unknown cloud-config key `{}` (cloud-init {version}'s schema does not know it; cloud-init would ignore it)",
                    path.join(".")
                ),
            ));
        }
    }
    Ok(())
}

/// A runcmd item as one command line (lists are joined with spaces).
fn command_text(item: &Value) -> String {
    match item {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

fn is_shell_script(content: &str) -> bool {
    let first = content.lines().next().unwrap_or_default();
    first.starts_with("#!") && (first.contains("bash") || first.ends_with("/sh"))
}

/// The unit name of a systemd unit file written under /etc/systemd/system.
fn systemd_unit(path: &str) -> Option<&str> {
    let name = path.strip_prefix("/etc/systemd/system/")?;
    let is_unit = [".service", ".timer", ".socket", ".path", ".mount"]
        .iter()
        .any(|ext| name.ends_with(ext));
    (is_unit && !name.contains('/')).then_some(name)
}

/// A unit written but not enabled never runs; one enabled twice (runcmd and a script)
/// starts the same bootstrap twice.
fn check_unit_enabled(
    text: &str,
    path: &str,
    unit: &str,
    runcmd: &[String],
    scripts: &[&str],
) -> Result<(), (usize, String)> {
    let enables = |line: &str| {
        let words: Vec<&str> = line.split_whitespace().collect();
        words.contains(&"systemctl") && words.contains(&"enable") && words.contains(&unit)
    };
    let count = runcmd.iter().filter(|c| enables(c)).count()
        + scripts
            .iter()
            .flat_map(|s| s.lines())
            .filter(|l| enables(l))
            .count();
    match count {
        1 => Ok(()),
        0 => Err((
            line_of(text, &format!("path: {path}")),
            format!(
                "unit {unit} is written but never enabled (`systemctl enable --now {unit}` in runcmd or the bootstrap script)"
            ),
        )),
        n => Err((
            line_of(text, &format!("path: {path}")),
            format!(
                "unit {unit} is enabled {n} times (runcmd and a script?): it must start exactly once"
            ),
        )),
    }
}

/// Runs `bash -n` on a script carried in write_files; reports the line in user-data.
fn check_shell(text: &str, path: &str, content: &str) -> Result<(), (usize, String)> {
    let Err((script_line, message)) = bash_n(path, content) else {
        return Ok(());
    };
    let path_line = line_of(text, &format!("path: {path}"));
    let content_line = text
        .lines()
        .enumerate()
        .skip(path_line)
        .find(|(_, l)| l.trim_start().starts_with("content:"))
        .map_or(path_line, |(i, _)| i + 1);
    Err((content_line + script_line, format!("{path}: {message}")))
}

/// `bash -n` on `script`: the 1-based line in the script and bash's message on failure.
/// `what` names the script in the warning given when bash is missing.
fn bash_n(what: &str, script: &str) -> Result<(), (usize, String)> {
    let Ok(mut child) = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    else {
        tracing::warn!("bash not found: the syntax of {what} is not checked");
        return Ok(());
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(script.as_bytes());
    }
    let Ok(output) = child.wait_with_output() else {
        return Ok(());
    };
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let script_line: usize = stderr
        .split("line ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(1);
    Err((
        script_line,
        format!(
            "bash -n: {}",
            stderr.lines().next().unwrap_or("syntax error").trim()
        ),
    ))
}

/// Checks the `autoinstall:` mapping the way Ubuntu's installer reads it: `version: 1`,
/// only known keys, an `identity` (complete) or a `user-data`, command lists of strings
/// or argument lists whose scripts parse, and a first-boot `user-data` that passes every
/// cloud-config check.
fn check_autoinstall(text: &str, autoinstall: &Value) -> Result<(), (usize, String)> {
    let top = key_line(text, &["autoinstall"]);
    let Some(map) = autoinstall.as_object() else {
        return Err((top, "`autoinstall` must be a mapping".into()));
    };
    let line = |key: &str| key_line(text, &["autoinstall", key]);
    for key in map.keys() {
        if !AUTOINSTALL_KEYS.contains(&key.as_str()) {
            return Err((
                line(key),
                format!(
                    "unknown autoinstall key `{key}` (the installer refuses it from 24.04 and ignores it before)"
                ),
            ));
        }
    }
    match map.get("version") {
        Some(v) if v.as_u64() == Some(1) => {}
        Some(v) => {
            return Err((
                line("version"),
                format!("autoinstall `version` must be 1, not {v}"),
            ));
        }
        None => return Err((top, "autoinstall needs `version: 1`".into())),
    }
    match (map.get("identity"), map.get("user-data")) {
        (None, None) => {
            return Err((
                top,
                "autoinstall needs an `identity` or a `user-data` section (else no one can log in)"
                    .into(),
            ));
        }
        (Some(identity), _) => check_identity(identity, line("identity"))?,
        (None, Some(_)) => {}
    }
    for key in COMMAND_LISTS {
        if let Some(commands) = map.get(*key) {
            check_commands(text, key, commands, line(key))?;
        }
    }
    if let Some(user_data) = map.get("user-data") {
        check_user_data(text, user_data, &["autoinstall", "user-data"])?;
    }
    Ok(())
}

/// The installer's schema requires all three of these when `identity` is given.
fn check_identity(identity: &Value, line: usize) -> Result<(), (usize, String)> {
    for key in ["hostname", "username", "password"] {
        if identity
            .get(key)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err((line, format!("autoinstall `identity` needs a `{key}`")));
        }
    }
    Ok(())
}

/// A command list: each command a string (run with `sh -c`) or a list of strings (run
/// directly). Scripts given to a shell with `-c` must pass `bash -n`.
fn check_commands(
    text: &str,
    key: &str,
    commands: &Value,
    line: usize,
) -> Result<(), (usize, String)> {
    let Some(items) = commands.as_array() else {
        return Err((
            line,
            format!("autoinstall `{key}` must be a list of commands"),
        ));
    };
    for (i, item) in items.iter().enumerate() {
        let script = match item {
            Value::String(s) => s.as_str(),
            Value::Array(args) => {
                let words: Option<Vec<&str>> = args.iter().map(Value::as_str).collect();
                let Some(words) = words.filter(|w| !w.is_empty()) else {
                    return Err((
                        line,
                        format!(
                            "autoinstall `{key}` item {}: a command list must hold only strings",
                            i + 1
                        ),
                    ));
                };
                let shell = matches!(words[0], "bash" | "sh" | "/bin/bash" | "/bin/sh");
                match words.get(1..3) {
                    Some(&[flag, script]) if shell && flag == "-c" => script,
                    _ => continue,
                }
            }
            _ => {
                return Err((
                    line,
                    format!(
                        "autoinstall `{key}` item {}: a command is a string or a list of strings",
                        i + 1
                    ),
                ));
            }
        };
        if let Err((script_line, message)) = bash_n(key, script) {
            // The script's first line, searched after the key, is where it starts.
            let first = script.lines().next().unwrap_or_default().trim();
            let start = text
                .lines()
                .enumerate()
                .skip(line)
                .find(|(_, l)| !first.is_empty() && l.trim() == first)
                .map_or(line, |(n, _)| n + 1);
            return Err((
                start + script_line - 1,
                format!("autoinstall `{key}` item {}: {message}", i + 1),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(user_data: &str) -> NodeFiles {
        NodeFiles {
            node: "n1".into(),
            install: InstallMode::CloudInit,
            user_data: user_data.into(),
            meta_data: "instance-id: \"iid-1\"\nlocal-hostname: \"n1\"\n".into(),
            network_config: "version: 2\n".into(),
            instance_id: "iid-1".into(),
        }
    }

    fn err(user_data: &str) -> String {
        node_files(&files(user_data)).unwrap_err().to_string()
    }

    const UNIT: &str = "#cloud-config\nwrite_files:\n  - path: /etc/systemd/system/x.service\n    content: |\n      [Service]\n      ExecStart=/usr/bin/x\n";

    #[test]
    fn a_unit_enabled_once_passes() {
        let ok = format!("{UNIT}runcmd:\n  - [systemctl, enable, --now, x.service]\n");
        node_files(&files(&ok)).unwrap();
    }

    #[test]
    fn a_unit_never_enabled_is_named_with_its_line() {
        let e = err(UNIT);
        assert!(
            e.contains("node n1: user-data:3: unit x.service is written but never enabled"),
            "{e}"
        );
    }

    #[test]
    fn a_unit_enabled_twice_is_refused() {
        let twice = format!(
            "{UNIT}  - path: /usr/local/sbin/b\n    content: |\n      #!/bin/bash\n      systemctl enable --now x.service\nruncmd:\n  - systemctl enable x.service\n"
        );
        assert!(err(&twice).contains("enabled 2 times"), "{}", err(&twice));
    }

    #[test]
    fn missing_header_unknown_key_and_yaml11_values_are_refused() {
        assert!(
            err("hostname: a\n")
                .contains("user-data:1: the first line must be exactly `#cloud-config`")
        );
        assert!(
            err("#cloud-config\nhostnme: a\n")
                .contains("user-data:2: unknown cloud-config key `hostnme`")
        );
        let e = err("#cloud-config\npackage_update: yes\n");
        assert!(e.contains("user-data:2: unquoted `yes`"), "{e}");
        let e = err(
            "#cloud-config\nwrite_files:\n  - path: /x\n    permissions: 0644\n    content: |\n      on: no\n",
        );
        assert!(e.contains("user-data:4: unquoted `0644`"), "{e}");
    }

    #[test]
    fn what_cloud_inits_schema_allows_passes_and_what_it_refuses_is_located() {
        node_files(&files(
            "#cloud-config\nsnap:\n  commands:\n    - [snap, install, hello]\n",
        ))
        .unwrap();
        let e = err("#cloud-config\nhostname: a\npackage_update: \"yes please\"\n");
        assert!(
            e.contains("user-data:3: `package_update`: want boolean, but got string (refused by cloud-init 22.4's cloud-config schema)"),
            "{e}"
        );
        let e = err(
            "#cloud-config\nwrite_files:\n  - path: /a\n    content: a\n  - content: b\n    permissions: '0644'\n",
        );
        assert!(
            e.contains("user-data:5: `write_files.1`: missing properties 'path'"),
            "{e}"
        );
        // A list at its key's own indentation, and a key inside an item.
        let e = err("#cloud-config\nusers:\n- default\n- name: a\n  sudo: 3\n");
        assert!(e.contains("user-data:5: `users.1.sudo`: "), "{e}");
    }

    #[test]
    fn a_carriage_return_is_refused() {
        assert!(err("#cloud-config\r\nhostname: a\r\n").contains("user-data:1: carriage return"));
    }

    fn autoinstall_err(user_data: &str) -> String {
        let mut f = files(user_data);
        f.install = InstallMode::Autoinstall;
        node_files(&f).unwrap_err().to_string()
    }

    const INSTALLER: &str = "#cloud-config\nautoinstall:\n  version: 1\n  identity:\n    hostname: n1\n    username: u\n    password: \"$6$x$y\"\n";

    #[test]
    fn an_installer_config_passes_and_its_mistakes_are_located() {
        let mut ok = files(INSTALLER);
        ok.install = InstallMode::Autoinstall;
        node_files(&ok).unwrap();
        let e = autoinstall_err("#cloud-config\nhostname: n1\n");
        assert!(
            e.contains(
                "user-data:1: an autoinstall node's user-data needs an `autoinstall:` mapping"
            ),
            "{e}"
        );
        let e = autoinstall_err(&format!(
            "{INSTALLER}  # a comment\n  shutdown: reboot\n  shutdwn: reboot\n"
        ));
        assert!(
            e.contains("user-data:10: unknown autoinstall key `shutdwn`"),
            "{e}"
        );
        let e = autoinstall_err(&INSTALLER.replace("    username: u\n", ""));
        assert!(
            e.contains("user-data:4: autoinstall `identity` needs a `username`"),
            "{e}"
        );
        // cloud-init's schema types `version` already; the installer also wants it to be 1.
        let e = autoinstall_err(&INSTALLER.replace("version: 1", "version: \"1\""));
        assert!(
            e.contains("user-data:3: `autoinstall.version`: want integer, but got string"),
            "{e}"
        );
        let e = autoinstall_err(&INSTALLER.replace("version: 1", "version: 2"));
        assert!(
            e.contains("user-data:3: autoinstall `version` must be 1"),
            "{e}"
        );
    }

    #[test]
    fn command_lists_hold_strings_and_their_scripts_parse() {
        let e = autoinstall_err(&format!(
            "{INSTALLER}  late-commands:\n    - [echo, {{a: 1}}]\n"
        ));
        assert!(e.contains("user-data:8: autoinstall `late-commands` item 1: a command list must hold only strings"), "{e}");
        let e = autoinstall_err(&format!(
            "{INSTALLER}  early-commands:\n    - echo ok\n    - if true; then echo\n"
        ));
        assert!(
            e.contains("autoinstall `early-commands` item 2: bash -n"),
            "{e}"
        );
        let e = autoinstall_err(&format!(
            "{INSTALLER}  error-commands:\n    - - sh\n      - -c\n      - |\n        echo one\n        case x in\n"
        ));
        assert!(
            e.contains("autoinstall `error-commands` item 1: bash -n"),
            "{e}"
        );
        let mut ok = files(&format!(
            "{INSTALLER}  late-commands:\n    - [curtin, in-target, --, /bin/true]\n    - - bash\n      - -c\n      - |\n        if true; then echo ok; fi\n"
        ));
        ok.install = InstallMode::Autoinstall;
        node_files(&ok).unwrap();
    }

    #[test]
    fn the_nested_first_boot_config_is_checked_too() {
        let e = autoinstall_err(&format!(
            "{INSTALLER}  user-data:\n    hostname: n1\n    runcmdd: []\n"
        ));
        assert!(
            e.contains("user-data:10: unknown cloud-config key `autoinstall.user-data.runcmdd`"),
            "{e}"
        );
        let e = autoinstall_err(&format!(
            "{INSTALLER}  user-data:\n    hostname: n1\n    write_files:\n      - path: /a\n        content: a\n      - content: b\n"
        ));
        assert!(
            e.contains(
                "user-data:13: `autoinstall.user-data.write_files.1`: missing properties 'path'"
            ),
            "{e}"
        );
        let nested_unit = format!(
            "{INSTALLER}  user-data:\n    write_files:\n      - path: /etc/systemd/system/x.service\n        content: |\n          [Unit]\n"
        );
        let e = autoinstall_err(&nested_unit);
        assert!(
            e.contains("user-data:10: unit x.service is written but never enabled"),
            "{e}"
        );
    }

    #[test]
    fn a_shell_syntax_error_points_into_user_data() {
        let bad = "#cloud-config\nwrite_files:\n  - path: /usr/local/sbin/b\n    content: |\n      #!/bin/bash\n      if true; then\n        echo x\n";
        let e = err(bad);
        assert!(e.contains("/usr/local/sbin/b: bash -n"), "{e}");
        assert!(e.starts_with("node n1: user-data:"), "{e}");
    }
}
