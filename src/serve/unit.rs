//! The systemd unit that runs `seedforge serve` on the far side's registry host.

use std::fmt::Write as _;
use std::path::Path;

/// A systemd unit serving `out` with the binary `exe`; `args` are the extra arguments
/// (`--listen ADDR:PORT`, `--plain-http`), each one word.
pub fn unit(exe: &Path, out: &Path, args: &[String]) -> String {
    let mut command = format!(
        "{} serve {}",
        quote(&exe.display().to_string()),
        quote(&out.display().to_string())
    );
    for a in args {
        let _ = write!(command, " {}", quote(a));
    }
    format!(
        "# systemd unit written by seedforge: the registry the nodes pull from, served\n\
         # read-only from the build output. Install as\n\
         # /etc/systemd/system/seedforge-registry.service, then:\n\
         #   systemctl daemon-reload && systemctl enable --now seedforge-registry\n\
         [Unit]\n\
         Description=seedforge registry (read-only, from {out})\n\
         Documentation=man:seedforge-serve(1)\n\
         After=network-online.target local-fs.target\n\
         Wants=network-online.target\n\
         \n\
         [Service]\n\
         Type=exec\n\
         ExecStart={command}\n\
         Restart=on-failure\n\
         RestartSec=2\n\
         # Connections are bounded by the open-file limit, which serve raises to this.\n\
         LimitNOFILE=65536\n\
         # It reads the output and writes nothing.\n\
         NoNewPrivileges=yes\n\
         ProtectSystem=strict\n\
         ProtectHome=read-only\n\
         PrivateTmp=yes\n\
         PrivateDevices=yes\n\
         ProtectKernelTunables=yes\n\
         ProtectControlGroups=yes\n\
         RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n\
         AmbientCapabilities=CAP_NET_BIND_SERVICE\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n",
        out = out.display()
    )
}

/// A word of an `ExecStart=` line, quoted when it needs to be (systemd's rules: double
/// quotes, `\\` and `\"` escaped, `%` doubled, `$` doubled).
fn quote(word: &str) -> String {
    let escaped = word.replace('%', "%%").replace('$', "$$");
    if !escaped.is_empty()
        && escaped
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-:=[],@+".contains(&b))
    {
        return escaped;
    }
    format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_runs_serve_on_the_output_with_its_arguments() {
        let u = unit(
            Path::new("/usr/local/bin/seedforge"),
            Path::new("/srv/seed out"),
            &["--listen".into(), "0.0.0.0:5000".into()],
        );
        assert!(u.contains(
            "ExecStart=/usr/local/bin/seedforge serve \"/srv/seed out\" --listen 0.0.0.0:5000\n"
        ));
        assert!(u.contains("WantedBy=multi-user.target"));
        assert_eq!(quote("50%"), "\"50%%\"");
    }
}
