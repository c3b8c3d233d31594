//! Every node's `network-config` as cloud-init itself converts it for each of its renderers:
//! `cloud-init devel net-convert -k yaml` with `-O netplan` (Ubuntu), `eni` and `networkd`
//! (Debian), `sysconfig` (`-D rhel`) and `network-manager`, at Debian 12's cloud-init (22.4,
//! the system's) and at a newer one (Debian sid's, unpacked into `target/sid-cloud-init` by
//! scripts/test.sh and run by the system's Python from that tree). Every conversion must
//! exit 0 and put the node's address, default route and nameservers on the interface the
//! config names: the demo's default (a glob for netplan, `eth0` for the others), a plain
//! name (`ens18`: networkd's `Name=ens18`, sysconfig's `ifcfg-ens18`), a node's MAC
//! (matched, and the NIC named), IPv6, and the booted nodes' config (tests/boot/lab: no
//! gateway, so no renderer may write a default route). The converter's own handler is called once a
//! conversion by one Python per cloud-init (its start-up paid once).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common::{self, Cmd, Lab, require_tool};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const NODES: [(&str, &str); 3] = [
    ("lab-server1", "10"),
    ("lab-agent1", "11"),
    ("lab-agent2", "12"),
];

const DRIVER: &str = r#"
import contextlib, io, json, sys
from cloudinit.cmd.devel.net_convert import get_parser, handle_args
for line in open(sys.argv[1]):
    argv = json.loads(line)
    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            handle_args("net-convert", get_parser().parse_args(argv))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except Exception as e:
            code = 1
            print("%s: %s" % (type(e).__name__, e))
    print(json.dumps({"code": code, "output": out.getvalue()}), flush=True)
"#;

/// One cloud-init to convert with: its name in messages, and `PYTHONPATH` when it is not
/// the system's.
struct CloudInit {
    name: String,
    pythonpath: Option<PathBuf>,
}

/// The system's cloud-init (Debian 12: 22.4) and, when scripts/test.sh has unpacked it,
/// Debian sid's.
fn cloud_inits() -> Vec<CloudInit> {
    let mut found = Vec::new();
    if require_tool("cloud-init") {
        let version = Cmd::new("cloud-init").arg("--version").run();
        found.push(CloudInit {
            name: format!("{} {}", "system", (version.stdout + &version.stderr).trim()),
            pythonpath: None,
        });
    }
    let root = common::repo_root().join("target/sid-cloud-init");
    let packages = root.join("root/usr/lib/python3/dist-packages");
    if packages.join("cloudinit").is_dir() {
        let versions = fs::read_to_string(root.join("versions")).unwrap_or_default();
        found.push(CloudInit {
            name: format!("Debian sid's {}", versions.trim()),
            pythonpath: Some(packages),
        });
    } else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "no cloud-init in target/sid-cloud-init (scripts/test.sh unpacks Debian sid's there)"
        );
        eprintln!(
            "SKIP: no cloud-init in target/sid-cloud-init (scripts/test.sh unpacks it); only the system's converts"
        );
    }
    found
}

/// The renderers: (`-O`, `-D`).
const RENDERERS: [(&str, &str); 5] = [
    ("netplan", "ubuntu"),
    ("eni", "debian"),
    ("networkd", "debian"),
    ("sysconfig", "rhel"),
    ("network-manager", "rhel"),
];

/// Converts every (file, renderer) with `ci` into `out/<n>/`, in one Python; returns each
/// conversion's (exit code, output).
fn convert(
    ci: &CloudInit,
    jobs: &[(PathBuf, &str, &str, PathBuf)],
    list: &Path,
) -> Vec<(i64, String)> {
    let input: String = jobs
        .iter()
        .map(|(file, renderer, distro, dir)| {
            let argv = serde_json::json!([
                "-p", file, "-k", "yaml", "-D", distro, "-O", renderer, "-d", dir
            ]);
            format!("{argv}\n")
        })
        .collect();
    fs::create_dir_all(list.parent().unwrap()).unwrap();
    fs::write(list, input).unwrap();
    let mut cmd = Cmd::new("/usr/bin/python3").args(["-c", DRIVER]).arg(list);
    if let Some(path) = &ci.pythonpath {
        cmd = cmd.env("PYTHONPATH", path.to_str().unwrap());
    }
    let out = cmd.run();
    let verdicts: Vec<(i64, String)> = (out.stdout.lines())
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("net-convert driver: {e}: {line}"));
            (
                v["code"].as_i64().unwrap(),
                v["output"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        verdicts.len(),
        jobs.len(),
        "{}: net-convert driver: {}{}",
        ci.name,
        out.stdout,
        out.stderr
    );
    verdicts
}

