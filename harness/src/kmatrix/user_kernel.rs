//! A kernel image the user built (`isoprobe matrix --kernel PATH`), booted as it is instead of
//! a Debian one: recognised by its x86 boot header before anything starts, named by the
//! version string the header points at, and, when it does not get as far as the guest's
//! report, diagnosed from its console (what it lacks, rather than a bare timeout).

use super::catalogue::KernelSpec;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Where the x86 boot protocol puts its magic `HdrS` (Documentation/arch/x86/boot.rst).
const MAGIC_AT: usize = 0x202;
const MAGIC: &[u8; 4] = b"HdrS";
/// The boot protocol version (u16, little endian).
const VERSION_AT: usize = 0x206;
/// `kernel_version`: a pointer, less 0x200, to the NUL-terminated version string.
const KERNEL_VERSION_AT: usize = 0x20e;
/// How much of the image is read to judge it: the header and the version string after it.
const HEAD: u64 = 64 << 10;

/// What the boot header of a bzImage says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BzImage {
    /// The boot protocol version, e.g. (2, 15).
    pub protocol: (u8, u8),
    /// `6.1.0-57-cloud-amd64 (debian-kernel@...) #1 SMP ...`, when it lies in the bytes read.
    pub version: Option<String>,
}

impl BzImage {
    /// `uname -r` of the kernel: the version string's first word.
    pub fn release(&self) -> Option<&str> {
        self.version.as_deref()?.split_whitespace().next()
    }
}

/// Why a file is not a kernel image isoprobe can boot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotABzImage {
    #[error("it is {len} bytes long, too short for an x86 boot header (at least {} bytes)", MAGIC_AT + 4)]
    TooShort { len: usize },
    #[error(
        "it has no x86 boot header: the bytes at 0x202 are {found:02x?}, not \"HdrS\" (an ELF \
         vmlinux, a compressed or an arm64 Image is not a bzImage)"
    )]
    NoMagic { found: Vec<u8> },
}

/// Reads the x86 boot header at the start of a kernel image.
pub fn parse_bzimage(head: &[u8]) -> Result<BzImage, NotABzImage> {
    let Some(magic) = head.get(MAGIC_AT..MAGIC_AT + 4) else {
        return Err(NotABzImage::TooShort { len: head.len() });
    };
    if magic != MAGIC {
        return Err(NotABzImage::NoMagic {
            found: magic.to_vec(),
        });
    }
    let u16_at = |at: usize| {
        head.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let protocol = u16_at(VERSION_AT).map_or((0, 0), |v| ((v >> 8) as u8, v as u8));
    let version = u16_at(KERNEL_VERSION_AT)
        .filter(|p| *p != 0)
        .and_then(|p| head.get(p as usize + 0x200..))
        .and_then(|rest| {
            let end = rest.iter().position(|b| *b == 0)?;
            let s = std::str::from_utf8(&rest[..end]).ok()?.trim();
            (!s.is_empty()).then(|| s.to_string())
        });
    Ok(BzImage { protocol, version })
}

/// Why `--kernel PATH` was refused before anything booted.
#[derive(Debug, thiserror::Error)]
pub enum UserKernelError {
    #[error(
        "--kernel `{}`: cannot read it: {source}; give the path of a kernel image you built \
         (arch/x86/boot/bzImage)", path.display()
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "--kernel `{}` is not a kernel image: {why}; give arch/x86/boot/bzImage of your build \
         (make bzImage), not vmlinux", path.display()
    )]
    NotAKernel { path: PathBuf, why: NotABzImage },
}

/// The spec of the image at `path`: named by its release (or its file name), its package the
/// path itself, booted from there.
pub fn spec_for(path: &Path) -> Result<KernelSpec, UserKernelError> {
    let read = |source| UserKernelError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read)?;
    if !meta.is_file() {
        return Err(read(std::io::Error::other("not a regular file")));
    }
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(HEAD).read_to_end(&mut head))
        .map_err(read)?;
    let image = parse_bzimage(&head).map_err(|why| UserKernelError::NotAKernel {
        path: path.to_path_buf(),
        why,
    })?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let release = image.release().map(String::from).unwrap_or(file_name);
    Ok(KernelSpec {
        name: release.clone(),
        suite: "user".into(),
        package: path.display().to_string(),
        version: image.version.clone().unwrap_or_else(|| "unknown".into()),
        release,
        image: Some(path.to_path_buf()),
    })
}

