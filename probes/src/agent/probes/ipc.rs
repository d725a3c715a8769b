//! `ipc`: can this container see SysV shared memory and POSIX message queues that the host
//! made, and where do the ones it makes itself end up?
//!
//! Argument `key=<k>,name=<n>,own_key=<k2>,own_name=<n2>`. Looks up the host's segment `k` and
//! queue `n`, then creates segment `k2` and queue `n2` and leaves them for the harness to look
//! for in its own namespace. Result:
//! `{"shm": {"found": true, "id": 3} | errno, "mq": {"found": true} | errno,
//!   "own_shm": {"created": true, "id": 4} | errno, "own_mq": {"created": true} | errno}`.

use super::{errno_json, kv};
use nix::errno::Errno;
use serde_json::{json, Value};
use std::ffi::CString;

pub fn run(arg: &str) -> Value {
    let args = kv(arg);
    let field = |k: &str| args.get(k).copied().unwrap_or("");
    json!({
        "shm": with_key(field("key"), |key| shm(key, 0, 0, "found")),
        "mq": with_name(field("name"), |name| mq(name, libc::O_RDONLY, "found")),
        "own_shm": with_key(field("own_key"), |key| {
            shm(key, 4096, libc::IPC_CREAT | libc::IPC_EXCL | 0o600, "created")
        }),
        "own_mq": with_name(field("own_name"), |name| {
            mq(name, libc::O_RDONLY | libc::O_CREAT | libc::O_EXCL, "created")
        }),
    })
}

fn with_key(text: &str, f: impl FnOnce(libc::key_t) -> Value) -> Value {
    match text.parse::<libc::key_t>() {
        Ok(k) if k != libc::IPC_PRIVATE => f(k),
        _ => json!({"error": format!("bad SysV key `{text}`")}),
    }
}

fn with_name(text: &str, f: impl FnOnce(&CString) -> Value) -> Value {
    match CString::new(text) {
        // mq_open wants exactly one slash, the leading one.
        Ok(c) if text.starts_with('/') && !text[1..].contains('/') && text.len() > 1 => f(&c),
        _ => json!({"error": format!("bad message queue name `{text}`")}),
    }
}

fn shm(key: libc::key_t, size: usize, flags: libc::c_int, what: &str) -> Value {
    // SAFETY: plain system call, no pointers.
    let id = unsafe { libc::shmget(key, size, flags) };
    if id < 0 {
        errno_json(Errno::last())
    } else {
        json!({ what: true, "id": id })
    }
}

fn mq(name: &CString, flags: libc::c_int, what: &str) -> Value {
    let mode: libc::mode_t = 0o600;
    // SAFETY: a valid C string; a null attribute pointer asks for the defaults.
    let q = unsafe {
        libc::mq_open(
            name.as_ptr(),
            flags,
            mode,
            std::ptr::null_mut::<libc::mq_attr>(),
        )
    };
    if q < 0 {
        return errno_json(Errno::last());
    }
    // SAFETY: a descriptor mq_open just returned; the queue outlives it.
    unsafe { libc::mq_close(q) };
    json!({ what: true })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_arguments_are_reported_not_attempted() {
        let v = run("key=x,name=noslash,own_key=0,own_name=/a/b");
        for k in ["shm", "mq", "own_shm", "own_mq"] {
            assert!(
                v[k]["error"].as_str().unwrap().starts_with("bad"),
                "{k}: {v}"
            );
        }
    }

    #[test]
    fn a_missing_segment_and_queue_are_enoent() {
        let v = run("key=1364000129,name=/isoprobe-test-surely-absent");
        assert_eq!(v["shm"]["errno"], "ENOENT", "{v}");
        assert_eq!(v["mq"]["errno"], "ENOENT", "{v}");
    }
}
