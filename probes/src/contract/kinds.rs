//! Each try's arguments and outcome. The outcomes keep the JSON shapes reports show (an errno
//! object, `"ok"`, `{"code": 0}`), since judges put parts of them into `observed`.

use super::call::{CallError, Called, Content, Done, Ended};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Connects to the abstract unix socket `name` (without the leading NUL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbstractUnixArgs {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbstractUnixOutcome {
    pub name: String,
    pub connect: Called<Connected>,
}

/// A forked child allocates `mb` MiB in 1 MiB steps, writing every page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocArgs {
    pub mb: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocOutcome {
    /// The MiB asked for, after the agent's own bound.
    pub mb: usize,
    /// The MiB the child had written when it ended.
    pub touched_mb: usize,
    pub child: Called<Ended>,
}

/// The capability sets, and a tmpfs mount and setting `lo` up tried for real.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapsArgs {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapsOutcome {
    /// The bounding and effective sets as 16 hex digits; `None` when status was unreadable.
    pub cap_bnd: Option<String>,
    pub cap_eff: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_error: Option<String>,
    pub mount_tmpfs: Called<Mounted>,
    /// A failure names its ioctl in `step`.
    pub lo_up: Called<Done>,
}

/// A mount that worked, and whether it could be taken away again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Mounted {
    Unmounted(Done),
    /// The mount worked (that is the finding); a stuck one is worth seeing too.
    Stuck {
        mounted: bool,
        umount: CallError,
    },
}

/// CLOCK_MONOTONIC, CLOCK_BOOTTIME and CLOCK_REALTIME as the agent reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClocksArgs {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClocksOutcome {
    pub monotonic_ns: Called<u64>,
    pub boottime_ns: Called<u64>,
    pub realtime_ns: Called<u64>,
}

/// Forks children that stay alive until fork fails or `max` are alive, then reaps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForksArgs {
    pub max: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForksOutcome {
    pub max: usize,
    /// The agent's own task count before forking (each counts against a pids limit).
    pub threads: Option<u64>,
    pub forked: usize,
    /// The failure that ended forking before `max` (also a failed pipe before any fork).
    pub stopped_by: Option<CallError>,
    pub reaped: usize,
}

/// Can the container reach the host process `pid` (> 1)? And who is its own `/proc/1`?
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostprocArgs {
    pub pid: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostprocOutcome {
    pub self_pid: i32,
    /// Signal 0.
    pub kill: Called<Done>,
    pub proc_entry: bool,
    pub ptrace_seize: Called<Done>,
    /// `None` when the seize failed.
    pub ptrace_detach: Option<Called<Done>>,
    pub open_ns_net: Called<Done>,
    pub pid1_mnt_ns: Called<String>,
    pub self_mnt_ns: Called<String>,
    pub pid1_root: Called<Vec<String>>,
    pub self_root: Called<Vec<String>>,
}

/// The real and effective ids as the kernel has them now (after a setuid exec).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdsArgs {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ids {
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
}

/// Looks up the host's SysV segment `key` and POSIX queue `name`, then creates `own_key` and
/// `own_name` and leaves them for the host to look for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpcArgs {
    pub key: i32,
    pub name: String,
    pub own_key: i32,
    pub own_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpcOutcome {
    /// The segment's id when found.
    pub shm: Called<Segment>,
    pub mq: Called<Done>,
    pub own_shm: Called<Segment>,
    pub own_mq: Called<Done>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub id: i32,
}

/// Mount propagation both ways through the shared tmpfs `dir` (see `agent::tries::mnt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MntArgs {
    pub dir: String,
    pub token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MntOutcome {
    /// A failed mkdir names its step.
    pub mount: Called<Done>,
    pub ready: Called<Done>,
    pub host_signal: bool,
    pub waited_ms: u64,
    /// `None` when the mount table was unreadable.
    pub host_mount_seen: Option<bool>,
    pub mount_points: Called<Vec<String>>,
}

