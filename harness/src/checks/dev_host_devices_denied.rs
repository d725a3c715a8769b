//! `dev.host-devices-denied`: the container cannot reach the host's devices through nodes it
//! makes itself, and its `/dev` holds only the standard ones.
//!
//! The container keeps the engines' default capabilities, CAP_MKNOD among them, so making a
//! node is not stopped by a missing capability: the device cgroup is what must refuse it (v1
//! `devices.deny`/`devices.allow`, v2 a device program), or a `nodev` mount under it. The host
//! names its devices: its disk (the block device `/` lives on, else the first disk in
//! `/sys/block`), `/dev/mem` (1:1), and those of a few character devices whose opening does
//! nothing ([`WITNESSES`]) where it has them. The agent makes a node of each
//! in its own `/dev` (and where it does not open there, in `/tmp`: either may be `nodev`), opens
//! it read-only (for the disk, reads one sector and reports only the
//! byte count), and removes it. Nothing is ever written to a device.
//!
//! A device the host's own root cannot open (this project's machines refuse every open of a
//! block device, whatever the capabilities; a kernel without `/dev/mem`) shows nothing about
//! the container: it is tried and recorded, not judged. The host tries each open itself first
//! (read-only, non-blocking, closed at once).

use super::host_side;
use super::{Check, Control, Ctx, Layer, ShownBy, Verdict};
use crate::runtime::capability::{self, DEFAULT_SET};
use crate::runtime::RunError;
use crate::vocabulary::{Devices, Isolation, Sabotage, PTMX, PTY_SLAVE_MAJOR, STANDARD_DEVICES};
use isoprobe_probes::contract::{DevEntry, DevNumber, DevicesArgs, DevicesOutcome, HostNode, NodeTried};
use isoprobe_probes::AgentArgs;
use serde_json::json;
use std::path::PathBuf;

pub struct HostDevicesDenied;

const MEM: DevNumber = DevNumber { major: 1, minor: 1 };
/// Character devices whose opening read-only starts nothing (it is ioctls and writes that act
/// on them; the rtc's open only marks it busy, and `cpu_dma_latency`'s adds a request for the
/// default latency, which constrains nothing, both until the close), needing no capability to
/// open: what a container with every device allowed reaches on a host without an openable disk
/// (this project's machines; a kernel-matrix guest without a disk, where `/dev/mem` needs
/// CAP_SYS_RAWIO). Whichever the host has; `cpu_dma_latency` every kernel has.
const WITNESSES: [&str; 7] = [
    "cpu_dma_latency",
    "kvm",
    "loop-control",
    "vsock",
    "rtc0",
    "fuse",
    "net/tun",
];
/// The phrase every violation of the control contains.
const HOST_DEVICE: &str = "the host device";

impl Check for HostDevicesDenied {
    fn id(&self) -> String {
        "dev.host-devices-denied".into()
    }
    fn description(&self) -> String {
        "with the default capabilities (CAP_MKNOD kept), nodes the container makes for the \
         host's disk, /dev/mem and other host devices are refused (mknod or open: EPERM or \
         EACCES), no sector is read, and /dev holds only the standard nodes"
            .into()
    }
    fn isolation(&self) -> Isolation {
        Isolation {
            devices: Devices::Standard,
            drop_caps: capability::all_but(&DEFAULT_SET),
            ..Isolation::base()
        }
    }
    fn control(&self) -> Control {
        Sabotage::AllDevices.shown_by(HOST_DEVICE)
    }
    fn layer(&self) -> Layer {
        Layer::Hardening
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let targets = targets();
        let out = ctx.run(
            iso,
            AgentArgs::trying(DevicesArgs {
                nodes: targets.iter().map(|t| t.node.clone()).collect(),
            }),
        )?;
        Ok(host_side::tried(&out).map_or_else(|v| v, |p| judge(p, &targets)))
    }
}

/// A host device the agent tries, and whether the host's own root could open it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    node: HostNode,
    /// `Err`: why not (the errno, or that the host has no such node).
    host_open: Result<(), String>,
}

/// The devices to try: the disk, `/dev/mem`, and the witnesses the host has.
fn targets() -> Vec<Target> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut v = Vec::new();
    if let Some(d) = host_disk() {
        v.push(target(&d.name, true, d.number, true));
    }
    v.push(target("mem", false, MEM, false));
    for name in WITNESSES {
        // The host's view: the stand-in shares the machine's /dev.
        if let Ok(m) = std::fs::metadata(format!("/dev/{name}")) {
            if m.file_type().is_char_device() {
                let n = DevNumber {
                    major: libc::major(m.rdev()),
                    minor: libc::minor(m.rdev()),
                };
                v.push(target(name, false, n, false));
            }
        }
    }
    v
}

