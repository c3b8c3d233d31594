//! `serve` and `gc` under the output's build lock: `serve` does not start on an output a
//! build holds (it waits, or with `--no-wait` exits 75), holds it shared while it serves
//! (`gc --no-wait` exits 75 naming the reader), and yields it to a writer that waits (new
//! requests `503` with `Retry-After` while the writer holds it, served again after); `gc`
//! takes it exclusively and waits for a build as a build does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::build_lock::{has_waiter, hold};
use crate::common;
use common::Cmd;
use common::serve::{Serve, exchange};
use std::time::{Duration, Instant};

fn get_status(serve: &Serve, path: &str) -> (u16, String) {
    let got = exchange(
        serve.addr,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        1 << 20,
    );
    (got.code, got.head)
}

/// Waits (10 s at most) until `held` has a process blocked on it.
fn until_waited_on(held: &std::fs::File, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !has_waiter(held) {
        assert!(Instant::now() < deadline, "{what} never waited on the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serve_and_gc_take_the_outputs_lock_and_serve_yields_to_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let image = common::write_oci_image(&out.join("oci"), "docker.io/acme/app:1", &[4096], 5);
    let tags = "/v2/acme/app/tags/list";
    // A build holds the output: serve --no-wait refuses at once, naming the folder.
    let held = hold(&out);
    let refused = Cmd::seedforge()
        .args([
            "serve",
            "--plain-http",
            "--listen",
            "127.0.0.1:0",
            "--no-wait",
        ])
        .arg(&out)
        .expect(75)
        .run();
    assert!(
        refused.stderr.contains(&out.display().to_string()) && refused.stderr.contains("--no-wait"),
        "{}",
        refused.stderr
    );
    // gc likewise, and without --no-wait it waits for the build.
    let gc_refused = Cmd::seedforge()
        .args(["gc", "--no-wait"])
        .arg(&out)
        .expect(75)
        .run();
    assert!(
        gc_refused.stderr.contains("--no-wait"),
        "{}",
        gc_refused.stderr
    );
    // Without --no-wait serve waits for the build, then serves.
    let starting = std::thread::spawn({
        let out = out.clone();
        move || Serve::start(&out, &["--plain-http"])
    });
    until_waited_on(&held, "serve");
    drop(held);
    let mut serve = starting.join().unwrap();
    assert_eq!(get_status(&serve, tags).0, 200);
    // A writer with --no-wait is refused while serve reads the output.
    let gc_refused = Cmd::seedforge()
        .args(["gc", "--no-wait"])
        .arg(&out)
        .expect(75)
        .run();
    assert!(
        gc_refused.stderr.contains("reading"),
        "{}",
        gc_refused.stderr
    );
    // A writer that waits gets the output: serve lets it go; new requests are 503 with
    // Retry-After while the writer holds it.
    let writer = std::thread::spawn({
        let out = out.clone();
        move || hold(&out)
    });
    let held = writer.join().unwrap();
    let (code, head) = get_status(&serve, tags);
    assert_eq!(code, 503, "{head}");
    assert!(head.to_ascii_lowercase().contains("retry-after:"), "{head}");
    drop(held);
    // Served again once the writer is done.
    let deadline = Instant::now() + Duration::from_secs(10);
    while get_status(&serve, tags).0 != 200 {
        assert!(Instant::now() < deadline, "{}", serve.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    // gc waits for serve to let go, collects, and serve goes on serving the image.
    let gc = Cmd::seedforge().arg("gc").arg(&out).run();
    assert_eq!(gc.code, Some(0), "{}", gc.stderr);
    let deadline = Instant::now() + Duration::from_secs(10);
    let layer = format!("/v2/acme/app/blobs/{}", image.layers[0].digest);
    while get_status(&serve, &layer).0 != 200 {
        assert!(Instant::now() < deadline, "{}", serve.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    serve.assert_answering(&[]);
}
