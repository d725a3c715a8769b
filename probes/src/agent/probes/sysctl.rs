//! `sysctl`: reads a file under /proc/sys, writes a new value, reads it back.
//!
//! Argument `path=/proc/sys/...,value=<v>`. Result:
//! `{"path": .., "before": "64" | errno, "write": {"ok": true} | errno, "after": "99" | errno}`.

use super::{errno_json, kv};
use nix::errno::Errno;
use serde_json::{json, Value};
use std::io::Write;

pub fn run(arg: &str) -> Value {
    let args = kv(arg);
    let (Some(path), Some(value)) = (args.get("path"), args.get("value")) else {
        return json!({"error": format!("need path=..,value=.., got `{arg}`")});
    };
    // Anything else would make this a general file writer inside the container.
    if !path.starts_with("/proc/sys/") || path.contains("..") {
        return json!({"error": format!("`{path}` is not under /proc/sys/")});
    }
    json!({
        "path": path,
        "before": read(path),
        "write": write(path, value),
        "after": read(path),
    })
}

fn io_errno(e: &std::io::Error) -> Value {
    errno_json(e.raw_os_error().map_or(Errno::EIO, Errno::from_raw))
}

fn read(path: &str) -> Value {
    match std::fs::read_to_string(path) {
        Ok(t) => json!(t.trim()),
        Err(e) => io_errno(&e),
    }
}

fn write(path: &str, value: &str) -> Value {
    // One write(2) of the whole value: procfs parses each write on its own.
    let written = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(format!("{value}\n").as_bytes()));
    match written {
        Ok(()) => json!({"ok": true}),
        Err(e) => io_errno(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_paths_outside_proc_sys_and_missing_arguments() {
        assert!(run("path=/etc/passwd,value=x")["error"].as_str().is_some());
        assert!(run("path=/proc/sys/../self/mem,value=x")["error"]
            .as_str()
            .is_some());
        assert!(run("value=1")["error"].as_str().is_some());
    }

    #[test]
    fn a_missing_file_is_enoent_on_every_step() {
        let v = run("path=/proc/sys/isoprobe/none,value=1");
        for k in ["before", "write", "after"] {
            assert_eq!(v[k]["errno"], "ENOENT", "{k}: {v}");
        }
    }
}