fn target(name: &str, block: bool, number: DevNumber, read_sector: bool) -> Target {
    let path = PathBuf::from("/dev").join(name);
    let host_open = if path.exists() {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&path)
            .map(drop)
            .map_err(|e| {
                e.raw_os_error()
                    .map_or(e.to_string(), |n| format!("{:?}", nix::errno::Errno::from_raw(n)))
            })
    } else {
        Err(format!("the host has no {}", path.display()))
    };
    Target {
        node: HostNode {
            name: name.into(),
            block,
            number,
            read_sector,
        },
        host_open,
    }
}

/// The host's disk: its name and number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDisk {
    pub name: String,
    pub number: DevNumber,
}

/// The block device `/` lives on, else the first disk in `/sys/block`; `None` when the host
/// has none (an initramfs guest without disks).
fn host_disk() -> Option<HostDisk> {
    use std::os::unix::fs::MetadataExt;
    let root = std::fs::metadata("/").ok().map(|m| DevNumber {
        major: libc::major(m.dev()),
        minor: libc::minor(m.dev()),
    });
    let mut disks: Vec<(String, String)> = std::fs::read_dir("/sys/block")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let dev = std::fs::read_to_string(e.path().join("dev")).ok()?;
            Some((name, dev))
        })
        .collect();
    disks.sort();
    pick_disk(root, &disks)
}

/// Parses `/sys/block/*/dev` (`254:0`).
fn parse_dev(text: &str) -> Option<DevNumber> {
    let (a, b) = text.trim().split_once(':')?;
    Some(DevNumber {
        major: a.parse().ok()?,
        minor: b.parse().ok()?,
    })
}

/// The disk whose number is `root`'s (a whole disk or a partition: the node is the root's own
/// device), else the first real disk (not a loop, ram or zram device) of `disks` (name, the
/// text of its `dev` file).
fn pick_disk(root: Option<DevNumber>, disks: &[(String, String)]) -> Option<HostDisk> {
    let parsed: Vec<(String, DevNumber)> = disks
        .iter()
        .filter_map(|(n, d)| parse_dev(d).map(|d| (n.clone(), d)))
        .collect();
    if let Some(r) = root {
        if let Some((n, d)) = parsed.iter().find(|(_, d)| *d == r) {
            return Some(HostDisk {
                name: n.clone(),
                number: *d,
            });
        }
        // A partition: /sys/dev/block names it, and its own number reads the same data.
        if r.major != 0 {
            if let Ok(link) = std::fs::read_link(format!("/sys/dev/block/{}:{}", r.major, r.minor))
            {
                let name = link
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                return Some(HostDisk { name, number: r });
            }
        }
    }
    parsed
        .into_iter()
        .find(|(n, _)| !["loop", "ram", "zram"].iter().any(|p| n.starts_with(p)))
        .map(|(name, number)| HostDisk { name, number })
}

/// Whether `e` is one of the standard entries of `/dev`.
fn standard(e: &DevEntry) -> bool {
    let n = e.number;
    let is = |major: u32, minor: u32| n == Some(DevNumber { major, minor });
    match (e.kind.as_str(), e.name.as_str()) {
        ("char", name) if STANDARD_DEVICES.iter().any(|d| d.name == name) => STANDARD_DEVICES
            .iter()
            .any(|d| d.name == name && is(d.major, d.minor)),
        ("char", "ptmx") | ("char", "pts/ptmx") => is(PTMX.0, PTMX.1),
        ("char", "console") => is(5, 1) || n.is_some_and(|n| n.major == PTY_SLAVE_MAJOR),
        ("char", name) if name.starts_with("pts/") => {
            n.is_some_and(|n| n.major == PTY_SLAVE_MAJOR)
        }
        ("char" | "block", _) => false,
        // Links, directories (pts, shm, mqueue) and files reach no device by themselves.
        _ => true,
    }
}

fn errno_or_text<T: serde::Serialize>(c: &isoprobe_probes::contract::Called<T>) -> String {
    match (c.errno(), c.failed()) {
        (Some(e), _) => e.to_string(),
        (None, Some(e)) => e.error.clone(),
        (None, None) => "ok".into(),
    }
}

