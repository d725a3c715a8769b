//! `release_agent`: mounts the cgroup v1 hierarchy the host made for the check
//! (`none,name=<hierarchy>`) at `dir`, reads its `release_agent`, writes exactly the bytes it
//! read back, reads it again and unmounts.
//!
//! Harmless whatever the outcome: the hierarchy is isoprobe's own (the agent refuses any other
//! name, so a machine's hierarchy is never mounted here, let alone written), and the value
//! written is the one already there. A hierarchy with no child cgroup never runs its agent.

use super::BadArgument;
use crate::contract::{unit, CallError, Called, Done, ReleaseAgentArgs, ReleaseAgentOutcome};
use crate::parse::{has_cap, parse_cap_sets};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::io::{Read, Write};
use std::path::Path;

/// The only hierarchies the agent will touch: the ones the host names for a check.
const OWN_PREFIX: &str = "isoprobe-";
const CAP_SYS_ADMIN: u32 = 21;

pub fn run(args: &ReleaseAgentArgs) -> Result<ReleaseAgentOutcome, BadArgument> {
    let (name, dir) = (args.hierarchy.as_str(), Path::new(&args.dir));
    if !own_hierarchy(name) {
        return Err(BadArgument(format!(
            "`{name}` is not a hierarchy isoprobe made (`{OWN_PREFIX}` and [A-Za-z0-9_.-]): \
             the machine's hierarchies are never touched"
        )));
    }
    if !dir.is_absolute() || args.dir.contains("..") {
        return Err(BadArgument(format!(
            "`{}` is not an absolute path",
            args.dir
        )));
    }
    let mut out = ReleaseAgentOutcome {
        cap_sys_admin: cap_sys_admin(),
        mount: unit(mount(
            Some("cgroup"),
            dir,
            Some("cgroup"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some(format!("none,name={name}").as_str()),
        )),
        read: None,
        write_back: None,
        read_after: None,
        umount: None,
    };
    if out.mount.done().is_none() {
        return Ok(out);
    }
    let file = dir.join("release_agent");
    let read = read_raw(&file);
    out.read = Some(shown(&read));
    if let Ok(value) = &read {
        out.write_back = Some(write_back(&file, value));
        out.read_after = Some(shown(&read_raw(&file)));
    }
    out.umount = Some(match unit(umount2(dir, MntFlags::empty())) {
        Called::Failed(_) => unit(umount2(dir, MntFlags::MNT_DETACH)),
        done => done,
    });
    Ok(out)
}

fn own_hierarchy(name: &str) -> bool {
    name.len() > OWN_PREFIX.len()
        && name.starts_with(OWN_PREFIX)
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn cap_sys_admin() -> Option<bool> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let sets = parse_cap_sets(&status).ok()?;
    Some(has_cap(sets.effective, CAP_SYS_ADMIN))
}

fn read_raw(file: &Path) -> Result<Vec<u8>, CallError> {
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map(|_| bytes)
        .map_err(|e| CallError::from_io(&e))
}

fn shown(r: &Result<Vec<u8>, CallError>) -> Called<String> {
    match r {
        Ok(b) => Called::Done(String::from_utf8_lossy(b).into_owned()),
        Err(e) => Called::Failed(e.clone()),
    }
}

/// Writes `value` back to `file` unchanged: opened for writing only (no truncation, no
/// creation), then one write(2) of every byte, since the kernel takes each write as a whole
/// new value.
fn write_back(file: &Path, value: &[u8]) -> Called<Done> {
    let mut f = match std::fs::OpenOptions::new().write(true).open(file) {
        Ok(f) => f,
        Err(e) => return Called::Failed(CallError::from_io(&e).at("open")),
    };
    match f.write(value) {
        Ok(n) if n == value.len() => Called::Done(Done::Ok),
        Ok(n) => Called::Failed(
            CallError::text(format!("short write: {n} of {} bytes", value.len())).at("write"),
        ),
        Err(e) => Called::Failed(CallError::from_io(&e).at("write")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_isoprobe_hierarchies_and_absolute_dirs_are_accepted() {
        let args = |h: &str, d: &str| ReleaseAgentArgs {
            hierarchy: h.into(),
            dir: d.into(),
        };
        for bad in [
            "systemd",
            "isoprobe-",
            "isoprobe-x,cpu",
            "isoprobe-a b",
            "cpu",
        ] {
            assert!(run(&args(bad, "/tmp")).is_err(), "{bad}");
        }
        assert!(run(&args("isoprobe-1_ab", "tmp")).is_err());
        assert!(run(&args("isoprobe-1_ab", "/tmp/../etc")).is_err());
        assert!(own_hierarchy("isoprobe-123_0af.x-y"));
    }

    #[test]
    fn the_value_written_back_is_byte_identical_to_the_one_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("release_agent");
        // The kernel's shape (a path and a newline), with a byte that is not UTF-8.
        let original: &[u8] = b"/usr/lib/isoprobe/agent-\xff\n";
        std::fs::write(&file, original).unwrap();
        let read = read_raw(&file).unwrap();
        assert_eq!(read, original);
        assert_eq!(write_back(&file, &read), Called::Done(Done::Ok));
        assert_eq!(std::fs::read(&file).unwrap(), original);
        // An empty value (the kernel's default reads as a lone newline) stays as it was too.
        std::fs::write(&file, b"\n").unwrap();
        let read = read_raw(&file).unwrap();
        assert_eq!(write_back(&file, &read), Called::Done(Done::Ok));
        assert_eq!(std::fs::read(&file).unwrap(), b"\n");
    }

    #[test]
    fn write_back_never_creates_a_file_and_names_its_step() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("release_agent");
        match write_back(&missing, b"x\n") {
            Called::Failed(e) => {
                assert!(e.errno_is("ENOENT"), "{e:?}");
                assert_eq!(e.step.as_deref(), Some("open"));
            }
            done => panic!("wrote a missing file: {done:?}"),
        }
        assert!(!missing.exists());
    }
}
