//! `/proc/<pid>/mountinfo` through procfs-core, plus the two things it leaves to its callers:
//! the kernel's octal escapes in paths, and saying which line was bad.

use super::ParseError;
use procfs_core::process::MountInfo;
use std::path::PathBuf;

/// Every entry of a mountinfo text, in order, with `mount_point` and `root` unescaped.
pub(crate) fn parse_mountinfo(text: &str) -> Result<Vec<MountInfo>, ParseError> {
    let mut mounts = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        // procfs-core's own message blames itself ("please report this procfs bug") for what is
        // a bad input here, so it is replaced rather than passed on.
        let mut m = MountInfo::from_line(line).map_err(|_| {
            ParseError::new(format!(
                "mountinfo line {} is not a mountinfo entry \
                 (`ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS`): {line:?}",
                i + 1
            ))
        })?;
        m.mount_point = PathBuf::from(unescape(&m.mount_point.to_string_lossy()));
        m.root = unescape(&m.root);
        mounts.push(m);
    }
    Ok(mounts)
}

/// Undoes the kernel's `\ooo` escaping (`show_mountinfo` escapes space, tab, newline and
/// backslash so that fields stay space-separated). procfs-core keeps the escapes, so a mount
/// point `/media/USB DISK` would otherwise come out as `/media/USB\040DISK`.
pub(crate) fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            let digits = &b[i + 1..i + 4];
            if digits[0] <= b'3' && digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                out.push((digits[0] - b'0') << 6 | (digits[1] - b'0') << 3 | (digits[2] - b'0'));
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::space(r"/media/USB\040DISK", "/media/USB DISK")]
    #[case::tab_newline_backslash(r"/a\011b\012c\134d", "/a\tb\nc\\d")]
    #[case::nothing_to_do("/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpu,cpuacct")]
    #[case::not_octal(r"/x\09y", r"/x\09y")]
    #[case::too_big_for_a_byte(r"/x\400", r"/x\400")]
    #[case::cut_short_at_the_end(r"/x\04", r"/x\04")]
    #[case::trailing_backslash(r"/x\", r"/x\")]
    fn unescapes_octal_like_the_kernel_escapes(#[case] raw: &str, #[case] want: &str) {
        assert_eq!(unescape(raw), want);
    }

    #[test]
    fn real_hybrid_sample_parses_with_unescaped_paths() {
        let m = parse_mountinfo(include_str!("../../../fixtures/proc/mountinfo-hybrid")).unwrap();
        assert_eq!(m.len(), 19);
        assert_eq!(m[5].mount_point, PathBuf::from("/"));
        assert_eq!(m[5].fs_type, "ext4");
    }

    #[test]
    fn escaped_mount_point_and_root() {
        let line = r"36 35 98:0 /my\040dir /mnt/a\040b rw,noatime master:1 - ext3 /dev/root rw,errors=continue";
        let m = parse_mountinfo(line).unwrap();
        assert_eq!(m[0].mount_point, PathBuf::from("/mnt/a b"));
        assert_eq!(m[0].root, "/my dir");
    }

    #[rstest]
    #[case::garbage("hello world", 1)]
    #[case::no_separator("22 27 0:21 / /proc rw,relatime proc proc rw", 1)]
    #[case::nothing_after_separator("22 27 0:21 / /proc rw,relatime -", 1)]
    #[case::bad_id("x 27 0:21 / /proc rw,relatime - proc proc rw", 1)]
    #[case::second_line("22 27 0:21 / /proc rw,relatime - proc proc rw\n\n23 27", 3)]
    fn bad_lines_are_named(#[case] text: &str, #[case] line: usize) {
        let e = parse_mountinfo(text).unwrap_err();
        assert!(e.what.contains(&format!("line {line} ")), "{e}");
    }

    #[test]
    fn empty_text_is_no_mounts() {
        assert!(parse_mountinfo("").unwrap().is_empty());
    }
}
