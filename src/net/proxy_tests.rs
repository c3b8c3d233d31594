//! The cases of Go's `httpproxy` tests (`proxy_test.go`: its proxy-for-URL table, its
//! use-proxy table with the same `NO_PROXY` list, the environment lookups), plus the
//! `host:port` and loopback cases seedforge got wrong while it used reqwest's rules.

use super::*;

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

/// The proxy as text without the trailing `/` the url crate adds, or `<nil>` as Go prints
/// a nil URL.
fn shown(rules: &ProxyRules, req: &str) -> String {
    rules.proxy_for(&url(req)).map_or_else(
        || "<nil>".to_string(),
        |u| u.as_str().trim_end_matches('/').to_string(),
    )
}

#[test]
fn go_proxy_for_url_table() {
    // (HTTP_PROXY, HTTPS_PROXY, NO_PROXY, CGI, request ("" = http://example.com), want)
    let table: &[(&str, &str, &str, bool, &str, &str)] = &[
        ("127.0.0.1:8080", "", "", false, "", "http://127.0.0.1:8080"),
        (
            "cache.corp.example.com:1234",
            "",
            "",
            false,
            "",
            "http://cache.corp.example.com:1234",
        ),
        (
            "cache.corp.example.com",
            "",
            "",
            false,
            "",
            "http://cache.corp.example.com",
        ),
        ("localhost", "", "", false, "", "http://localhost"),
        (
            "https://cache.corp.example.com",
            "",
            "",
            false,
            "",
            "https://cache.corp.example.com",
        ),
        (
            "http://127.0.0.1:8080",
            "",
            "",
            false,
            "",
            "http://127.0.0.1:8080",
        ),
        (
            "https://127.0.0.1:8080",
            "",
            "",
            false,
            "",
            "https://127.0.0.1:8080",
        ),
        (
            "socks5://127.0.0.1",
            "",
            "",
            false,
            "",
            "socks5://127.0.0.1",
        ),
        ("foo://host", "", "", false, "", "foo://host"),
        (
            "http.proxy.tld",
            "secure.proxy.tld",
            "",
            false,
            "http://insecure.tld/",
            "http://http.proxy.tld",
        ),
        (
            "http.proxy.tld",
            "secure.proxy.tld",
            "",
            false,
            "https://secure.tld/",
            "http://secure.proxy.tld",
        ),
        (
            "http.proxy.tld",
            "https://secure.proxy.tld",
            "",
            false,
            "https://secure.tld/",
            "https://secure.proxy.tld",
        ),
        (
            "http.proxy.tld",
            "",
            "",
            false,
            "https://secure.tld/",
            "<nil>",
        ),
        (
            "http.proxy.tld",
            "",
            "",
            false,
            "ftp://insecure.tld/",
            "<nil>",
        ),
        // Go refuses HTTP_PROXY under CGI with an error; here the request goes direct.
        ("http://10.1.2.3:8080", "", "", true, "", "<nil>"),
        (
            "",
            "https://secure.proxy.tld",
            "",
            true,
            "https://secure.tld/",
            "https://secure.proxy.tld",
        ),
        ("", "", "", false, "", "<nil>"),
        (
            "proxy",
            "",
            "example.com",
            false,
            "http://example.com/",
            "<nil>",
        ),
        (
            "proxy",
            "",
            ".example.com",
            false,
            "http://example.com/",
            "http://proxy",
        ),
        (
            "proxy",
            "",
            "ample.com",
            false,
            "http://example.com/",
            "http://proxy",
        ),
        (
            "proxy",
            "",
            "example.com",
            false,
            "http://foo.example.com/",
            "<nil>",
        ),
        (
            "proxy",
            "",
            ".foo.com",
            false,
            "http://example.com/",
            "http://proxy",
        ),
        (
            "proxy",
            "",
            ".示例.com",
            false,
            "http://www.示例.com",
            "<nil>",
        ),
        (
            "proxy",
            "",
            "xn--fsq092h.com",
            false,
            "http://www.示例.com",
            "<nil>",
        ),
        (
            "proxy",
            "",
            "示例.com",
            false,
            "http://www.xn--fsq092h.com",
            "<nil>",
        ),
    ];
    for &(http, https, no, cgi, req, want) in table {
        let rules = ProxyRules::new(http, https, no, cgi);
        let req = if req.is_empty() {
            "http://example.com"
        } else {
            req
        };
        assert_eq!(
            shown(&rules, req),
            want,
            "http_proxy={http:?} https_proxy={https:?} no_proxy={no:?} cgi={cgi} req={req:?}"
        );
    }
}

/// Go's `noProxy` list for its use-proxy table.
const GO_NO_PROXY: &str = "foobar.com, .barbaz.net, *.wildcard.io, 192.168.1.1, 192.168.1.2:81, 192.168.1.3:80, 10.0.0.0/30, 2001:db8::52:0:1, [2001:db8::52:0:2]:443, [2001:db8::52:0:3]:80, 2002:db8:a::45/64";