/// What a node's converted files must say.
struct Want {
    name: String,
    mac: Option<String>,
    glob: Option<String>,
    ip: String,
    prefix: u8,
    /// None: the config names no gateway (a LAN of its own), and no renderer may write a
    /// default route.
    gateway: Option<String>,
    nameserver: String,
}

impl Want {
    fn v6(&self) -> bool {
        self.ip.contains(':')
    }
    fn address(&self) -> String {
        format!("{}/{}", self.ip, self.prefix)
    }
    fn default_destination(&self) -> &'static str {
        if self.v6() { "::/0" } else { "0.0.0.0/0" }
    }
}

/// `key=value` lines grouped by `[section]` ("" before the first), keys repeated kept.
fn ini(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out: Vec<(String, Vec<(String, String)>)> = vec![(String::new(), Vec::new())];
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            out.push((section.to_string(), Vec::new()));
        } else if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().trim_matches('"').to_string();
            out.last_mut().unwrap().1.push((k.trim().to_string(), v));
        }
    }
    out
}

fn get<'a>(section: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    (section.iter())
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

fn read(dir: &Path, rel: &str, what: &str) -> String {
    fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| {
        let files: Vec<String> = walk(dir);
        panic!("{what}: no {rel} ({e}); it wrote: {files:?}")
    })
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// Checks what `renderer` wrote into `dir` for `want`.
fn check(renderer: &str, dir: &Path, want: &Want, what: &str) {
    let name = &want.name;
    match renderer {
        "netplan" => {
            let text = read(dir, "etc/netplan/50-cloud-init.yaml", what);
            let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
            let eth = &doc["network"]["ethernets"][name.as_str()];
            assert!(eth.is_object(), "{what}: no ethernets.{name}:\n{text}");
            let addresses: Vec<&str> = (eth["addresses"].as_array().unwrap().iter())
                .filter_map(|a| a.as_str())
                .collect();
            assert!(
                addresses.contains(&want.address().as_str()),
                "{what}:\n{text}"
            );
            let routes: Vec<&serde_json::Value> =
                eth["routes"].as_array().into_iter().flatten().collect();
            match &want.gateway {
                Some(g) => {
                    let routed = routes.iter().any(|r| {
                        r["via"] == g.as_str()
                            && (r["to"] == want.default_destination() || r["to"] == "default")
                    });
                    assert!(
                        routed || eth["gateway6"] == g.as_str(),
                        "{what}: no default route via {g}:\n{text}"
                    );
                }
                None => assert!(
                    routes.is_empty() && eth["gateway4"].is_null() && eth["gateway6"].is_null(),
                    "{what}: a route with no gateway configured:\n{text}"
                ),
            }
            assert_eq!(
                eth["nameservers"]["addresses"][0],
                want.nameserver.as_str(),
                "{what}"
            );
            match (&want.mac, &want.glob) {
                (Some(mac), _) => {
                    assert_eq!(eth["match"]["macaddress"], mac.as_str(), "{what}:\n{text}");
                    assert_eq!(eth["set-name"], name.as_str(), "{what}:\n{text}");
                }
                (None, Some(glob)) => {
                    assert_eq!(eth["match"]["name"], glob.as_str(), "{what}:\n{text}")
                }
                (None, None) => assert!(eth["match"].is_null(), "{what}:\n{text}"),
            }
        }
        "eni" => {
            let text = read(dir, "etc/network/interfaces.d/50-cloud-init", what);
            let family = if want.v6() { "inet6" } else { "inet" };
            let head = format!("iface {name} {family} static");
            assert!(text.contains(&format!("auto {name}\n")), "{what}:\n{text}");
            let block: Vec<&str> = text
                .split(&head)
                .nth(1)
                .unwrap_or_else(|| panic!("{what}: no {head:?}:\n{text}"))
                .lines()
                .skip(1)
                .take_while(|l| l.starts_with(' '))
                .map(str::trim)
                .collect();
            assert!(
                block.contains(&format!("address {}", want.address()).as_str()),
                "{what}:\n{text}"
            );
            match &want.gateway {
                Some(g) => assert!(
                    block.contains(&format!("gateway {g}").as_str())
                        || block.iter().any(|l| l
                            .starts_with(&format!("post-up route add default gw {g} "))
                            || l.starts_with(&format!("post-up ip route add default via {g} "))
                            || l.starts_with(&format!("post-up ip -6 route add default via {g} "))),
                    "{what}: no default route via {g}:\n{text}"
                ),
                None => assert!(
                    !text.contains("gateway") && !text.contains("route add"),
                    "{what}: a route with no gateway configured:\n{text}"
                ),
            }
            assert!(
                block
                    .iter()
                    .any(|l| l.starts_with("dns-nameservers ") && l.contains(&want.nameserver)),
                "{what}:\n{text}"
            );
        }
        "networkd" => {
            let text = read(
                dir,
                &format!("etc/systemd/network/10-cloud-init-{name}.network"),
                what,
            );
            let sections = ini(&text);
            let section = |s: &str| -> Vec<&Vec<(String, String)>> {
                sections
                    .iter()
                    .filter(|(n, _)| n == s)
                    .map(|(_, kv)| kv)
                    .collect()
            };
            let m = section("Match");
            assert_eq!(get(m[0], "Name"), [name.as_str()], "{what}:\n{text}");
            if let Some(mac) = &want.mac {
                assert_eq!(get(m[0], "MACAddress"), [mac.as_str()], "{what}:\n{text}");
            }
            let addresses: Vec<&str> = section("Address")
                .iter()
                .flat_map(|s| get(s, "Address"))
                .collect();
            assert!(
                addresses.contains(&want.address().as_str()),
                "{what}:\n{text}"
            );
            let routes: Vec<(Vec<&str>, Vec<&str>)> = (section("Route").iter())
                .map(|s| (get(s, "Destination"), get(s, "Gateway")))
                .collect();
            match &want.gateway {
                Some(gw) => assert!(
                    routes.iter().any(|(d, g)| g == &[gw.as_str()]
                        && (d.is_empty() || d == &[want.default_destination()])),
                    "{what}: no default route via {gw}:\n{text}"
                ),
                None => assert!(
                    routes.is_empty()
                        && section("Network")
                            .iter()
                            .all(|s| get(s, "Gateway").is_empty()),
                    "{what}: a route with no gateway configured:\n{text}"
                ),
            }
            assert!(
                routes
                    .iter()
                    .all(|(d, _)| d.is_empty() || d == &[want.default_destination()]),
                "{what}: a route that is not the default one:\n{text}"
            );
            let dns: Vec<&str> = section("Network")
                .iter()
                .flat_map(|s| get(s, "DNS"))
                .collect();
            assert!(
                dns.iter()
                    .any(|d| d.split_whitespace().any(|x| x == want.nameserver)),
                "{what}:\n{text}"
            );
        }
        "sysconfig" => {
            let rel = format!("etc/sysconfig/network-scripts/ifcfg-{name}");
            let text = read(dir, &rel, what);
            let kv = &ini(&text)[0].1;
            assert_eq!(get(kv, "DEVICE"), [name.as_str()], "{what}:\n{text}");
            if let Some(mac) = &want.mac {
                assert_eq!(
                    get(kv, "HWADDR").first().map(|m| m.to_ascii_lowercase()),
                    Some(mac.clone()),
                    "{what}:\n{text}"
                );
            }
            if want.v6() {
                assert_eq!(
                    get(kv, "IPV6ADDR"),
                    [want.address().as_str()],
                    "{what}:\n{text}"
                );
                assert_eq!(
                    get(kv, "IPV6_DEFAULTGW"),
                    want.gateway.as_slice(),
                    "{what}:\n{text}"
                );
            } else {
                assert_eq!(get(kv, "IPADDR"), [want.ip.as_str()], "{what}:\n{text}");
                assert!(
                    get(kv, "PREFIX") == [want.prefix.to_string().as_str()]
                        || get(kv, "NETMASK") == [netmask(want.prefix).as_str()],
                    "{what}:\n{text}"
                );
                assert_eq!(
                    get(kv, "GATEWAY"),
                    want.gateway.as_slice(),
                    "{what}:\n{text}"
                );
            }
            assert_eq!(
                get(kv, "DNS1"),
                [want.nameserver.as_str()],
                "{what}:\n{text}"
            );
            for route in ["route", "route6"] {
                let file = dir.join(format!("etc/sysconfig/network-scripts/{route}-{name}"));
                if let Ok(routes) = fs::read_to_string(&file) {
                    for l in routes
                        .lines()
                        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                    {
                        assert!(
                            want.gateway.is_some()
                                && (l.starts_with("default ")
                                    || l.starts_with(want.default_destination())),
                            "{what}: {route}-{name} routes other than the default: {l}"
                        );
                    }
                }
            }
        }
        "network-manager" => {
            let text = read(
                dir,
                &format!("etc/NetworkManager/system-connections/cloud-init-{name}.nmconnection"),
                what,
            );
            let sections = ini(&text);
            let section = |s: &str| {
                sections
                    .iter()
                    .find(|(n, _)| n == s)
                    .map(|(_, kv)| kv)
                    .unwrap_or_else(|| panic!("{what}: no [{s}]:\n{text}"))
            };
            match &want.mac {
                Some(mac) => assert_eq!(
                    get(section("ethernet"), "mac-address")
                        .first()
                        .map(|m| m.to_ascii_lowercase()),
                    Some(mac.clone()),
                    "{what}:\n{text}"
                ),
                None => assert_eq!(
                    get(section("connection"), "interface-name"),
                    [name.as_str()],
                    "{what}:\n{text}"
                ),
            }
            let ip = section(if want.v6() { "ipv6" } else { "ipv4" });
            assert_eq!(get(ip, "method"), ["manual"], "{what}:\n{text}");
            assert_eq!(
                get(ip, "address1"),
                [want.address().as_str()],
                "{what}:\n{text}"
            );
            let routes: Vec<&str> = (ip.iter())
                .filter(|(k, _)| k.starts_with("route"))
                .map(|(_, v)| v.as_str())
                .collect();
            match &want.gateway {
                Some(g) => {
                    let default_route = format!("{},{g}", want.default_destination());
                    assert!(
                        get(ip, "gateway") == [g.as_str()]
                            || routes.iter().any(|r| r.starts_with(&default_route)),
                        "{what}: no default route via {g}:\n{text}"
                    );
                    assert!(
                        routes.iter().all(|r| r.starts_with(&default_route)),
                        "{what}: a route that is not the default one:\n{text}"
                    );
                }
                None => assert!(
                    routes.is_empty() && get(ip, "gateway").is_empty(),
                    "{what}: a route with no gateway configured:\n{text}"
                ),
            }
            assert!(
                get(ip, "dns")
                    .iter()
                    .any(|d| d.split(';').any(|x| x == want.nameserver)),
                "{what}:\n{text}"
            );
        }
        other => panic!("unknown renderer {other}"),
    }
}

