//! `nnp`: the agent's own ids and `NoNewPrivs` flag, then the euid a (setuid-root) helper ends
//! up with when the agent execs it. The helper is the agent itself, asked to try `ids`; its
//! Observation comes back on a pipe.

use crate::contract::{CallError, Called, Ended, Ids, IdsArgs, NnpArgs, NnpOutcome, Try};
use crate::observation::Observation;
use crate::parse::parse_no_new_privs;
use nix::errno::Errno;
use nix::sys::wait::waitpid;
use nix::unistd::{fork, geteuid, getuid, ForkResult};
use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};

/// More than any Observation the helper prints.
const MAX_OUTPUT: u64 = 1 << 20;

pub fn run(args: &NnpArgs) -> NnpOutcome {
    let mut out = NnpOutcome {
        uid: getuid().as_raw(),
        euid: geteuid().as_raw(),
        no_new_privs: no_new_privs(),
        helper: args.helper.clone(),
        helper_exit: None,
        helper_ids: None,
        helper_euid: None,
        helper_error: None,
    };
    if args.helper.is_empty() {
        out.helper_error = Some("no helper path".into());
        return out;
    }
    match run_helper(&args.helper) {
        Ok((exit, stdout)) => {
            out.helper_exit = Some(Called::Done(exit));
            match helper_ids(&stdout) {
                Ok(ids) => {
                    out.helper_euid = Some(ids.euid);
                    out.helper_ids = Some(ids);
                }
                Err(e) => out.helper_error = Some(e.to_string()),
            }
        }
        Err(e) => out.helper_exit = Some(Called::Failed(CallError::from_errno(e))),
    }
    out
}

fn no_new_privs() -> Called<Option<bool>> {
    match std::fs::read_to_string("/proc/self/status")
        .map_err(|e| e.to_string())
        .and_then(|t| parse_no_new_privs(&t).map_err(|e| e.to_string()))
    {
        Ok(v) => Called::Done(v),
        Err(e) => Called::Failed(CallError::text(e)),
    }
}

/// Why the helper's output gave no ids.
#[derive(Debug, thiserror::Error)]
enum HelperOutput {
    #[error("helper output is not an observation ({source}): {start:?}")]
    NotObservation {
        source: serde_json::Error,
        start: String,
    },
    #[error("helper reported no ids: {0}")]
    NoIds(crate::contract::NotTried),
}

/// The `ids` outcome out of the helper's Observation.
fn helper_ids(stdout: &[u8]) -> Result<Ids, HelperOutput> {
    let obs: Observation =
        serde_json::from_slice(stdout).map_err(|source| HelperOutput::NotObservation {
            source,
            start: String::from_utf8_lossy(&stdout[..stdout.len().min(200)]).into_owned(),
        })?;
    obs.tried::<Ids>().cloned().map_err(HelperOutput::NoIds)
}

/// Fork-execs the helper asked to try `ids`, with stdout on a pipe; returns how it ended and
/// what it printed.
fn run_helper(helper: &str) -> Result<(Ended, Vec<u8>), Errno> {
    let path = CString::new(helper).map_err(|_| Errno::EINVAL)?;
    let ids = serde_json::to_string(&Try::from(IdsArgs {})).map_err(|_| Errno::EINVAL)?;
    let ids = CString::new(ids).map_err(|_| Errno::EINVAL)?;
    let argv = [path.clone(), c"--try".into(), ids];
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
            let exit = Ended::from_status(waitpid(child, None)?);
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
    fn reports_own_ids_and_a_missing_helper() {
        let v = run(&NnpArgs {
            helper: String::new(),
        });
        assert_eq!(v.euid, geteuid().as_raw(), "{v:?}");
        assert!(v.no_new_privs.done().is_some(), "{v:?}");
        assert!(v.helper_error.is_some(), "{v:?}");
    }

    #[test]
    fn a_helper_that_cannot_run_is_reported_not_fatal() {
        let v = run(&NnpArgs {
            helper: "/nonexistent/isoprobe-helper".into(),
        });
        assert_eq!(v.helper_exit, Some(Called::Done(Ended::Code(127))), "{v:?}");
        assert!(v.helper_euid.is_none(), "{v:?}");
        assert!(v.helper_error.is_some(), "{v:?}");
    }

    #[test]
    fn helper_ids_are_taken_from_an_observation() {
        let mut obs = crate::agent::observe_cheap();
        obs.tried = vec![Ids {
            uid: 5,
            euid: 0,
            gid: 5,
            egid: 5,
        }
        .into()];
        let json = serde_json::to_vec(&obs).unwrap();
        assert_eq!(helper_ids(&json).unwrap().euid, 0);
        obs.tried.clear();
        assert!(helper_ids(&serde_json::to_vec(&obs).unwrap()).is_err());
        assert!(helper_ids(b"garbage").is_err());
    }
}
