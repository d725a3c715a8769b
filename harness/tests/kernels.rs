//! `isoprobe kernels` against Debian's real archive, in a fresh cache directory: the list is
//! resolved cold, then read from the cache; a kernel is downloaded once and then found cached.
//! Skips (with the reason) when the archive or apt is not reachable from here.

mod common;

use assert_cmd::Command;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Why the archive cannot be used from here, if it cannot.
fn archive_unreachable() -> Option<String> {
    if which("apt-get").is_none() || which("dpkg-deb").is_none() {
        return Some("apt-get and dpkg-deb are needed (a Debian-family host)".into());
    }
    let mirror = std::env::var("ISOPROBE_DEBIAN_MIRROR")
        .ok()
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| isoprobe::kmatrix::apt::DEFAULT_MIRROR.to_string());
    let rest = mirror.split_once("://").map_or(mirror.as_str(), |(_, r)| r);
    let host = rest.split('/').next().unwrap_or(rest);
    let hostport = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    let addrs = match hostport.to_socket_addrs() {
        Ok(a) => a.collect::<Vec<_>>(),
        Err(e) => return Some(format!("cannot resolve {hostport}: {e}")),
    };
    let reachable = addrs
        .iter()
        .any(|a| TcpStream::connect_timeout(a, Duration::from_secs(5)).is_ok());
    (!reachable).then(|| format!("the Debian archive {mirror} is not reachable"))
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    })
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

fn kernels(cache: &std::path::Path, args: &[&str]) -> Out {
    let t = Instant::now();
    let o = Command::cargo_bin("isoprobe")
        .unwrap()
        .env("XDG_CACHE_HOME", cache)
        .arg("kernels")
        .args(args)
        .timeout(Duration::from_secs(600))
        .output()
        .unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        took: t.elapsed(),
    }
}

#[test]
fn kernels_resolve_from_the_archive_then_from_the_cache_and_fetch_once() {
    const TEST: &str = "kernels_resolve_from_the_archive_then_from_the_cache_and_fetch_once";
    if let Some(reason) = archive_unreachable() {
        common::skip(TEST, &reason);
        return;
    }
    let cache = tempfile::tempdir().unwrap();

    let cold = kernels(cache.path(), &["--format", "json"]);
    assert_eq!(cold.code, 0, "stderr:\n{}", cold.stderr);
    assert!(cold.stderr.contains("apt-get update"), "{}", cold.stderr);
    let list: Vec<serde_json::Value> = serde_json::from_str(&cold.stdout).unwrap();
    for name in ["5.10", "6.1", "6.12", "sid"] {
        let k = list
            .iter()
            .find(|k| k["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing from {}", cold.stdout));
        for field in ["suite", "package", "version", "release"] {
            assert!(
                k[field].as_str().is_some_and(|v| !v.is_empty()),
                "{name} has no {field}: {k}"
            );
        }
        if name != "sid" {
            assert!(k["release"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{name}.")));
        }
        assert!(k["vmlinuz"].is_null());
    }
    common::say(&format!(
        "kernels resolved cold in {:.1} s",
        cold.took.as_secs_f64()
    ));

    let warm = kernels(cache.path(), &["--format", "json"]);
    assert_eq!(warm.code, 0, "{}", warm.stderr);
    assert!(!warm.stderr.contains("apt-get"), "{}", warm.stderr);
    assert_eq!(warm.stdout, cold.stdout);

    let bad = kernels(cache.path(), &["--fetch", "6.1,4.4"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("unknown kernel 4.4") && bad.stderr.contains("5.10, 6.1, 6.12, sid"),
        "{}",
        bad.stderr
    );

    // sid's split linux-binary package is the smallest download.
    let first = kernels(cache.path(), &["--fetch", "sid", "--format", "json"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first.stderr.contains("sid: downloading"),
        "{}",
        first.stderr
    );
    let again = kernels(cache.path(), &["--fetch", "sid", "--format", "json"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(!again.stderr.contains("downloading"), "{}", again.stderr);
    assert!(again.stderr.contains("sid: cached"), "{}", again.stderr);
    common::say(&format!(
        "sid fetched cold in {:.1} s, warm in {:.2} s",
        first.took.as_secs_f64(),
        again.took.as_secs_f64()
    ));

    let list: Vec<serde_json::Value> = serde_json::from_str(&again.stdout).unwrap();
    let sid = list.iter().find(|k| k["name"] == "sid").unwrap();
    let vmlinuz = std::path::PathBuf::from(sid["vmlinuz"].as_str().expect("sid fetched"));
    assert!(vmlinuz.starts_with(cache.path()));
    let bytes = std::fs::read(&vmlinuz).unwrap();
    // The x86 boot protocol's header signature: this is a bzImage QEMU can boot.
    assert_eq!(
        &bytes[0x202..0x206],
        b"HdrS",
        "{} is no bzImage",
        vmlinuz.display()
    );
    // Only the vmlinuz is extracted: no leftover of the unpacked package.
    let tmp = cache.path().join("isoprobe/tmp");
    assert!(std::fs::read_dir(&tmp).map_or(true, |mut d| d.next().is_none()));
}
