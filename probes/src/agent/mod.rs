//! What the agent does inside the container. It only observes and reports; every judgement is
//! the harness's. Each observation that can fail is a [`Reading`], so one unreadable file never
//! hides the others.

mod escape;
mod spin;
pub mod tries;

use crate::contract::{Tried, Try};
use crate::observation::{NsId, Observation, Reading, Span};
use crate::parse;
use crate::{AgentArgs, NsType};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;

pub use escape::attempt_escapes;
pub use spin::spin;

/// Makes every observation the arguments ask for, in an order that keeps them independent:
/// cheap reads first, then the CPU spin, then the escape (which runs in forked children so that
/// a successful escape does not change the root the other observations were made from).
pub fn observe(args: &AgentArgs) -> Observation {
    // What the agent was handed at start is looked at before it opens anything itself.
    let (at_start, later): (Vec<&Try>, Vec<&Try>) =
        args.tries.iter().partition(|t| matches!(t, Try::Fds(_)));
    let first: Vec<Tried> = at_start.into_iter().map(tries::run).collect();
    let lingered = (args.linger_ms > 0).then(|| {
        let from_ns = realtime_ns();
        std::thread::sleep(std::time::Duration::from_millis(args.linger_ms));
        Span {
            from_ns,
            to_ns: realtime_ns(),
        }
    });
    let mut obs = observe_cheap();
    obs.lingered = lingered;
    if args.spin_ms > 0 {
        obs.cpu = Some(spin(std::time::Duration::from_millis(args.spin_ms)));
    }
    if let Some(canary) = &args.escape_canary {
        obs.escape = Some(attempt_escapes(canary));
    }
    obs.tried = first;
    obs.tried.extend(later.into_iter().map(tries::run));
    obs
}

fn realtime_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

/// The observations that cost nothing and change nothing.
pub fn observe_cheap() -> Observation {
    Observation {
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
        pid: nix::unistd::getpid().as_raw(),
        ppid: nix::unistd::getppid().as_raw(),
        uid: nix::unistd::getuid().as_raw(),
        gid: nix::unistd::getgid().as_raw(),
        nspid: read_then("/proc/self/status", |t| {
            parse::parse_nspid(t)?.ok_or(CheapReadError::NoNspid)
        }),
        hostname: Reading::from_result(
            nix::unistd::gethostname()
                .map_err(|e| format!("gethostname: {e}"))
                .map(|h| h.to_string_lossy().into_owned()),
        ),
        namespaces: namespace_ids(),
        proc_pids: Reading::from_result(list_proc()),
        cgroup: read_then("/proc/self/cgroup", |t| {
            Ok(t.lines().map(str::to_string).collect())
        }),
        mount_points: read_then("/proc/self/mountinfo", |t| Ok(parse::mount_points(t)?)),
        cpu: None,
        escape: None,
        lingered: None,
        tried: Vec::new(),
    }
}

/// Why a cheap reading failed; its text is what the observation reports.
#[derive(Debug, thiserror::Error)]
enum CheapReadError {
    #[error("read {path}: {source}")]
    Read {
        path: &'static str,
        source: std::io::Error,
    },
    #[error("read_dir /proc: {0}")]
    ListProc(std::io::Error),
    #[error(transparent)]
    Parse(#[from] parse::ParseError),
    #[error("no NSpid line in /proc/self/status (kernel before 4.1)")]
    NoNspid,
}

fn read_then<T>(
    path: &'static str,
    f: impl FnOnce(&str) -> Result<T, CheapReadError>,
) -> Reading<T> {
    Reading::from_result(
        fs::read_to_string(path)
            .map_err(|source| CheapReadError::Read { path, source })
            .and_then(|t| f(&t)),
    )
}

fn namespace_ids() -> BTreeMap<String, Reading<NsId>> {
    NsType::ALL
        .iter()
        .map(|t| {
            let path = format!("/proc/self/ns/{}", t.proc_name());
            let id = fs::metadata(&path)
                .map(|m| NsId {
                    dev: m.dev(),
                    ino: m.ino(),
                })
                .map_err(|e| format!("stat {path}: {e}"));
            (t.proc_name().to_string(), Reading::from_result(id))
        })
        .collect()
}

fn list_proc() -> Result<Vec<i32>, CheapReadError> {
    let names: Vec<String> = fs::read_dir("/proc")
        .map_err(CheapReadError::ListProc)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    Ok(parse::proc_pids(names.iter().map(String::as_str)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cheap_observation_of_this_process_is_consistent() {
        let o = observe_cheap();
        assert_eq!(o.pid, std::process::id() as i32);
        let pids = o.proc_pids.ok().expect("/proc readable");
        assert!(pids.contains(&o.pid));
        for t in NsType::ALL {
            if std::path::Path::new("/proc/self/ns")
                .join(t.proc_name())
                .exists()
            {
                assert!(o.namespaces[t.proc_name()].ok().is_some(), "{t}");
            }
        }
        assert_eq!(o.nspid.ok().and_then(|v| v.last().copied()), Some(o.pid));
    }
}
