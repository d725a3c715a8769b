//! `dev_null`: what the image's `/dev/null` became inside the container. Looks (never writes
//! through them) at `/dev/null`, the stdio descriptors and the masked paths, and writes the
//! outcome to the report file as well as returning it: a runtime that reopened stdout onto the
//! image's target would swallow the stdout report.

use crate::contract::{
    Called, DevNullArgs, DevNullOutcome, DevNumber, MaskSeen, NodeSeen, StdioSeen,
};
use crate::parse::mount_at;
use nix::sys::stat::{major, minor};
use std::os::fd::BorrowedFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

pub fn run(args: &DevNullArgs) -> DevNullOutcome {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo");
    let outcome = DevNullOutcome {
        dev_null: Called::from_io(lstat("/dev/null")),
        stdio: (0..3u32).map(stdio).collect(),
        masked: args
            .masked
            .iter()
            .map(|p| MaskSeen {
                path: p.clone(),
                seen: Called::from_io(stat(p)),
                mount: match &mountinfo {
                    Ok(t) => match mount_at(t, p) {
                        Ok(m) => Called::Done(m),
                        Err(e) => Called::Failed(crate::contract::CallError::text(e.to_string())),
                    },
                    Err(e) => Called::Failed(crate::contract::CallError::from_io(e)),
                },
            })
            .collect(),
    };
    // The host reads this file; a failure to write it shows there as a missing report.
    if let Ok(json) = serde_json::to_vec(&outcome) {
        let _ = std::fs::write(&args.report, json);
    }
    outcome
}

/// A file's type in one word, as both `/dev` tries report it.
pub(super) fn kind(t: std::fs::FileType) -> &'static str {
    if t.is_char_device() {
        "char"
    } else if t.is_block_device() {
        "block"
    } else if t.is_symlink() {
        "link"
    } else if t.is_dir() {
        "dir"
    } else if t.is_file() {
        "file"
    } else if t.is_fifo() {
        "fifo"
    } else if t.is_socket() {
        "socket"
    } else {
        "other"
    }
}

fn seen(m: &std::fs::Metadata, target: Option<String>, fs_magic: u64) -> NodeSeen {
    let t = m.file_type();
    let number = (t.is_char_device() || t.is_block_device()).then(|| DevNumber {
        major: major(m.rdev()) as u32,
        minor: minor(m.rdev()) as u32,
    });
    NodeSeen {
        kind: kind(t).to_string(),
        number,
        target,
        fs_magic,
    }
}

fn magic_of(path: &str) -> u64 {
    nix::sys::statfs::statfs(path).map_or(0, |s| s.filesystem_type().0 as u64)
}

pub(super) fn lstat(path: &str) -> std::io::Result<NodeSeen> {
    let m = std::fs::symlink_metadata(path)?;
    let target = m
        .file_type()
        .is_symlink()
        .then(|| std::fs::read_link(path).map(|t| t.to_string_lossy().into_owned()))
        .transpose()?;
    // A link's own file system is its directory's.
    let dir = std::path::Path::new(path)
        .parent()
        .and_then(|d| d.to_str())
        .unwrap_or("/");
    let magic = if target.is_some() {
        magic_of(dir)
    } else {
        magic_of(path)
    };
    Ok(seen(&m, target, magic))
}

fn stat(path: &str) -> std::io::Result<NodeSeen> {
    let m = std::fs::metadata(path)?;
    Ok(seen(&m, None, magic_of(path)))
}

fn stdio(fd: u32) -> StdioSeen {
    // SAFETY: descriptors 0 to 2 are only looked at for the duration of these calls; a closed
    // one makes fstat fail with EBADF, which is reported.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd as i32) };
    let st = nix::sys::stat::fstat(borrowed).map_err(std::io::Error::from);
    let magic = nix::sys::statfs::fstatfs(borrowed).map_or(0, |s| s.filesystem_type().0 as u64);
    let seen = st.map(|s| {
        let fmt = s.st_mode & libc::S_IFMT;
        let kind = match fmt {
            libc::S_IFCHR => "char",
            libc::S_IFBLK => "block",
            libc::S_IFDIR => "dir",
            libc::S_IFREG => "file",
            libc::S_IFIFO => "fifo",
            libc::S_IFSOCK => "socket",
            libc::S_IFLNK => "link",
            _ => "other",
        };
        NodeSeen {
            kind: kind.to_string(),
            number: (fmt == libc::S_IFCHR || fmt == libc::S_IFBLK).then(|| DevNumber {
                major: major(s.st_rdev) as u32,
                minor: minor(s.st_rdev) as u32,
            }),
            target: None,
            fs_magic: magic,
        }
    });
    StdioSeen {
        fd,
        seen: Called::from_io(seen),
        path: Called::from_io(
            std::fs::read_link(format!("/proc/self/fd/{fd}"))
                .map(|p| p.to_string_lossy().into_owned()),
        ),
    }
}