/// The interfaces the container sees, and a TCP connect to `connect` if given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetArgs {
    pub connect: Option<SocketAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetOutcome {
    pub interfaces: Called<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect: Option<Called<Connected>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connected {
    pub connected: bool,
}

/// The agent's ids and NoNewPrivs, then the euid the (setuid-root) `helper` gets when the agent
/// execs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NnpArgs {
    pub helper: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NnpOutcome {
    pub uid: u32,
    pub euid: u32,
    /// `None` when status has no NoNewPrivs line (before Linux 4.10).
    pub no_new_privs: Called<Option<bool>>,
    pub helper: String,
    /// `None` when the helper was not started.
    pub helper_exit: Option<Called<Ended>>,
    pub helper_ids: Option<Ids>,
    pub helper_euid: Option<u32>,
    /// Why the helper's output was not usable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helper_error: Option<String>,
}

/// What each path shows: a file's first bytes counted (never kept), a directory's entries
/// counted. Asked of the paths a runtime should mask (see `agent::tries::masked`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskedArgs {
    pub paths: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskedOutcome {
    pub paths: Vec<PathSeen>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathSeen {
    pub path: String,
    pub seen: Called<Seen>,
}

/// How much of a path could be read: only sizes, so that no key or kernel memory is ever
/// copied into a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Seen {
    /// Bytes read from the start, up to the try's bound.
    File {
        bytes: u64,
    },
    Dir {
        entries: u64,
    },
}

impl Seen {
    /// Something was read.
    pub fn has_content(&self) -> bool {
        match *self {
            Seen::File { bytes } => bytes > 0,
            Seen::Dir { entries } => entries > 0,
        }
    }
}

/// Is anything of the host's root reachable? Tries the absolute host path `canary` as it is
/// and below every mount point but `/` and `/proc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OldrootArgs {
    pub canary: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OldrootOutcome {
    pub mount_points: Called<Vec<String>>,
    pub reads: Vec<PathRead>,
    /// The canary's host path read from the root of the agent's own mount namespace (see
    /// `agent::escape::read_at_namespace_root`).
    pub ns_root: crate::observation::EscapeEnd,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathRead {
    pub path: String,
    pub read: Called<Content>,
}

/// Makes each named system call with arguments that fail after the permission and filter
/// checks and change nothing even when allowed (see `agent::tries::seccomp`), and reads the
/// `Seccomp:` lines of /proc/self/status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeccompArgs {
    pub calls: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeccompOutcome {
    /// `Seccomp:` of /proc/self/status (0 none, 1 strict, 2 filter); `None` when the line is
    /// missing (a kernel without CONFIG_SECCOMP).
    pub mode: Called<Option<u32>>,
    /// `Seccomp_filters:` (since Linux 5.9).
    pub filters: Called<Option<u32>>,
    pub calls: Vec<SyscallTried>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyscallTried {
    pub name: String,
    pub result: Called<Returned>,
}

/// How a call that did not fail ended: its return value, or, for a call made in a forked
/// child, the signal that killed the child (a filter's kill action).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Returned {
    Value(i64),
    KilledBy(String),
}

/// Reads `path` under /proc/sys, writes `value`, reads it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysctlArgs {
    pub path: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysctlOutcome {
    pub path: String,
    pub before: Called<String>,
    pub write: Called<Written>,
    pub after: Called<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    pub ok: bool,
}

/// Opens each file (under /proc) for writing and closes it without writing, and names the
/// mount each one is on with its read-only flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadonlyArgs {
    pub paths: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadonlyOutcome {
    pub opens: Vec<WriteOpen>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteOpen {
    pub path: String,
    /// `open(O_WRONLY)`; when it worked the descriptor was closed with nothing written.
    pub open: Called<Done>,
    /// The mount the path is on, from /proc/self/mountinfo.
    pub mount: Called<MountCover>,
}

/// The mount a path is on, and whether that mount is read-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountCover {
    pub mount_point: String,
    pub read_only: bool,
}

/// Who the container's root is: its ids and maps, a file it creates in the bound host
/// directory `dir`, the host's root-only file `dir/secret` tried, and `setgroups` tried with
/// `unmapped_gid`, a group the container was not given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsernsArgs {
    pub dir: String,
    pub secret: String,
    pub unmapped_gid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsernsOutcome {
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub uid_map: Called<String>,
    pub gid_map: Called<String>,
    pub setgroups: Called<String>,
    pub create: Called<Done>,
    pub secret: Called<Content>,
    /// `setgroups([unmapped_gid])`: tried last, as it changes the agent's groups when it works.
    pub join_unmapped_group: Called<Done>,
}

/// The name of the file the `userns` try creates; the host judges its owner.
pub const USERNS_CREATED: &str = "created-by-container";

/// What the agent holds at start: its open descriptors, its working directory and its root,
/// each directory walked up by `..` to the top, and the host's canary tried through every top.
/// `canary` is the canary's host path relative to the host's root (no leading `/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdsArgs {
    pub canary: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdsOutcome {
    /// The container's `/`.
    pub root: Called<DirWalk>,
    /// The working directory (`.`).
    pub cwd: Called<DirWalk>,
    /// The kernel's own `getcwd` text: `(unreachable)` leads a directory outside the root.
    pub getcwd: Called<String>,
    /// Every descriptor open when the agent started.
    pub fds: Called<Vec<HeldFd>>,
}

/// A directory, where `..` led from it, and the canary tried from there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirWalk {
    pub dev: u64,
    pub ino: u64,
    pub top: Called<WalkTop>,
}

/// Where `..` stopped changing the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalkTop {
    pub dev: u64,
    pub ino: u64,
    /// The top as the agent's /proc names it.
    pub path: Called<String>,
    /// How many `..` it took.
    pub steps: u32,
    /// `openat(top, canary)`, read-only: its first bytes when it opened.
    pub canary: Called<Content>,
}

