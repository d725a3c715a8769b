//! The initramfs a guest boots: an uncompressed cpio (newc) archive holding isoprobe as /init,
//! the shared libraries it is linked against (the isoprobe binary is dynamic; copying it with
//! its few libraries keeps the build as it is, where a static glibc build would need another
//! target and toolchain), /dev/console, and the empty directories /init mounts on.
//!
//! Uncompressed because every Debian kernel unpacks it, the archive is written in well under a
//! second, and gzip would cost more time under TCG than the larger image costs to load.

use super::error::{CpioError, InitramfsError, IoStep, ToolError};
use std::fs;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// Directories /init mounts on (proc, sys, dev, tmp) or switches root into (newroot).
pub const EMPTY_DIRS: [&str; 5] = ["proc", "sys", "dev", "tmp", "newroot"];

/// Writes an uncompressed cpio (newc) initramfs: /init = a copy of `isoprobe_exe` (plus the
/// shared libraries it needs, at their paths, if it is dynamic), /dev/console, and the empty
/// dirs /proc /sys /dev /tmp /newroot.
pub fn build(out: &Path, isoprobe_exe: &Path) -> Result<(), InitramfsError> {
    let exe = fs::read(isoprobe_exe).map_err(IoStep::on("read", isoprobe_exe))?;
    let libs = shared_libraries(isoprobe_exe)?;
    let mut files: Vec<(String, Vec<u8>)> = vec![("init".into(), exe)];
    for lib in &libs {
        // Read through symlinks (/lib64/ld-linux-x86-64.so.2 is one): the archive holds a
        // regular file at each path the loader asks for, so no link target must exist.
        let bytes = fs::read(lib).map_err(IoStep::on("read library", lib))?;
        files.push((archive_name(lib)?, bytes));
    }
    let mut w = CpioWriter::new(Vec::new());
    let mut dirs: Vec<String> = EMPTY_DIRS.iter().map(|d| d.to_string()).collect();
    for (name, _) in &files {
        dirs.extend(parents(name));
    }
    dirs.sort();
    dirs.dedup();
    // Sorted, each parent comes before its children, as the kernel's unpacker needs.
    for d in &dirs {
        w.dir(d, 0o755).map_err(InitramfsError::Cpio)?;
    }
    w.char_device("dev/console", 0o600, 5, 1)
        .map_err(InitramfsError::Cpio)?;
    for (name, bytes) in &files {
        w.file(name, 0o755, bytes).map_err(InitramfsError::Cpio)?;
    }
    let archive = w.finish().map_err(InitramfsError::Cpio)?;
    // Written aside and renamed, so that a reader never boots half an archive.
    let tmp = out.with_extension("partial");
    fs::write(&tmp, &archive).map_err(IoStep::on("write", &tmp))?;
    fs::rename(&tmp, out).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        IoStep::on("move the archive to", out)(e)
    })?;
    Ok(())
}

