//! `ids`: the process's real and effective user and group ids, as the kernel has them now
//! (after any setuid exec), unlike the cheap observation's real ids.

use crate::contract::Ids;
use nix::unistd::{getegid, geteuid, getgid, getuid};

pub fn run() -> Ids {
    Ids {
        uid: getuid().as_raw(),
        euid: geteuid().as_raw(),
        gid: getgid().as_raw(),
        egid: getegid().as_raw(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_this_process_ids() {
        let v = run();
        assert_eq!(v.uid, getuid().as_raw());
        assert_eq!(v.egid, getegid().as_raw());
    }
}