/// One open descriptor: what /proc/self/fd/N points to, its file type, and for a directory
/// its walk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldFd {
    pub fd: i32,
    pub target: Called<String>,
    /// `directory`, `regular`, `pipe`, `socket`, `char`, `block`, `symlink` or `unknown`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<DirWalk>,
}

/// The cgroup v1 hierarchy the host made for the check (`none,name=<hierarchy>`), mounted at
/// `dir` inside, its `release_agent` read and the same bytes written back (CVE-2022-0492).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseAgentArgs {
    /// The hierarchy's name: always `isoprobe-...`, never one of the machine's.
    pub hierarchy: String,
    /// An existing directory inside the container's root to mount it on.
    pub dir: String,
}

/// Each step's result; a step that was not reached (its predecessor failed) is absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseAgentOutcome {
    /// CAP_SYS_ADMIN in the effective set (in the agent's own user namespace); `None` when
    /// /proc/self/status was unreadable.
    pub cap_sys_admin: Option<bool>,
    pub mount: Called<Done>,
    /// The value as read, with the kernel's newline (non-UTF-8 bytes replaced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<Called<String>>,
    /// The bytes read written back unchanged; a failure names its step (`open`, `write`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_back: Option<Called<Done>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_after: Option<Called<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub umount: Option<Called<Done>>,
}

/// The capability sets, then one attempt per capability the default set drops (each needs
/// that capability, and fails harmlessly after the kernel has asked for it) and one per kept
/// capability the check shows at work. `other_uid` is the uid of the agent's helper child,
/// which the ptrace and signal attempts aim at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultCapsArgs {
    pub other_uid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultCapsOutcome {
    pub sets: Called<CapSetsSeen>,
    /// `/proc/sys/kernel/cap_last_cap`: the highest capability number this kernel knows.
    pub cap_last_cap: Called<u32>,
    /// `net.ipv4.ip_unprivileged_port_start` of the container's network namespace: a port
    /// below it needs CAP_NET_BIND_SERVICE.
    pub unprivileged_port_start: Called<u32>,
    pub attempts: Vec<CapAttempt>,
}

/// The five sets of `/proc/self/status` as 16 hex digits (`ambient` is `None` before 4.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapSetsSeen {
    pub effective: String,
    pub bounding: String,
    pub permitted: String,
    pub inheritable: String,
    pub ambient: Option<String>,
}

/// One attempt that needs capability `cap` (a `CAP_*` name): what was called, and how it
/// ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapAttempt {
    pub cap: String,
    pub call: String,
    pub result: Called<Done>,
}

/// A device number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevNumber {
    pub major: u32,
    pub minor: u32,
}

/// Lists `/dev` (and its subdirectories, one level down), then, for each host device in
/// `nodes`, makes a node of it in `/tmp`, opens it read-only (and reads one sector where asked)
/// and removes the node again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicesArgs {
    pub nodes: Vec<HostNode>,
}

/// A host device to try: its name on the host, block or character, its number, and whether
/// to read one sector (only the byte count is reported, never the data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostNode {
    pub name: String,
    pub block: bool,
    pub number: DevNumber,
    pub read_sector: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicesOutcome {
    pub dev: Called<Vec<DevEntry>>,
    /// In the order of the arguments' nodes.
    pub nodes: Vec<NodeTried>,
}

/// An entry of `/dev`: its path below `/dev`, its kind (`char`, `block`, `link`, `dir`,
/// `file`, `fifo`, `socket`, `other`), its numbers for a device, its target for a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevEntry {
    pub name: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<DevNumber>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// A device node made and used: each later step only when the one before worked. Only the
/// number of bytes read is reported, never the data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeTried {
    /// The host device's name.
    pub name: String,
    /// The node's path inside.
    pub path: String,
    pub mknod: Called<Done>,
    pub open: Option<Called<Done>>,
    /// `None` when not read.
    pub read_bytes: Option<Called<usize>>,
    pub removed: Option<Called<Done>>,
}
