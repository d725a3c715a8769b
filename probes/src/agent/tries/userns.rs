//! `userns`: who the container's root is, as far as it can tell and as far as the files it
//! touches can. `dir` is a host directory bound in; `secret` in it is a file only the host's
//! root may read. The try reports its ids and maps, creates `dir/created-by-container` (the
//! host looks at its owner), tries to read the secret, and last tries to make `unmapped_gid`
//! its only supplementary group.

use super::oldroot::read_prefix;
use crate::contract::{unit, Called, Done, UsernsArgs, UsernsOutcome, USERNS_CREATED};
use nix::unistd::Gid;
use std::path::Path;

pub fn run(args: &UsernsArgs) -> UsernsOutcome {
    let dir = Path::new(&args.dir);
    let mut out = UsernsOutcome {
        uid: nix::unistd::getuid().as_raw(),
        euid: nix::unistd::geteuid().as_raw(),
        gid: nix::unistd::getgid().as_raw(),
        uid_map: read_text("/proc/self/uid_map"),
        gid_map: read_text("/proc/self/gid_map"),
        setgroups: read_text("/proc/self/setgroups"),
        create: create(&dir.join(USERNS_CREATED)),
        secret: read_prefix(&dir.join(&args.secret)),
        join_unmapped_group: Called::Done(Done::Ok),
    };
    // After the file tries: when it works it changes the groups they would have run with.
    out.join_unmapped_group = unit(nix::unistd::setgroups(&[Gid::from_raw(args.unmapped_gid)]));
    out
}

fn read_text(path: &str) -> Called<String> {
    Called::from_io(std::fs::read_to_string(path).map(|t| t.trim().to_string()))
}

fn create(path: &Path) -> Called<Done> {
    // create_new: a file left from another run must not pass for this one's.
    Called::from_io(
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map(|_| Done::Ok),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_ids_creates_once_and_reads_the_secret_it_may_read() {
        let dir = std::env::temp_dir().join(format!("isoprobe-userns-test-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("s"), "hello").unwrap();
        let args = UsernsArgs {
            dir: dir.display().to_string(),
            secret: "s".into(),
            // Its own gid (root's usual only group): the test process keeps what it had.
            unmapped_gid: nix::unistd::getgid().as_raw(),
        };
        let first = run(&args);
        let second = run(&args);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(first.uid, nix::unistd::getuid().as_raw());
        assert_eq!(first.create, Called::Done(Done::Ok));
        assert_eq!(first.secret.done().map(|c| c.ok.as_str()), Some("hello"));
        assert!(first.uid_map.done().is_some());
        assert_eq!(second.create.errno(), Some("EEXIST"));
        if !nix::unistd::geteuid().is_root() {
            assert_eq!(first.join_unmapped_group.errno(), Some("EPERM"));
        }
    }
}