/// Holds when every node of a device the host's root can open was refused (mknod or open,
/// EPERM or EACCES), and `/dev` holds no device node beyond the standard ones.
fn judge(p: &DevicesOutcome, targets: &[Target]) -> Verdict {
    let (mut violations, mut untested) = (Vec::new(), Vec::new());
    let mut not_on_host = Vec::new();
    let mut judged = 0;
    if p.nodes.len() != targets.len() {
        untested.push(format!(
            "the agent tried {} host devices of {}",
            p.nodes.len(),
            targets.len()
        ));
    }
    for (t, tried) in targets.iter().zip(&p.nodes) {
        let n = &t.node;
        let what = format!(
            "{HOST_DEVICE} {} ({} {}:{})",
            n.name,
            if n.block { "b" } else { "c" },
            n.number.major,
            n.number.minor
        );
        let seen = judge_node(tried, &what);
        match (&t.host_open, seen) {
            (_, NodeSeen::Reached(v)) => {
                judged += 1;
                violations.push(v)
            }
            (Err(e), _) => not_on_host.push(format!("{}: {e}", n.name)),
            (Ok(()), NodeSeen::Refused) => judged += 1,
            (Ok(()), NodeSeen::Unclear(u)) => untested.push(u),
        }
    }
    if judged == 0 {
        untested.push(format!(
            "no host device the host's own root can open was there to try ({})",
            not_on_host.join(", ")
        ));
    }
    match p.dev.done() {
        Some(entries) => {
            for e in entries.iter().filter(|e| !standard(e)) {
                let number = e
                    .number
                    .map(|n| format!(" {}:{}", n.major, n.minor))
                    .unwrap_or_default();
                violations.push(format!(
                    "/dev holds a device beyond the standard ones: {} ({}{number})",
                    e.name, e.kind
                ));
            }
        }
        None => untested.push(format!("/dev could not be listed: {}", errno_or_text(&p.dev))),
    }
    Verdict::judge(
        violations,
        untested,
        "nodes for the host's devices were refused (mknod or open), and /dev holds only the \
         standard nodes",
        json!({
            "nodes": "mknod or open EPERM/EACCES",
            "dev": "standard nodes only",
        }),
        json!({
            "nodes": p.nodes,
            "not_openable_on_the_host": not_on_host,
            "dev": host_side::shown(&p.dev),
        }),
    )
}

/// What one node showed.
#[derive(Debug, PartialEq, Eq)]
enum NodeSeen {
    /// mknod or open refused with EPERM or EACCES.
    Refused,
    /// The device was opened (and read): the evidence.
    Reached(String),
    /// Another errno: nothing shown either way.
    Unclear(String),
}