/// The shared libraries (and the loader) `exe` is linked against; none when it is static.
pub fn shared_libraries(exe: &Path) -> Result<Vec<PathBuf>, InitramfsError> {
    let command = format!("ldd {}", exe.display());
    let out = Command::new("ldd")
        .arg(exe)
        .output()
        .map_err(|source| ToolError::Start {
            command: command.clone(),
            source,
            advice: "ldd comes with libc-bin",
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // ldd exits 1 for a static binary and says so on either stream, depending on the version.
    if is_static(&text) || is_static(&stderr) {
        return Ok(Vec::new());
    }
    if !out.status.success() {
        return Err(ToolError::failed(command, out.status, &out.stderr, 6).into());
    }
    parse_ldd(&text)
}

fn is_static(ldd_output: &str) -> bool {
    ldd_output.contains("not a dynamic executable") || ldd_output.contains("statically linked")
}

/// The paths in `ldd` output: `name => /path (addr)` and the loader's `/path (addr)`. The vDSO
/// has no file; a library ldd could not find is an error, since the guest could not run.
pub fn parse_ldd(text: &str) -> Result<Vec<PathBuf>, InitramfsError> {
    let mut paths = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let target = match line.split_once("=>") {
            Some((name, rest)) => {
                let rest = rest.trim();
                if rest.starts_with("not found") {
                    return Err(InitramfsError::LibraryNotFound {
                        name: name.trim().to_string(),
                    });
                }
                rest
            }
            None => line,
        };
        let path = target.split_whitespace().next().unwrap_or("");
        if path.starts_with('/') {
            paths.push(PathBuf::from(path));
        }
    }
    paths.sort();
    paths.dedup();
    Ok(paths)
}

/// `/lib/x86_64-linux-gnu/libc.so.6` -> `lib/x86_64-linux-gnu/libc.so.6`, refusing `..`.
fn archive_name(path: &Path) -> Result<String, InitramfsError> {
    let unexpected = || InitramfsError::LibraryPath {
        path: path.to_path_buf(),
    };
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            _ => return Err(unexpected()),
        }
    }
    if parts.is_empty() {
        return Err(unexpected());
    }
    Ok(parts.join("/"))
}

/// Every ancestor directory of an archive name: `a/b/c` -> `a`, `a/b`.
fn parents(name: &str) -> Vec<String> {
    let parts: Vec<&str> = name.split('/').collect();
    (1..parts.len()).map(|n| parts[..n].join("/")).collect()
}

const NEWC_MAGIC: &str = "070701";
const TRAILER: &str = "TRAILER!!!";
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFCHR: u32 = 0o020000;

/// A writer of the newc cpio format the kernel unpacks (`Documentation/driver-api/
/// early-userspace/buffer-format.rst`): a 110-byte ASCII header, the NUL-terminated name padded
/// to 4 bytes, the data padded to 4 bytes, and a `TRAILER!!!` entry at the end.
pub struct CpioWriter<W: Write> {
    out: W,
    written: u64,
    next_ino: u32,
}

struct Header<'a> {
    name: &'a str,
    mode: u32,
    nlink: u32,
    size: u32,
    rdev: (u32, u32),
}

impl<W: Write> CpioWriter<W> {
    pub fn new(out: W) -> Self {
        CpioWriter {
            out,
            written: 0,
            // Inode 0 is avoided: some readers take it as "no inode".
            next_ino: 1,
        }
    }

    pub fn dir(&mut self, name: &str, perm: u32) -> io::Result<()> {
        self.entry(
            Header {
                name,
                mode: S_IFDIR | perm,
                nlink: 2,
                size: 0,
                rdev: (0, 0),
            },
            &[],
        )
    }

    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) -> io::Result<()> {
        let size = u32::try_from(data.len()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name}: newc cannot hold a file of 4 GiB or more"),
            )
        })?;
        self.entry(
            Header {
                name,
                mode: S_IFREG | perm,
                nlink: 1,
                size,
                rdev: (0, 0),
            },
            data,
        )
    }

    pub fn char_device(&mut self, name: &str, perm: u32, major: u32, minor: u32) -> io::Result<()> {
        self.entry(
            Header {
                name,
                mode: S_IFCHR | perm,
                nlink: 1,
                size: 0,
                rdev: (major, minor),
            },
            &[],
        )
    }

    /// Writes the trailer and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.entry(
            Header {
                name: TRAILER,
                mode: 0,
                nlink: 1,
                size: 0,
                rdev: (0, 0),
            },
            &[],
        )?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn entry(&mut self, h: Header, data: &[u8]) -> io::Result<()> {
        if h.name.is_empty() || h.name.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad cpio entry name {:?}", h.name),
            ));
        }
        let ino = if h.name == TRAILER { 0 } else { self.next_ino };
        self.next_ino += 1;
        let fields = [
            ino,
            h.mode,
            0, // uid
            0, // gid
            h.nlink,
            0, // mtime: fixed, so the same inputs give the same archive
            h.size,
            0, // devmajor
            0, // devminor
            h.rdev.0,
            h.rdev.1,
            h.name.len() as u32 + 1,
            0, // check: only used by the crc format
        ];
        let mut header = String::with_capacity(110);
        header.push_str(NEWC_MAGIC);
        for f in fields {
            header.push_str(&format!("{f:08X}"));
        }
        self.put(header.as_bytes())?;
        self.put(h.name.as_bytes())?;
        self.put(&[0])?;
        self.pad()?;
        self.put(data)?;
        self.pad()
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> io::Result<()> {
        let n = (4 - (self.written % 4) as usize) % 4;
        self.put(&[0u8; 3][..n])
    }
}