/// (host, proxied) for requests to `host:80`.
const GO_USE_PROXY: &[(&str, bool)] = &[
    ("localhost", false),
    ("127.0.0.1", false),
    ("127.0.0.2", false),
    ("[::1]", false),
    ("[::2]", true),
    ("192.168.1.1", false),
    ("192.168.1.2", true),
    ("192.168.1.3", false),
    ("192.168.1.4", true),
    ("10.0.0.2", false),
    ("[2001:db8::52:0:1]", false),
    ("[2001:db8::52:0:2]", true),
    ("[2001:db8::52:0:3]", false),
    ("[2002:db8:a::123]", false),
    ("[fe80::424b:c8be:1643:a1b6]", true),
    ("barbaz.net", true),
    ("www.barbaz.net", false),
    ("foobar.com", false),
    ("www.foobar.com", false),
    ("foofoobar.com", true),
    ("baz.com", true),
    ("localhost.net", true),
    ("local.localhost", true),
    ("barbarbaz.net", true),
    ("wildcard.io", true),
    ("nested.wildcard.io", false),
    ("awildcard.io", true),
];

#[test]
fn go_use_proxy_table() {
    let rules = ProxyRules::new("", "http://proxy.example.org", GO_NO_PROXY, false);
    for &(host, proxied) in GO_USE_PROXY {
        let req = format!("https://{host}:80/");
        assert_eq!(rules.proxy_for(&url(&req)).is_some(), proxied, "{req}");
    }
}

#[test]
fn go_star_proxies_nothing() {
    let rules = ProxyRules::new("http://p", "http://p", "*", false);
    for &(host, _) in GO_USE_PROXY {
        assert_eq!(
            rules.proxy_for(&url(&format!("http://{host}:80/"))),
            None,
            "{host}"
        );
    }
    // `*` ends the list wherever it stands.
    let rules = ProxyRules::new("http://p", "", "a.example, *", false);
    assert_eq!(shown(&rules, "http://b.example/"), "<nil>");
}

#[test]
fn go_invalid_no_proxy_entry_is_skipped() {
    let rules = ProxyRules::new("http://p", "", ":1", false);
    assert_eq!(shown(&rules, "http://example.com/"), "http://p");
}

#[test]
fn go_environment_names_and_precedence() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    };
    let upper = ProxyRules::from_lookup(env(&[
        ("HTTP_PROXY", "httpproxy"),
        ("HTTPS_PROXY", "httpsproxy"),
        ("NO_PROXY", "noproxy"),
        ("REQUEST_METHOD", ""),
    ]));
    assert_eq!(
        upper,
        ProxyRules::new("httpproxy", "httpsproxy", "noproxy", false)
    );
    let cgi = ProxyRules::from_lookup(env(&[
        ("HTTP_PROXY", "httpproxy"),
        ("HTTPS_PROXY", "httpsproxy"),
        ("NO_PROXY", "noproxy"),
        ("REQUEST_METHOD", "PUT"),
    ]));
    assert_eq!(
        cgi,
        ProxyRules::new("httpproxy", "httpsproxy", "noproxy", true)
    );
    let lower = ProxyRules::from_lookup(env(&[
        ("http_proxy", "httpproxy"),
        ("https_proxy", "httpsproxy"),
        ("no_proxy", "noproxy"),
    ]));
    assert_eq!(
        lower,
        ProxyRules {
            names: Names {
                http: "http_proxy",
                https: "https_proxy",
            },
            ..ProxyRules::new("httpproxy", "httpsproxy", "noproxy", false)
        }
    );
    // The upper-case name wins when set and not empty; ALL_PROXY is not read.
    let both = ProxyRules::from_lookup(env(&[
        ("HTTPS_PROXY", "upper:1"),
        ("https_proxy", "lower:1"),
        ("HTTP_PROXY", ""),
        ("http_proxy", "lower:2"),
        ("ALL_PROXY", "all:3"),
    ]));
    assert_eq!(
        both,
        ProxyRules {
            names: Names {
                http: "http_proxy",
                https: "HTTPS_PROXY",
            },
            ..ProxyRules::new("lower:2", "upper:1", "", false)
        }
    );
    assert_eq!(
        shown(
            &ProxyRules::from_lookup(env(&[("ALL_PROXY", "all:3")])),
            "http://x.example/"
        ),
        "<nil>"
    );
}

#[test]
fn host_port_entries_need_the_port() {
    let rules = ProxyRules::new(
        "http://p:3128",
        "http://p:3128",
        "10.1.2.3:5002, registry.test:5002, [2001:db8::1]:443, mirror.test:443",
        false,
    );
    assert_eq!(shown(&rules, "http://10.1.2.3:5002/v2/"), "<nil>");
    assert_eq!(shown(&rules, "http://10.1.2.3:5003/v2/"), "http://p:3128");
    assert_eq!(shown(&rules, "https://registry.test:5002/v2/"), "<nil>");
    assert_eq!(
        shown(&rules, "https://registry.test:5003/v2/"),
        "http://p:3128"
    );
    assert_eq!(shown(&rules, "https://sub.registry.test:5002/"), "<nil>");
    // A URL without a port has its scheme's.
    assert_eq!(shown(&rules, "https://[2001:db8::1]/"), "<nil>");
    assert_eq!(shown(&rules, "http://[2001:db8::1]/"), "http://p:3128");
    assert_eq!(shown(&rules, "https://mirror.test/"), "<nil>");
    assert_eq!(shown(&rules, "http://mirror.test/"), "http://p:3128");
}