/// What a console that ended without a report says about the kernel: the first sign found,
/// as advice naming the configuration it points at.
pub fn diagnose(console: &str) -> Option<String> {
    let has = |s: &str| console.contains(s);
    let after_firmware = console
        .rsplit("Booting from ROM...")
        .next()
        .unwrap_or(console)
        .trim_matches(|c: char| c.is_whitespace() || c.is_control() || "[?7l2J0mc".contains(c));
    if !has("Linux version") && after_firmware.is_empty() {
        return Some(
            "the kernel wrote nothing on the serial console after the firmware: it did not \
             start (an incomplete or damaged image), or it has no 8250 serial console \
             (CONFIG_SERIAL_8250=y, CONFIG_SERIAL_8250_CONSOLE=y)"
                .into(),
        );
    }
    let signs: [(&str, &str); 6] = [
        (
            "Unable to mount root fs",
            "it found no initramfs to run: build it with CONFIG_BLK_DEV_INITRD=y (isoprobe's \
             initramfs is an uncompressed newc cpio)",
        ),
        (
            "No working init found",
            "it could not run isoprobe as /init: build it with CONFIG_BINFMT_ELF=y and \
             CONFIG_BINFMT_SCRIPT=y for x86-64",
        ),
        (
            "Failed to execute /init",
            "it could not run isoprobe as /init: build it with CONFIG_BINFMT_ELF=y for x86-64",
        ),
        (
            "devtmpfs",
            "the guest could not mount devtmpfs: build it with CONFIG_DEVTMPFS=y",
        ),
        (
            "cgroup",
            "the guest could not mount its cgroups: build it with CONFIG_CGROUPS=y and the \
             controllers (CONFIG_CGROUP_SCHED, CONFIG_CFS_BANDWIDTH, CONFIG_CGROUP_PIDS, \
             CONFIG_MEMCG)",
        ),
        (
            "Kernel panic",
            "the kernel panicked before the guest reported (its line is in the console's tail)",
        ),
    ];
    let guest_error = console
        .lines()
        .find(|l| l.contains(super::guest::GUEST_ERROR));
    signs.iter().find_map(|(sign, advice)| {
        let seen = match *sign {
            // These two are the guest's own words: only its error line counts.
            "devtmpfs" | "cgroup" => guest_error.is_some_and(|l| l.contains(sign)),
            _ => has(sign),
        };
        seen.then(|| advice.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first bytes of Debian's 6.1.0-57-cloud-amd64 vmlinuz, as a hex dump.
    fn debian_head() -> Vec<u8> {
        let hex = isoprobe_fixtures::text("kernel/vmlinuz-6.1-head.hex").unwrap();
        let digits: Vec<u8> = hex.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
            .collect()
    }

    #[test]
    fn a_debian_bzimage_is_recognised_with_its_protocol() {
        let head = debian_head();
        let b = parse_bzimage(&head).unwrap();
        assert_eq!(b.protocol, (2, 15));
        // The version string lies past the bytes kept in the fixture.
        assert_eq!(b.version, None);
        let mut longer = head.clone();
        let at = 0x600;
        longer.resize(at, 0);
        longer.extend_from_slice(b"6.1.0-57-cloud-amd64 (debian-kernel@lists.debian.org) #1\0");
        longer[KERNEL_VERSION_AT..KERNEL_VERSION_AT + 2]
            .copy_from_slice(&((at - 0x200) as u16).to_le_bytes());
        let b = parse_bzimage(&longer).unwrap();
        assert_eq!(b.release(), Some("6.1.0-57-cloud-amd64"));
    }

    #[test]
    fn other_files_are_not_kernels() {
        let proc_text = isoprobe_fixtures::text("proc/mountinfo-hybrid").unwrap();
        assert!(matches!(
            parse_bzimage(proc_text.as_bytes()),
            Err(NotABzImage::NoMagic { .. })
        ));
        assert_eq!(
            parse_bzimage(b"\x7fELF"),
            Err(NotABzImage::TooShort { len: 4 })
        );
        let e = parse_bzimage(&[0u8; 0x300]).unwrap_err().to_string();
        assert!(e.contains("not \"HdrS\""), "{e}");
    }

    #[test]
    fn a_file_that_is_no_kernel_is_refused_with_its_path() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("notes.txt");
        std::fs::write(&p, "not a kernel\n".repeat(100)).unwrap();
        let e = spec_for(&p).unwrap_err().to_string();
        assert!(e.contains("notes.txt` is not a kernel image"), "{e}");
        let e = spec_for(&t.path().join("missing")).unwrap_err().to_string();
        assert!(e.contains("cannot read it"), "{e}");
        let e = spec_for(t.path()).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }

    #[test]
    fn a_console_says_what_the_kernel_lacks() {
        let firmware = "\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS (version 1.16.2)\nBooting from ROM...\n\x1bc\x1b[?7l\x1b[2J";
        assert!(diagnose(firmware).unwrap().contains("did not start"));
        let no_initrd = format!(
            "{firmware}\n[    1.0] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n"
        );
        assert!(diagnose(&no_initrd)
            .unwrap()
            .contains("CONFIG_BLK_DEV_INITRD"));
        let cg = format!(
            "{firmware}\n[ 1.0] Run /init as init process\nISOPROBE-GUEST-ERROR mount cgroup2 on /sys/fs/cgroup: ENODEV\n"
        );
        assert!(diagnose(&cg).unwrap().contains("CONFIG_CGROUPS"));
        // The word alone, in a kernel message, is no sign.
        let fine = format!("{firmware}\n[ 0.5] cgroup: Disabling memory control group subsystem\n");
        assert_eq!(diagnose(&fine), None);
    }
}
