//! `ipc`: can this container see SysV shared memory and POSIX message queues that the host
//! made, and where do the ones it makes itself end up? Looks up the host's segment and queue,
//! then creates its own and leaves them for the harness to look for in its own namespace.

use super::BadArgument;
use crate::contract::{Called, Done, IpcArgs, IpcOutcome, Segment};
use nix::errno::Errno;
use std::ffi::CString;

pub fn run(args: &IpcArgs) -> Result<IpcOutcome, BadArgument> {
    let (key, own_key) = (valid_key(args.key)?, valid_key(args.own_key)?);
    let (name, own_name) = (valid_name(&args.name)?, valid_name(&args.own_name)?);
    Ok(IpcOutcome {
        shm: shm(key, 0, 0),
        mq: mq(&name, libc::O_RDONLY),
        own_shm: shm(own_key, 4096, libc::IPC_CREAT | libc::IPC_EXCL | 0o600),
        own_mq: mq(&own_name, libc::O_RDONLY | libc::O_CREAT | libc::O_EXCL),
    })
}

fn valid_key(key: i32) -> Result<libc::key_t, BadArgument> {
    if key == libc::IPC_PRIVATE {
        return Err(BadArgument(format!("bad SysV key `{key}`")));
    }
    Ok(key)
}

fn valid_name(text: &str) -> Result<CString, BadArgument> {
    match CString::new(text) {
        // mq_open wants exactly one slash, the leading one.
        Ok(c) if text.starts_with('/') && !text[1..].contains('/') && text.len() > 1 => Ok(c),
        _ => Err(BadArgument(format!("bad message queue name `{text}`"))),
    }
}

fn shm(key: libc::key_t, size: usize, flags: libc::c_int) -> Called<Segment> {
    // SAFETY: plain system call, no pointers.
    Called::from_errno(
        Errno::result(unsafe { libc::shmget(key, size, flags) }).map(|id| Segment { id }),
    )
}

fn mq(name: &CString, flags: libc::c_int) -> Called<Done> {
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
    Called::from_errno(Errno::result(q).map(|q| {
        // SAFETY: a descriptor mq_open just returned; the queue outlives it.
        unsafe { libc::mq_close(q) };
        Done::Ok
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(key: i32, name: &str) -> IpcArgs {
        IpcArgs {
            key,
            name: name.into(),
            own_key: 1364000130,
            own_name: "/isoprobe-test-own".into(),
        }
    }

    #[test]
    fn bad_arguments_are_refused_not_attempted() {
        for a in [
            args(0, "/q"),
            args(5, "noslash"),
            args(5, "/a/b"),
            args(5, "/"),
        ] {
            let e = run(&a).unwrap_err();
            assert!(e.0.starts_with("bad"), "{a:?}: {e}");
        }
    }

    #[test]
    fn a_missing_segment_and_queue_are_enoent() {
        let a = IpcArgs {
            own_key: 1,
            own_name: "/x".into(),
            ..args(1364000129, "/isoprobe-test-surely-absent")
        };
        // Only the lookups: the own objects are not created by this test.
        let key = valid_key(a.key).unwrap();
        let name = valid_name(&a.name).unwrap();
        assert_eq!(shm(key, 0, 0).errno(), Some("ENOENT"));
        assert_eq!(mq(&name, libc::O_RDONLY).errno(), Some("ENOENT"));
    }
}
