//! `proc_link`: where proc ended up when the image's `/proc` was a link. Reads the container's
//! mountinfo, `lstat`s `/proc`, and looks at masked paths the way `masked` does (sizes only).

use super::dev_null::lstat;
use super::masked::look;
use crate::contract::{CallError, Called, CoverSeen, PathSeen, ProcLinkArgs, ProcLinkOutcome};
use crate::parse::{mount_covering, mounts_of_type};
use std::path::Path;

pub fn run(args: &ProcLinkArgs) -> ProcLinkOutcome {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo");
    ProcLinkOutcome {
        proc: Called::from_io(lstat("/proc")),
        proc_mounts: parsed(&mountinfo, |t| mounts_of_type(t, "proc")),
        masked: args
            .masked
            .iter()
            .map(|p| PathSeen {
                path: p.clone(),
                seen: look(Path::new(p)),
            })
            .collect(),
        readonly: args
            .readonly
            .iter()
            .map(|p| CoverSeen {
                path: p.clone(),
                // A path this kernel lacks is covered by nothing of its own: not looked up.
                cover: match std::fs::symlink_metadata(p) {
                    Ok(_) => parsed(&mountinfo, |t| mount_covering(t, p)),
                    Err(e) => Called::Failed(CallError::from_io(&e).at("stat")),
                },
            })
            .collect(),
    }
}

fn parsed<T>(
    mountinfo: &std::io::Result<String>,
    f: impl Fn(&str) -> Result<T, crate::parse::ParseError>,
) -> Called<T> {
    match mountinfo {
        Ok(t) => f(t).map_or_else(
            |e| Called::Failed(CallError::text(e.to_string())),
            Called::Done,
        ),
        Err(e) => Called::Failed(CallError::from_io(e)),
    }
}
