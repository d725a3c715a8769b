//! `userns` (arg `dir=DIR,secret=NAME`): who the container's root is, as far as it can tell and
//! as far as the files it touches can. `DIR` is a host directory bound in; `NAME` in it is a
//! file only the host's root may read. The probe reports its ids and maps, creates
//! `DIR/created-by-container` (the host looks at its owner), and tries to read the secret.
//!
//! Output: `{"uid", "euid", "gid", "uid_map", "gid_map", "setgroups": text | {error},
//! "create": "ok" | {errno}, "secret": {"ok": text} | {errno}}`.

use super::kv;
use super::oldroot::io_json;
use serde_json::{json, Value};
use std::io::Read;
use std::path::Path;

/// The name of the file the probe creates; the host judges its owner.
pub const CREATED: &str = "created-by-container";
const MAX_READ: u64 = 256;

pub fn run(arg: &str) -> Value {
    let args = kv(arg);
    let (Some(dir), Some(secret)) = (args.get("dir"), args.get("secret")) else {
        return json!({"error": format!("userns needs dir=DIR,secret=NAME, got `{arg}`")});
    };
    let dir = Path::new(dir);
    json!({
        "uid": nix::unistd::getuid().as_raw(),
        "euid": nix::unistd::geteuid().as_raw(),
        "gid": nix::unistd::getgid().as_raw(),
        "uid_map": read_text("/proc/self/uid_map"),
        "gid_map": read_text("/proc/self/gid_map"),
        "setgroups": read_text("/proc/self/setgroups"),
        "create": create(&dir.join(CREATED)),
        "secret": read_secret(&dir.join(secret)),
    })
}

fn read_text(path: &str) -> Value {
    match std::fs::read_to_string(path) {
        Ok(t) => json!(t.trim()),
        Err(e) => io_json(&e),
    }
}

fn create(path: &Path) -> Value {
    // create_new: a file left from another run must not pass for this one's.
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(_) => json!("ok"),
        Err(e) => io_json(&e),
    }
}

fn read_secret(path: &Path) -> Value {
    let mut buf = Vec::new();
    match std::fs::File::open(path).and_then(|f| f.take(MAX_READ).read_to_end(&mut buf)) {
        Ok(_) => json!({"ok": String::from_utf8_lossy(&buf)}),
        Err(e) => io_json(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_ids_creates_once_and_reads_the_secret_it_may_read() {
        let dir = std::env::temp_dir().join(format!("isoprobe-userns-test-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("s"), "hello").unwrap();
        let arg = format!("dir={},secret=s", dir.display());
        let first = run(&arg);
        let second = run(&arg);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(first["uid"], json!(nix::unistd::getuid().as_raw()));
        assert_eq!(first["create"], json!("ok"));
        assert_eq!(first["secret"]["ok"], json!("hello"));
        assert!(first["uid_map"].is_string());
        assert_eq!(second["create"]["errno"], json!("EEXIST"));
    }

    #[test]
    fn missing_arguments_are_reported() {
        assert!(run("dir=/tmp")["error"].is_string());
    }
}
