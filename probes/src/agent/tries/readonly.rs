//! `readonly`: opens each file for writing and closes it at once, writing nothing, and names
//! the mount each one is on with its read-only flag. Only paths under /proc are taken: an open
//! for writing changes nothing by itself, but this try must not become a general file opener.

use super::BadArgument;
use crate::contract::{CallError, Called, Done, ReadonlyArgs, ReadonlyOutcome, WriteOpen};
use crate::parse;
use std::os::unix::fs::OpenOptionsExt;

pub fn run(args: &ReadonlyArgs) -> Result<ReadonlyOutcome, BadArgument> {
    if let Some(bad) = args
        .paths
        .iter()
        .find(|p| !p.starts_with("/proc/") || p.contains(".."))
    {
        return Err(BadArgument(format!("`{bad}` is not a path under /proc/")));
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo");
    let opens = args
        .paths
        .iter()
        .map(|p| WriteOpen {
            path: p.clone(),
            open: open_for_writing(p),
            mount: match &mountinfo {
                Ok(text) => cover(text, p),
                Err(e) => Called::Failed(CallError::from_io(e).at("read /proc/self/mountinfo")),
            },
        })
        .collect();
    Ok(ReadonlyOutcome { opens })
}

/// `open(O_WRONLY)` without O_TRUNC or O_CREAT, then close: the file is not touched.
fn open_for_writing(path: &str) -> Called<Done> {
    Called::from_io(
        std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
            .open(path)
            .map(drop)
            .map(|()| Done::Ok),
    )
}

fn cover(mountinfo: &str, path: &str) -> Called<crate::contract::MountCover> {
    match parse::mount_covering(mountinfo, path) {
        Ok(Some(c)) => Called::Done(c),
        Ok(None) => Called::Failed(CallError::text("no mount covers the path")),
        Err(e) => Called::Failed(CallError::text(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(paths: &[&str]) -> ReadonlyArgs {
        ReadonlyArgs {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn refuses_paths_outside_proc() {
        assert!(run(&args(&["/etc/passwd"])).is_err());
        assert!(run(&args(&["/proc/../etc/passwd"])).is_err());
    }

    #[test]
    fn a_missing_file_is_enoent_and_its_mount_is_still_named() {
        let out = run(&args(&["/proc/isoprobe-none"])).unwrap();
        let o = &out.opens[0];
        assert_eq!(o.open.errno(), Some("ENOENT"), "{o:?}");
        assert_eq!(o.mount.done().unwrap().mount_point, "/proc", "{o:?}");
    }
}
