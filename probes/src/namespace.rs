//! The namespace types isoprobe knows, named as in `/proc/<pid>/ns/`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A namespace type. The order is the order a runtime should create them in (user first, so
/// that the others are owned by it; mnt late, so that it is owned by the new user namespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NsType {
    User,
    Pid,
    Uts,
    Ipc,
    Net,
    Cgroup,
    Mnt,
    Time,
}

impl NsType {
    pub const ALL: [NsType; 8] = [
        NsType::User,
        NsType::Pid,
        NsType::Uts,
        NsType::Ipc,
        NsType::Net,
        NsType::Cgroup,
        NsType::Mnt,
        NsType::Time,
    ];

    /// The file name under `/proc/<pid>/ns/`.
    pub fn proc_name(self) -> &'static str {
        match self {
            NsType::User => "user",
            NsType::Pid => "pid",
            NsType::Uts => "uts",
            NsType::Ipc => "ipc",
            NsType::Net => "net",
            NsType::Cgroup => "cgroup",
            NsType::Mnt => "mnt",
            NsType::Time => "time",
        }
    }

    /// The `CLONE_NEW*` flag of this type.
    pub fn clone_flag(self) -> libc::c_int {
        match self {
            NsType::User => libc::CLONE_NEWUSER,
            NsType::Pid => libc::CLONE_NEWPID,
            NsType::Uts => libc::CLONE_NEWUTS,
            NsType::Ipc => libc::CLONE_NEWIPC,
            NsType::Net => libc::CLONE_NEWNET,
            NsType::Cgroup => libc::CLONE_NEWCGROUP,
            NsType::Mnt => libc::CLONE_NEWNS,
            NsType::Time => libc::CLONE_NEWTIME,
        }
    }

    /// The kernel release that introduced the type (for skip reasons).
    pub fn since(self) -> &'static str {
        match self {
            NsType::Mnt => "2.4.19",
            NsType::Uts | NsType::Ipc => "2.6.19",
            NsType::Pid => "2.6.24",
            NsType::Net => "2.6.29",
            NsType::User => "3.8",
            NsType::Cgroup => "4.6",
            NsType::Time => "5.6",
        }
    }
}

impl fmt::Display for NsType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.proc_name())
    }
}

impl FromStr for NsType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NsType::ALL
            .into_iter()
            .find(|t| t.proc_name() == s)
            .ok_or_else(|| {
                format!("unknown namespace type `{s}` (known: user, pid, uts, ipc, net, cgroup, mnt, time)")
            })
    }
}
