//! What the machine must give the checks a run was asked for, found before any container
//! starts. A check named with `--check` that cannot run here is the user's mistake to hear
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
                Requirement::Controller(c) if seen.insert(*c) => hierarchy(&check.id(), c)?,
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
