//! `sysctl`: reads a file under /proc/sys, writes a new value, reads it back.

use super::BadArgument;
use crate::contract::{Called, SysctlArgs, SysctlOutcome, Written};
use nix::errno::Errno;
use std::io::Write;

pub fn run(args: &SysctlArgs) -> Result<SysctlOutcome, BadArgument> {
    let path = args.path.as_str();
    // Anything else would make this a general file writer inside the container.
    if !path.starts_with("/proc/sys/") || path.contains("..") {
        return Err(BadArgument(format!("`{path}` is not under /proc/sys/")));
    }
    Ok(SysctlOutcome {
        path: path.to_string(),
        before: read(path),
        write: write(path, &args.value),
        after: read(path),
    })
}

/// Every failure here is a file operation's: one without an errno counts as EIO.
fn io_errno<T>(r: std::io::Result<T>) -> Called<T> {
    Called::from_errno(r.map_err(|e| e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)))
}

fn read(path: &str) -> Called<String> {
    io_errno(std::fs::read_to_string(path).map(|t| t.trim().to_string()))
}

fn write(path: &str, value: &str) -> Called<Written> {
    // One write(2) of the whole value: procfs parses each write on its own.
    let written = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(format!("{value}\n").as_bytes()));
    io_errno(written.map(|()| Written { ok: true }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(path: &str) -> SysctlArgs {
        SysctlArgs {
            path: path.into(),
            value: "1".into(),
        }
    }

    #[test]
    fn refuses_paths_outside_proc_sys() {
        assert!(run(&args("/etc/passwd")).is_err());
        assert!(run(&args("/proc/sys/../self/mem")).is_err());
    }

    #[test]
    fn a_missing_file_is_enoent_on_every_step() {
        let v = run(&args("/proc/sys/isoprobe/none")).unwrap();
        assert_eq!(v.before.errno(), Some("ENOENT"), "{v:?}");
        assert_eq!(v.write.errno(), Some("ENOENT"), "{v:?}");
        assert_eq!(v.after.errno(), Some("ENOENT"), "{v:?}");
    }
}