fn judge_node(t: &NodeTried, what: &str) -> NodeSeen {
    let refused = |e: &str| e == "EPERM" || e == "EACCES";
    let mknod = errno_or_text(&t.mknod);
    if t.mknod.failed().is_some() {
        return if refused(&mknod) {
            NodeSeen::Refused
        } else {
            NodeSeen::Unclear(format!("mknod of {what} gave {mknod}"))
        };
    }
    let Some(open) = &t.open else {
        return NodeSeen::Unclear(format!("{what}: made, but no open reported"));
    };
    let opened = errno_or_text(open);
    if open.failed().is_some() {
        return if refused(&opened) {
            NodeSeen::Refused
        } else {
            NodeSeen::Unclear(format!("{what}: made, then open gave {opened}"))
        };
    }
    NodeSeen::Reached(match t.read_bytes.as_ref().map(|r| (r.done(), r)) {
        Some((Some(n), _)) => format!("read a sector of {what} ({n} bytes through {})", t.path),
        Some((None, r)) => format!(
            "opened {what} read-only through {} (reading a sector gave {})",
            t.path,
            errno_or_text(r)
        ),
        None => format!("opened {what} read-only through {}", t.path),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use isoprobe_probes::contract::{CallError, Called, Done};
    use nix::errno::Errno;

    const VDA: DevNumber = DevNumber {
        major: 254,
        minor: 0,
    };
    const KVM: DevNumber = DevNumber {
        major: 10,
        minor: 232,
    };

    fn disk() -> HostDisk {
        HostDisk {
            name: "vda".into(),
            number: VDA,
        }
    }

    fn failed<T>(e: Errno) -> Called<T> {
        Called::Failed(CallError::from_errno(e))
    }

    fn targets(disk_opens: Result<(), String>) -> Vec<Target> {
        let t = |name: &str, block, number, read_sector, host_open| Target {
            node: HostNode {
                name: name.into(),
                block,
                number,
                read_sector,
            },
            host_open,
        };
        vec![
            t("vda", true, VDA, true, disk_opens),
            t("mem", false, MEM, false, Err("the host has no /dev/mem".into())),
            t("kvm", false, KVM, false, Ok(())),
        ]
    }

    fn refused(name: &str) -> NodeTried {
        NodeTried {
            name: name.into(),
            path: format!("/tmp/isoprobe-dev-2-{name}"),
            mknod: failed(Errno::EPERM),
            open: None,
            read_bytes: None,
            removed: None,
        }
    }

    fn reached(name: &str, read: Option<Called<usize>>) -> NodeTried {
        NodeTried {
            mknod: Called::Done(Done::Ok),
            open: Some(Called::Done(Done::Ok)),
            read_bytes: read,
            removed: Some(Called::Done(Done::Ok)),
            ..refused(name)
        }
    }

    fn entry(name: &str, kind: &str, n: Option<(u32, u32)>) -> DevEntry {
        DevEntry {
            name: name.into(),
            kind: kind.into(),
            number: n.map(|(major, minor)| DevNumber { major, minor }),
            target: None,
        }
    }

    fn standard_dev() -> Vec<DevEntry> {
        let mut v: Vec<DevEntry> = STANDARD_DEVICES
            .iter()
            .map(|d| entry(d.name, "char", Some((d.major, d.minor))))
            .collect();
        v.push(entry("ptmx", "link", None));
        v.push(entry("pts", "dir", None));
        v.push(entry("pts/ptmx", "char", Some((5, 2))));
        v.push(entry("pts/0", "char", Some((136, 0))));
        v.push(entry("fd", "link", None));
        v
    }

    fn confined() -> DevicesOutcome {
        DevicesOutcome {
            dev: Called::Done(standard_dev()),
            nodes: vec![refused("vda"), refused("mem"), refused("kvm")],
        }
    }

    fn with_node(i: usize, n: NodeTried) -> DevicesOutcome {
        let mut p = confined();
        p.nodes[i] = n;
        p
    }

    #[test]
    fn holds_when_mknod_or_open_is_refused_and_dev_is_standard() {
        let v = judge(&confined(), &targets(Ok(())));
        v.assert_holds();
        assert_eq!(
            v.observed["not_openable_on_the_host"],
            json!(["mem: the host has no /dev/mem"])
        );
        // nodev under the node: made, but the open is refused.
        let p = with_node(
            0,
            NodeTried {
                open: Some(failed(Errno::EACCES)),
                read_bytes: None,
                ..reached("vda", None)
            },
        );
        judge(&p, &targets(Ok(()))).assert_holds();
    }

    #[test]
    fn a_sector_read_a_device_opened_or_an_extra_node_is_a_violation() {
        let p = with_node(0, reached("vda", Some(Called::Done(512))));
        judge(&p, &targets(Ok(())))
            .assert_violated("read a sector of the host device vda (b 254:0) (512 bytes");
        let p = with_node(2, reached("kvm", None));
        judge(&p, &targets(Ok(())))
            .assert_violated("opened the host device kvm (c 10:232) read-only");
        let mut dev = standard_dev();
        dev.push(entry("vda", "block", Some((254, 0))));
        dev[0].number = Some(DevNumber { major: 1, minor: 1 });
        let p = DevicesOutcome {
            dev: Called::Done(dev),
            ..confined()
        };
        let v = judge(&p, &targets(Ok(())));
        v.assert_violated("beyond the standard ones: vda (block 254:0)");
        v.assert_violated("beyond the standard ones: null (char 1:1)");
    }

    #[test]
    fn a_device_the_host_cannot_open_is_recorded_not_judged() {
        // The disk refused in the container, but also to the host's root: only kvm counts.
        let t = targets(Err("EPERM".into()));
        let v = judge(&confined(), &t);
        v.assert_holds();
        assert_eq!(
            v.observed["not_openable_on_the_host"][0],
            json!("vda: EPERM")
        );
        // Nothing left that the host could open: nothing shown.
        let mut t = t;
        t[2].host_open = Err("ENXIO".into());
        judge(&confined(), &t).assert_inconclusive("no host device the host's own root can open");
    }

    #[test]
    fn another_errno_or_an_unlisted_dev_is_untested() {
        let p = with_node(
            2,
            NodeTried {
                mknod: failed(Errno::EROFS),
                ..refused("kvm")
            },
        );
        judge(&p, &targets(Ok(())))
            .assert_inconclusive("mknod of the host device kvm (c 10:232) gave EROFS");
        let p = DevicesOutcome {
            dev: failed(Errno::ENOENT),
            ..confined()
        };
        judge(&p, &targets(Ok(()))).assert_inconclusive("/dev could not be listed: ENOENT");
    }

    #[test]
    fn the_disk_is_the_roots_else_the_first_real_one() {
        let sys = [
            ("loop0".to_string(), "7:0\n".to_string()),
            ("vda".to_string(), "254:0\n".to_string()),
            ("zram0".to_string(), "252:0\n".to_string()),
        ];
        assert_eq!(pick_disk(Some(VDA), &sys), Some(disk()));
        // An initramfs root (a tmpfs, major 0): the first disk that is not a loop or zram.
        assert_eq!(
            pick_disk(Some(DevNumber { major: 0, minor: 30 }), &sys),
            Some(disk())
        );
        assert_eq!(pick_disk(None, &sys[..1]), None);
        assert_eq!(parse_dev("8:1\n"), Some(DevNumber { major: 8, minor: 1 }));
        assert_eq!(parse_dev("x"), None);
    }
}
