//! `nnp` with arg `helper=PATH`: the agent's own ids and `NoNewPrivs` flag, then the euid a
//! (setuid-root) helper ends up with when the agent execs it. The helper is the agent itself,
//! run with `--probe ids`; its Observation comes back on a pipe.
//!
//! Result: `{"uid": n, "euid": n, "no_new_privs": bool | null | {"error"}, "helper": PATH,
//! "helper_exit": {"code": n} | {"signal": name} | errno, "helper_ids": {..} | null,
//! "helper_euid": n | null}`, plus `"helper_error"` when its output was not usable.

use super::{errno_json, kv};
use crate::parse::parse_no_new_privs;
use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, geteuid, getuid, ForkResult};
use serde_json::{json, Map, Value};
use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};

/// More than any Observation the helper prints.
const MAX_OUTPUT: u64 = 1 << 20;

pub fn run(arg: &str) -> Value {
    let mut out = Map::new();
    out.insert("uid".into(), json!(getuid().as_raw()));
    out.insert("euid".into(), json!(geteuid().as_raw()));
    out.insert("no_new_privs".into(), no_new_privs());
    let Some(helper) = kv(arg).get("helper").copied().filter(|h| !h.is_empty()) else {
        out.insert("helper_error".into(), json!("no helper=PATH argument"));
        return Value::Object(out);
    };
    out.insert("helper".into(), json!(helper));
    match run_helper(helper) {
        Ok((exit, stdout)) => {
            out.insert("helper_exit".into(), exit);
            match helper_ids(&stdout) {
                Ok(ids) => {
                    out.insert("helper_euid".into(), ids["euid"].clone());
                    out.insert("helper_ids".into(), ids);
                }
                Err(e) => {
                    out.insert("helper_error".into(), json!(e));
                }
            }
        }
        Err(e) => {
            out.insert("helper_exit".into(), errno_json(e));
        }
    }
    Value::Object(out)
}

fn no_new_privs() -> Value {
    match std::fs::read_to_string("/proc/self/status")
        .map_err(|e| e.to_string())
        .and_then(|t| parse_no_new_privs(&t).map_err(|e| e.to_string()))
    {
        Ok(v) => json!(v),
        Err(e) => json!({"error": e}),
    }
}

/// The `ids` probe's object out of the helper's Observation.
fn helper_ids(stdout: &[u8]) -> Result<Value, String> {
    let obs: Value = serde_json::from_slice(stdout).map_err(|e| {
        format!(
            "helper output is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&stdout[..stdout.len().min(200)])
        )
    })?;
    match &obs["probes"]["ids"] {
        Value::Object(m) if m.contains_key("euid") => Ok(Value::Object(m.clone())),
        other => Err(format!("helper reported no ids: {other}")),
    }
}

/// Fork-execs `helper --probe ids` with stdout on a pipe; returns how it ended and what it
/// printed.
fn run_helper(helper: &str) -> Result<(Value, Vec<u8>), Errno> {
    let path = CString::new(helper).map_err(|_| Errno::EINVAL)?;
    let argv = [path.clone(), c"--probe".into(), c"ids".into()];
    let argv_ptrs: Vec<*const libc::c_char> = argv
        .iter()
        .map(|a| a.as_ptr())
        .chain([std::ptr::null()])
        .collect();
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // SAFETY: the agent is single-threaded; the child only makes system calls on memory
    // prepared above, then execs or exits.
    match unsafe { fork() }? {
        ForkResult::Child => unsafe {
            if libc::dup2(w.as_raw_fd(), 1) == 1 {
                libc::execve(path.as_ptr(), argv_ptrs.as_ptr(), envp.as_ptr());
            }
            libc::_exit(127)
        },
        ForkResult::Parent { child } => {
            drop(w);
            let stdout = read_all(r);
            let exit = match waitpid(child, None)? {
                WaitStatus::Exited(_, code) => json!({"code": code}),
                WaitStatus::Signaled(_, sig, _) => json!({"signal": sig.as_str()}),
                other => json!({"other": format!("{other:?}")}),
            };
            Ok((exit, stdout))
        }
    }
}

fn read_all(fd: OwnedFd) -> Vec<u8> {
    let mut buf = Vec::new();
    // A read error leaves what was read; the JSON parse then says what is wrong.
    let _ = std::fs::File::from(fd)
        .take(MAX_OUTPUT)
        .read_to_end(&mut buf);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_own_ids_and_a_missing_helper_argument() {
        let v = run("");
        assert_eq!(v["euid"], geteuid().as_raw(), "{v}");
        assert!(v["no_new_privs"].is_boolean(), "{v}");
        assert!(v["helper_error"].as_str().is_some(), "{v}");
    }

    #[test]
    fn a_helper_that_cannot_run_is_reported_not_fatal() {
        let v = run("helper=/nonexistent/isoprobe-helper");
        assert_eq!(v["helper_exit"], json!({"code": 127}), "{v}");
        assert!(v["helper_euid"].is_null(), "{v}");
        assert!(v["helper_error"].as_str().is_some(), "{v}");
    }

    #[test]
    fn helper_ids_are_taken_from_an_observation() {
        let obs = br#"{"pid": 1, "probes": {"ids": {"uid": 5, "euid": 0}}}"#;
        assert_eq!(helper_ids(obs).unwrap()["euid"], 0);
        assert!(helper_ids(br#"{"probes": {}}"#).is_err());
        assert!(helper_ids(b"garbage").is_err());
    }
}
