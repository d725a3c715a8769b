//! `devices`: what `/dev` holds, and whether host devices are reachable through nodes the
//! container makes itself.
//!
//! Each node goes in `/dev` (the container's own, a tmpfs where runtimes make one), and where
//! it does not open there, in `/tmp` too (a scratch place of the container's own root): a
//! mount with `nodev` refuses every node on it whatever the device cgroup says, and which of
//! the two has `nodev` differs between runtimes and machines (bwrap binds everything `nodev`; a
//! kernel-matrix guest's temporary directory is). A node that opens in either is a reachable
//! device. It is opened read-only (non-blocking, never as a controlling terminal) and, for the
//! disk, read for one sector, of which only the byte count is reported. Every node is removed
//! again. Nothing here writes to a device or sends it a request.

use crate::contract::{
    unit, CallError, Called, DevEntry, DevNumber, DevicesArgs, DevicesOutcome, Done, HostNode,
    NodeTried,
};
use nix::sys::stat::{mknod, Mode, SFlag};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

const SECTOR: usize = 512;

pub fn run(args: &DevicesArgs) -> DevicesOutcome {
    // Listed first: the nodes made below must not be counted.
    let dev = Called::from_io(list("/dev"));
    let me = std::process::id();
    let nodes = args
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let name = format!("isoprobe-dev-{me}-{i}");
            let in_dev = node(&format!("/dev/{name}"), n);
            if opened(&in_dev) {
                return in_dev;
            }
            let in_tmp = node(&format!("/tmp/{name}"), n);
            // The attempt that got furthest tells most: a node that could not even be made in
            // /dev (a read-only or missing /dev) says less than one made and refused in /tmp.
            if opened(&in_tmp) || in_dev.open.is_none() {
                in_tmp
            } else {
                in_dev
            }
        })
        .collect();
    DevicesOutcome { dev, nodes }
}

fn list(dir: &str) -> std::io::Result<Vec<DevEntry>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        let entry = describe(&path, name)?;
        let is_dir = entry.kind == "dir";
        let prefix = entry.name.clone();
        out.push(entry);
        if is_dir && dir == "/dev" {
            // One level down (pts, shm): a runtime's standard /dev has only pts there.
            if let Ok(inner) = list(&path.to_string_lossy()) {
                out.extend(inner.into_iter().map(|mut i| {
                    i.name = format!("{prefix}/{}", i.name);
                    i
                }));
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn describe(path: &std::path::Path, name: String) -> std::io::Result<DevEntry> {
    let m = std::fs::symlink_metadata(path)?;
    let t = m.file_type();
    let kind = super::dev_null::kind(t);
    let number = (t.is_char_device() || t.is_block_device()).then(|| DevNumber {
        major: libc::major(m.rdev()),
        minor: libc::minor(m.rdev()),
    });
    let target = t
        .is_symlink()
        .then(|| std::fs::read_link(path).ok())
        .flatten()
        .map(|p| p.to_string_lossy().into_owned());
    Ok(DevEntry {
        name,
        kind: kind.into(),
        number,
        target,
    })
}

fn opened(t: &NodeTried) -> bool {
    matches!(t.open, Some(Called::Done(_)))
}

fn node(path: &str, n: &HostNode) -> NodeTried {
    let kind = if n.block {
        SFlag::S_IFBLK
    } else {
        SFlag::S_IFCHR
    };
    let made = unit(mknod(
        path,
        kind,
        Mode::from_bits_truncate(0o600),
        libc::makedev(n.number.major, n.number.minor),
    ));
    if made.failed().is_some() {
        return NodeTried {
            name: n.name.clone(),
            path: path.into(),
            mknod: made,
            open: None,
            read_bytes: None,
            removed: None,
        };
    }
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path);
    let (open, read_bytes) = match opened {
        Ok(mut f) => {
            let bytes = n.read_sector.then(|| {
                let mut buf = [0u8; SECTOR];
                Called::from_io(f.read(&mut buf))
            });
            (Called::Done(Done::Ok), bytes)
        }
        Err(e) => (Called::Failed(CallError::from_io(&e)), None),
    };
    NodeTried {
        name: n.name.clone(),
        path: path.into(),
        mknod: made,
        open: Some(open),
        read_bytes,
        removed: Some(Called::from_io(
            std::fs::remove_file(path).map(|()| Done::Ok),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_described_by_kind_and_number() {
        let dir = tempfile_dir();
        std::os::unix::fs::symlink("/proc/self/fd", dir.join("fd")).unwrap();
        std::fs::create_dir(dir.join("pts")).unwrap();
        let l = list(&dir.to_string_lossy()).unwrap();
        let names: Vec<_> = l
            .iter()
            .map(|e| (e.name.as_str(), e.kind.as_str()))
            .collect();
        assert_eq!(names, [("fd", "link"), ("pts", "dir")]);
        assert_eq!(l[0].target.as_deref(), Some("/proc/self/fd"));
        let null = describe(std::path::Path::new("/dev/null"), "null".into()).unwrap();
        assert_eq!(
            (null.kind.as_str(), null.number),
            ("char", Some(DevNumber { major: 1, minor: 3 }))
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("isoprobe-devlist-{}", std::process::id()));
        std::fs::create_dir(&d).unwrap();
        d
    }
}