fn netmask(prefix: u8) -> String {
    let bits = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    std::net::Ipv4Addr::from(bits).to_string()
}

/// The demo, edited by `edit`, rendered: each node's network-config, with what it must
/// say (`want` from the node's name and its last address octet or group).
fn rendered(
    edit: &dyn Fn(String) -> String,
    want: &dyn Fn(&str, &str) -> Want,
) -> (Lab, Vec<(PathBuf, Want)>) {
    let lab = Lab::new();
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    let edited = edit(text.clone());
    assert_ne!(
        edited, text,
        "the demo config changed: the edit did nothing"
    );
    fs::write(&config, edited).unwrap();
    lab.seedforge()
        .args(["render", "--config", lab.config_arg(), "--out", "nodes"])
        .run();
    let files = NODES
        .iter()
        .map(|(node, host)| {
            (
                lab.root().join("nodes").join(node).join("network-config"),
                want(node, host),
            )
        })
        .collect();
    (lab, files)
}

/// Converts `files` with every cloud-init and renderer and checks each result.
fn judge(lab: &Lab, label: &str, files: &[(PathBuf, Want)]) {
    let cis = cloud_inits();
    for (c, ci) in cis.iter().enumerate() {
        let mut jobs = Vec::new();
        let mut wants = Vec::new();
        for (i, (file, want)) in files.iter().enumerate() {
            for (renderer, distro) in RENDERERS {
                let dir = lab.root().join(format!("converted/{c}/{i}/{renderer}"));
                jobs.push((file.clone(), renderer, distro, dir));
                wants.push(want);
            }
        }
        let verdicts = convert(ci, &jobs, &lab.root().join(format!("converted/{c}.jobs")));
        let mut failures = BTreeMap::new();
        for ((job, want), (code, output)) in jobs.iter().zip(&wants).zip(&verdicts) {
            let what = format!(
                "{label}: {} -O {} -D {} of {}",
                ci.name,
                job.1,
                job.2,
                job.0.display()
            );
            if *code != 0 {
                failures.insert(what, output.lines().last().unwrap_or_default().to_string());
                continue;
            }
            check(job.1, &job.3, want, &what);
        }
        assert!(
            failures.is_empty(),
            "net-convert failed (exit != 0):\n{}",
            (failures.iter())
                .map(|(w, o)| format!("  {w}: {o}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

fn v4(name: &str, mac: Option<&str>, glob: Option<&str>, host: &str) -> Want {
    Want {
        name: name.into(),
        mac: mac.map(Into::into),
        glob: glob.map(Into::into),
        ip: format!("192.168.6.{host}"),
        prefix: 24,
        gateway: Some("192.168.6.1".into()),
        nameserver: "192.168.6.1".into(),
    }
}

/// The demo as it is: netplan matches `e*`; every other renderer configures `eth0`.
#[test]
fn the_demo_converts_with_every_renderer_of_every_cloud_init() {
    // A comment is the smallest edit: the demo itself.
    let (lab, files) = rendered(&|t| format!("{t}# as shipped\n"), &|_, host| {
        v4("eth0", None, Some("e*"), host)
    });
    judge(&lab, "the demo", &files);
}

/// `network.interface: ens18`: the entry is keyed by the name, with no match; one node
/// with a `mac` is matched by it and its NIC named ens18.
#[test]
fn a_named_interface_and_a_mac_reach_every_renderer() {
    let (lab, files) = rendered(
        &|t| {
            t.replace("network:\n", "network:\n  interface: ens18\n")
                .replace(
                    "    address: 192.168.6.11/24\n",
                    "    address: 192.168.6.11/24\n    mac: \"52:54:00:AB:00:11\"\n",
                )
        },
        &|node, host| {
            let mac = (node == "lab-agent1").then_some("52:54:00:ab:00:11");
            v4("ens18", mac, None, host)
        },
    );
    let server = fs::read_to_string(&files[0].0).unwrap();
    assert!(
        server.contains("  \"ens18\":\n    dhcp4: false\n"),
        "{server}"
    );
    judge(&lab, "network.interface: ens18", &files);
}

/// IPv6 nodes: the default route reaches every renderer as a default route (cloud-init
/// 22.4 turns a route to `::/0` into one to `::/64` for every renderer but netplan).
#[test]
fn an_ipv6_node_gets_its_default_route_from_every_renderer() {
    let (lab, files) = rendered(
        &|t| {
            let mut t = t.replace("  gateway: 192.168.6.1\n", "  gateway: fd00:6::1\n");
            t = t.replace("    - 192.168.6.1\n", "    - fd00:6::1\n");
            for host in ["10", "11", "12"] {
                t = t.replace(
                    &format!("address: 192.168.6.{host}/24"),
                    &format!("address: fd00:6::{host}/64"),
                );
            }
            t
        },
        &|_, host| Want {
            name: "eth0".into(),
            mac: None,
            glob: Some("e*".into()),
            ip: format!("fd00:6::{host}"),
            prefix: 64,
            gateway: Some("fd00:6::1".into()),
            nameserver: "fd00:6::1".into(),
        },
    );
    judge(&lab, "IPv6", &files);
}

/// A bad interface or MAC is refused at its line, before anything is written.
#[test]
fn a_bad_interface_or_mac_is_refused_at_its_line() {
    for (edit, says) in [
        (
            ("network:\n", "network:\n  interface: \"eth0; reboot\"\n"),
            "network.interface \"eth0; reboot\" holds ';'",
        ),
        (
            (
                "network:\n",
                "network:\n  interface: averyveryverylongname\n",
            ),
            "at most 15",
        ),
        (
            (
                "    address: 192.168.6.11/24\n",
                "    address: 192.168.6.11/24\n    mac: 52:54:00:ab:00\n",
            ),
            "is not a MAC address",
        ),
    ] {
        let lab = Lab::new();
        let config = lab.lab_dir().join("seedforge.yaml");
        let text = fs::read_to_string(&config).unwrap();
        fs::write(&config, text.replace(edit.0, edit.1)).unwrap();
        let out = lab
            .seedforge()
            .args(["render", "--config", lab.config_arg(), "--out", "nodes"])
            .any_status()
            .run();
        assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
        assert!(out.stderr.contains(says), "{}", out.stderr);
        assert!(out.stderr.contains("seedforge.yaml:"), "{}", out.stderr);
        assert!(!lab.root().join("nodes").exists());
    }
    // Two nodes with one MAC.
    let lab = Lab::new();
    let config = lab.lab_dir().join("seedforge.yaml");
    let mut text = fs::read_to_string(&config).unwrap();
    for host in ["11", "12"] {
        text = text.replace(
            &format!("    address: 192.168.6.{host}/24\n"),
            &format!("    address: 192.168.6.{host}/24\n    mac: 52:54:00:ab:00:11\n"),
        );
    }
    fs::write(&config, text).unwrap();
    let out = lab
        .seedforge()
        .args(["render", "--config", lab.config_arg(), "--out", "nodes"])
        .any_status()
        .run();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("the same mac"), "{}", out.stderr);
}

/// The booted nodes' config (tests/boot/lab: no gateway, a LAN of its own, nameservers
/// only), as the life boots render it and with `interface: ens3` as the netplan-less
/// node's boot renders it: every renderer puts the address and nameserver on the
/// interface and writes no default route.
#[test]
fn the_booted_labs_config_converts_with_every_renderer_and_routes_nowhere() {
    let boot_lab = common::repo_root().join("tests/boot/lab");
    for interface in [None, Some("ens3")] {
        let lab = Lab::new();
        let dir = lab.root().join("boot");
        fs::create_dir_all(&dir).unwrap();
        fs::copy(boot_lab.join("token"), dir.join("token")).unwrap();
        let text = fs::read_to_string(boot_lab.join("seedforge.yaml")).unwrap();
        assert!(text.contains("network:\n") && !text.contains("gateway"));
        let text = match interface {
            Some(name) => text.replace("network:\n", &format!("network:\n  interface: {name}\n")),
            None => text,
        };
        fs::write(dir.join("seedforge.yaml"), text).unwrap();
        fs::write(dir.join("images.txt"), "docker.io/library/busybox:1.36\n").unwrap();
        lab.seedforge()
            .args([
                "render",
                "--config",
                "boot/seedforge.yaml",
                "--out",
                "nodes",
            ])
            .run();
        let files: Vec<(PathBuf, Want)> = [("boot-server", "10"), ("boot-agent", "11")]
            .iter()
            .map(|(node, host)| {
                let want = Want {
                    name: interface.unwrap_or("eth0").into(),
                    mac: None,
                    glob: interface.is_none().then(|| "e*".into()),
                    ip: format!("192.0.2.{host}"),
                    prefix: 24,
                    gateway: None,
                    nameserver: "192.0.2.1".into(),
                };
                (
                    lab.root().join("nodes").join(node).join("network-config"),
                    want,
                )
            })
            .collect();
        judge(&lab, &format!("the booted lab ({interface:?})"), &files);
    }
}
