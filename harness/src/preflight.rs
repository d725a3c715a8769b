//! What is checked before any container starts: the values of options that clap cannot
//! judge alone (a timeout, a report path, a runtime that must be there), and what the machine
//! must give the checks a run was asked for. A check named with `--check` that cannot run here is the user's mistake to hear
//! about (exit 2); in a full run it stays a recorded skip. A cgroup hierarchy that is there but
//! cannot be written is an error either way: it is not a property of the kernel but of how the
//! machine (or the container isoprobe runs in) was set up.

use crate::cgroup::CgroupError;
use crate::checks::{Check, Requirement};
use crate::error::BadInput;
use nix::errno::Errno;
use nix::unistd::AccessFlags;
use std::collections::BTreeSet;

/// Checks the requirements of `checks`; `named` when they were chosen with `--check`.
pub fn check_machine(checks: &[Box<dyn Check>], named: bool) -> Result<(), BadInput> {
    let mut seen = BTreeSet::new();
    for check in checks {
        for req in check.requirements() {
            match &req {
                Requirement::Namespace(_) if named => {
                    req.check().map_err(|reason| BadInput::CheckCannotRun {
                        check: check.id(),
                        reason,
                    })?
                }
                // Rootless, a hierarchy not delegated to the user is a check's skip.
                Requirement::Controller(c)
                    if seen.insert(*c) && crate::rootless::active().is_none() =>
                {
                    hierarchy(&check.id(), c)?
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Whether isoprobe can make a cgroup using `controller`: an absent controller is a skip the
/// engine records, a hierarchy that is missing or read-only is an error.
fn hierarchy(check: &str, controller: &str) -> Result<(), BadInput> {
    let loc = match crate::cgroup::locate(controller) {
        Ok(loc) => loc,
        Err(CgroupError::ControllerUnavailable(_)) => return Ok(()),
        Err(source) => {
            return Err(BadInput::NoCgroupHierarchy {
                check: check.into(),
                source,
            })
        }
    };
    let dir = match loc.caller_path.trim_start_matches('/') {
        "" => loc.mount_point,
        below => loc.mount_point.join(below),
    };
    let why = match nix::unistd::access(&dir, AccessFlags::W_OK) {
        Ok(()) => return Ok(()),
        Err(Errno::EROFS) => "mounted read-only".to_string(),
        Err(Errno::ENOENT) => {
            "missing: isoprobe's own cgroup directory is not there (is the hierarchy mounted \
             from another cgroup namespace?)"
                .to_string()
        }
        Err(e) => format!("not writable ({})", e.desc()),
    };
    Err(BadInput::CgroupHierarchy {
        check: check.into(),
        controller: controller.into(),
        dir,
        why,
    })
}

/// Why a `--timeout` is refused.
#[derive(Debug, thiserror::Error)]
pub enum TimeoutError {
    #[error(
        "a timeout must be a whole number of seconds, at least 1 (every container would be \
         killed before it started); e.g. --timeout 30"
    )]
    NotPositive,
    #[error("`{0}` is not a whole number of seconds; e.g. --timeout 30")]
    NotANumber(String),
}

pub fn parse_timeout(s: &str) -> Result<u64, TimeoutError> {
    match s.trim().parse::<i128>() {
        Ok(n) if n >= 1 => u64::try_from(n).map_err(|_| TimeoutError::NotANumber(s.into())),
        Ok(_) => Err(TimeoutError::NotPositive),
        Err(_) => Err(TimeoutError::NotANumber(s.into())),
    }
}

/// Why a `--jobs` is refused.
#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    #[error("jobs must be a whole number, at least 1 (1 runs one check at a time); e.g. --jobs 2")]
    NotPositive,
    #[error("`{0}` is not a whole number of runs at a time; e.g. --jobs 2")]
    NotANumber(String),
}

pub fn parse_jobs(s: &str) -> Result<usize, JobsError> {
    match s.trim().parse::<i128>() {
        Ok(n) if n >= 1 => usize::try_from(n).map_err(|_| JobsError::NotANumber(s.into())),
        Ok(_) => Err(JobsError::NotPositive),
        Err(_) => Err(JobsError::NotANumber(s.into())),
    }
}

/// Whether a report could be written to `path`: its directory must be there, so that a whole
/// run is not lost to a typo in a path.
pub fn check_output(path: &std::path::Path) -> Result<(), BadInput> {
    let bad = |why: String| BadInput::Output {
        path: path.to_path_buf(),
        why,
    };
    if path.is_dir() {
        return Err(bad(format!(
            "it is a directory; give a file's path (e.g. {})",
            path.join("report.txt").display()
        )));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(bad(format!(
            "`{}` is not a directory; give a path in a directory",
            dir.display()
        ))),
        Err(e) => Err(bad(format!(
            "its directory `{}`: {e}; create it first or give another path",
            dir.display()
        ))),
    }
}

/// A rootless run needs a runtime that works from its user namespace.
pub fn require_rootless(rt: &dyn crate::runtime::Runtime) -> Result<(), BadInput> {
    match rt.rootless_unsupported() {
        None => Ok(()),
        Some(why) => Err(BadInput::NotRootless {
            runtime: rt.name(),
            why,
        }),
    }
}

/// A runtime the user named must be able to run here: skipping every check instead would
/// exit 0 on a mistyped path.
pub fn require_available(rt: &dyn crate::runtime::Runtime) -> Result<(), BadInput> {
    rt.available()
        .map_err(|reason| BadInput::RuntimeUnavailable {
            runtime: rt.name(),
            reason,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_is_a_whole_number_of_seconds_from_1() {
        assert_eq!(parse_timeout("30").unwrap(), 30);
        assert_eq!(parse_timeout(" 1 ").unwrap(), 1);
        assert_eq!(parse_jobs("3").unwrap(), 3);
        assert!(matches!(parse_jobs("0"), Err(JobsError::NotPositive)));
        assert!(matches!(parse_jobs("-2"), Err(JobsError::NotPositive)));
        assert!(matches!(parse_jobs("two"), Err(JobsError::NotANumber(_))));
        for zero_or_less in ["0", "-1", "-99999999999999999999"] {
            assert!(matches!(
                parse_timeout(zero_or_less),
                Err(TimeoutError::NotPositive)
            ));
        }
        for junk in ["", "1.5", "1s", "99999999999999999999999", "abc"] {
            assert!(
                matches!(parse_timeout(junk), Err(TimeoutError::NotANumber(_))),
                "{junk}"
            );
        }
    }

    #[test]
    fn a_report_path_needs_its_directory() {
        let tmp = tempfile::tempdir().unwrap();
        check_output(&tmp.path().join("r.json")).unwrap();
        check_output(std::path::Path::new("relative.json")).unwrap();
        for bad in [tmp.path().to_path_buf(), tmp.path().join("no/r.json")] {
            assert!(matches!(check_output(&bad), Err(BadInput::Output { .. })));
        }
    }
}