/// One entry read back from a newc archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpioEntry {
    pub name: String,
    pub mode: u32,
    pub rdev: (u32, u32),
    pub data: Vec<u8>,
}

/// Reads a newc archive up to its trailer (used by the tests, and to inspect an image).
pub fn read_cpio(bytes: &[u8]) -> Result<Vec<CpioEntry>, CpioError> {
    let mut entries = Vec::new();
    let mut pos = 0usize;
    let align = |n: usize| n.div_ceil(4) * 4;
    loop {
        let bad = |what: String| CpioError { what, offset: pos };
        let header = bytes
            .get(pos..pos + 110)
            .ok_or_else(|| bad("truncated header".into()))?;
        let header = std::str::from_utf8(header).map_err(|_| bad("bad header".into()))?;
        if &header[..6] != NEWC_MAGIC {
            return Err(bad(format!("bad magic {:?}", &header[..6])));
        }
        let field = |i: usize| {
            u32::from_str_radix(&header[6 + 8 * i..14 + 8 * i], 16)
                .map_err(|_| bad(format!("bad header field {i}")))
        };
        let (mode, size, rmaj, rmin, namesize) =
            (field(1)?, field(6)?, field(9)?, field(10)?, field(11)?);
        let name_start = pos + 110;
        let name_bytes = bytes
            .get(name_start..name_start + namesize as usize)
            .ok_or_else(|| bad("truncated name".into()))?;
        let name = name_bytes
            .strip_suffix(&[0])
            .ok_or_else(|| bad("name without NUL".into()))?;
        let name = std::str::from_utf8(name)
            .map_err(|_| bad("name is not UTF-8".into()))?
            .to_string();
        let data_start = align(name_start + namesize as usize);
        let data = bytes
            .get(data_start..data_start + size as usize)
            .ok_or_else(|| bad(format!("truncated data of {name}")))?
            .to_vec();
        pos = align(data_start + size as usize);
        if name == TRAILER {
            return Ok(entries);
        }
        entries.push(CpioEntry {
            name,
            mode,
            rdev: (rmaj, rmin),
            data,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LDD_DYNAMIC: &str = "\tlinux-vdso.so.1 (0x00007ffd5a3f2000)
\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f35abb8c000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f35aae1e000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f35abbbf000)
";

    #[test]
    fn ldd_output_gives_the_libraries_and_the_loader() {
        let libs = parse_ldd(LDD_DYNAMIC).unwrap();
        assert_eq!(
            libs,
            vec![
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
    }

    #[test]
    fn ldd_missing_library_is_an_error() {
        let e = parse_ldd("\tlibfoo.so.1 => not found\n").unwrap_err();
        assert!(e.to_string().contains("libfoo.so.1"), "{e}");
    }

    #[test]
    fn static_binaries_are_recognised() {
        assert!(is_static("\tnot a dynamic executable\n"));
        assert!(is_static("\tstatically linked\n"));
        assert!(!is_static(LDD_DYNAMIC));
    }

    #[test]
    fn names_and_parents() {
        assert_eq!(
            archive_name(Path::new("/lib64/ld-linux-x86-64.so.2")).unwrap(),
            "lib64/ld-linux-x86-64.so.2"
        );
        assert!(archive_name(Path::new("/lib/../etc/passwd")).is_err());
        assert_eq!(parents("a/b/c"), vec!["a", "a/b"]);
        assert!(parents("init").is_empty());
    }

    fn sample_archive() -> Vec<u8> {
        let mut w = CpioWriter::new(Vec::new());
        w.dir("dev", 0o755).unwrap();
        w.char_device("dev/console", 0o600, 5, 1).unwrap();
        w.file("init", 0o755, b"#!binary").unwrap();
        // Sizes 0..=4 cover every padding case.
        for n in 0..5 {
            w.file(&format!("f{n}"), 0o644, &b"abcd"[..n]).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn cpio_round_trips_through_our_reader() {
        let bytes = sample_archive();
        assert_eq!(bytes.len() % 4, 0);
        let entries = read_cpio(&bytes).unwrap();
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            vec!["dev", "dev/console", "init", "f0", "f1", "f2", "f3", "f4"]
        );
        assert_eq!(entries[0].mode, 0o040755);
        assert_eq!(entries[1].mode, 0o020600);
        assert_eq!(entries[1].rdev, (5, 1));
        assert_eq!(entries[2].mode, 0o100755);
        assert_eq!(entries[2].data, b"#!binary");
        assert_eq!(entries[7].data, b"abcd");
    }

    /// GNU cpio on `archive`, which must succeed; its stdout.
    fn cpio(flags: &[&str], archive: &Path, names: &[&str], cwd: &Path) -> String {
        let out = Command::new("cpio")
            .args(flags)
            .arg(archive)
            .args(names)
            .current_dir(cwd)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn cpio_is_read_by_gnu_cpio() {
        let Ok(probe) = Command::new("cpio").arg("--version").output() else {
            crate::testing::skip("cpio_is_read_by_gnu_cpio", "GNU cpio is not installed");
            return;
        };
        assert!(probe.status.success());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.cpio");
        fs::write(&path, sample_archive()).unwrap();
        let listing = cpio(&["-t", "-v", "--quiet", "-F"], &path, &[], dir.path());
        let lines: Vec<&str> = listing.lines().collect();
        assert_eq!(lines.len(), 8, "{listing}");
        assert!(lines[0].starts_with("drwxr-xr-x") && lines[0].ends_with(" dev"));
        assert!(lines[1].starts_with("crw-------") && lines[1].contains("5,"));
        assert!(lines[2].starts_with("-rwxr-xr-x") && lines[2].ends_with(" init"));
        // And its contents come out as written.
        let x = tempfile::tempdir().unwrap();
        cpio(
            &["-i", "--quiet", "--no-absolute-filenames", "-F"],
            &path,
            &["init", "f3"],
            x.path(),
        );
        assert_eq!(fs::read(x.path().join("init")).unwrap(), b"#!binary");
        assert_eq!(fs::read(x.path().join("f3")).unwrap(), b"abc");
    }

    #[test]
    fn build_holds_init_its_libraries_and_the_mount_points() {
        let exe = std::env::current_exe().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("initramfs.cpio");
        build(&out, &exe).unwrap();
        let entries = read_cpio(&fs::read(&out).unwrap()).unwrap();
        let find = |n: &str| entries.iter().find(|e| e.name == n);
        assert_eq!(find("init").unwrap().data, fs::read(&exe).unwrap());
        assert_eq!(find("dev/console").unwrap().rdev, (5, 1));
        for d in EMPTY_DIRS {
            assert_eq!(find(d).unwrap().mode, S_IFDIR | 0o755, "{d}");
        }
        for lib in shared_libraries(&exe).unwrap() {
            let name = archive_name(&lib).unwrap();
            let e = find(&name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(e.data, fs::read(&lib).unwrap());
            for p in parents(&name) {
                assert!(find(&p).is_some(), "parent {p} of {name} missing");
            }
        }
        assert!(!dir.path().join("initramfs.partial").exists());
    }
}