#[test]
fn loopback_is_never_proxied() {
    let rules = ProxyRules::new("http://p:3128", "http://p:3128", "", false);
    for req in [
        "http://127.0.0.1:5002/v2/",
        "https://127.0.0.1/",
        "https://127.1.2.3:443/",
        "http://localhost:5000/",
        "https://[::1]:5000/",
        "http://[::ffff:127.0.0.1]/",
    ] {
        assert_eq!(shown(&rules, req), "<nil>", "{req}");
    }
    assert_eq!(shown(&rules, "https://10.0.0.1/"), "http://p:3128");
    assert_eq!(shown(&rules, "https://localhost.example/"), "http://p:3128");
}

#[test]
fn entries_are_trimmed_and_case_blind() {
    let rules = ProxyRules::new("http://p", "", " Example.COM ,, 10.0.0.0/8 ", false);
    assert_eq!(shown(&rules, "http://www.EXAMPLE.com/"), "<nil>");
    assert_eq!(shown(&rules, "http://10.200.0.1/"), "<nil>");
    assert_eq!(shown(&rules, "http://11.0.0.1/"), "http://p");
}

#[test]
fn unsupported_schemes_are_named_without_password() {
    let rules = ProxyRules::new("", "socks5://me:s3cret@p:1080", "skip.example", false);
    let e = rules.unsupported_for("registry.example:5000").unwrap();
    assert_eq!(e.variable, "HTTPS_PROXY");
    assert!(!e.to_string().contains("s3cret"), "{e}");
    assert_eq!(rules.unsupported_for("skip.example"), None);
    assert_eq!(rules.unsupported_for("127.0.0.1:5000"), None);
    let http = ProxyRules::new("http://p:3128", "https://p:3129", "", false);
    assert_eq!(http.unsupported_for("registry.example"), None);
    let debug = format!("{:?}", ProxyRules::new("http://u:pw@p", "", "", false));
    assert!(!debug.contains("pw"), "{debug}");
}

#[test]
fn an_unsupported_proxy_is_named_by_the_variable_that_holds_it() {
    let env = |pairs: Vec<(&'static str, &'static str)>| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    };
    let socks = "socks5h://p:1080";
    for (name, host) in [
        ("http_proxy", "http"),
        ("HTTP_PROXY", "http"),
        ("https_proxy", "https"),
        ("HTTPS_PROXY", "https"),
    ] {
        let rules = ProxyRules::from_lookup(env(vec![(name, socks)]));
        let e = rules.unsupported_for("registry.example").unwrap();
        assert_eq!(e.variable, name, "{host}");
        assert!(
            e.to_string().starts_with(&format!("{name}=socks5h://")),
            "{e}"
        );
    }
    // An empty upper-case name leaves the lower-case value in use: that one is named.
    let rules = ProxyRules::from_lookup(env(vec![("HTTPS_PROXY", ""), ("https_proxy", socks)]));
    let e = rules.unsupported_for("registry.example").unwrap();
    assert_eq!(e.variable, "https_proxy");
    // Both set: the upper-case one is used, and named.
    let rules = ProxyRules::from_lookup(env(vec![
        ("HTTPS_PROXY", socks),
        ("https_proxy", "socks5://other:1"),
    ]));
    let e = rules.unsupported_for("registry.example").unwrap();
    assert_eq!(e.variable, "HTTPS_PROXY");
    // ALL_PROXY is not read: nothing to refuse, the request goes direct.
    let rules = ProxyRules::from_lookup(env(vec![("ALL_PROXY", socks), ("all_proxy", socks)]));
    assert_eq!(rules.unsupported_for("registry.example"), None);
}

#[test]
fn go_split_host_port() {
    assert_eq!(split_host_port("a:1"), Some(("a", "1")));
    assert_eq!(split_host_port("a:"), Some(("a", "")));
    assert_eq!(split_host_port("[::1]:2"), Some(("::1", "2")));
    assert_eq!(split_host_port("a"), None);
    assert_eq!(split_host_port("::1"), None);
    assert_eq!(split_host_port("[::1]"), None);
    assert_eq!(split_host_port("[::1]x:2"), None);
    assert_eq!(split_host_port("a]:2"), None);
}

#[test]
fn fixed_settings_follow_the_one_url() {
    let rules = ProxyRules::new("http://p:3128", "http://p:3129", "skip.example", false);
    let fixed = rules.fixed_for(&url("https://registry.example/"));
    assert_eq!(fixed.https_proxy.as_deref(), Some("http://p:3129/"));
    assert_eq!(fixed.http_proxy.as_deref(), Some("http://p:3129/"));
    assert_eq!(fixed.no_proxy, None);
    for direct in ["https://skip.example/", "http://127.0.0.1:5000/"] {
        let fixed = rules.fixed_for(&url(direct));
        assert_eq!(fixed, FixedProxy::direct(), "{direct}");
    }
}
