//! The static agent, built by `build.rs` and embedded here, so that one `isoprobe` binary is
//! all a user (or a kernel-matrix initramfs) needs; and the check that an agent given with
//! `--agent` can run in a container at all.
//!
//! A container's rootfs holds no dynamic loader or libraries (the fresh one holds nothing but
//! the agent), so a dynamically linked agent would fail at `execve` with ENOENT in every check.
//! Its ELF header says so before any container starts.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The bytes of the static `isoprobe-agent`.
pub const AGENT: &[u8] = include_bytes!(env!("ISOPROBE_AGENT_BIN"));

/// How a static agent for this machine is built; every message about a bad agent ends with it.
pub const BUILD_HINT: &str = "give a statically linked isoprobe-agent for this machine \
     (RUSTFLAGS='-C target-feature=+crt-static' cargo build --release -p isoprobe-probes --bin \
     isoprobe-agent --target <this machine's target triple>), or leave --agent out to use the \
     built-in one";

/// Why an `--agent` cannot be the agent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    #[error("--agent `{}`: {reason}; {BUILD_HINT}", .path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("--agent `{}` is not an executable file (chmod 0755 it); {BUILD_HINT}", .path.display())]
    NotExecutable { path: PathBuf },
    #[error("--agent `{}` is not an agent: {problem}; {BUILD_HINT}", .path.display())]
    Elf { path: PathBuf, problem: ElfProblem },
}

/// What is wrong with a file as a static executable for this machine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfProblem {
    #[error("it is a script for `{interpreter}`, and a container has no interpreter")]
    Script { interpreter: String },
    #[error("it is not an ELF executable (no \\x7fELF magic)")]
    NotElf,
    #[error("its ELF header is cut short or malformed ({what})")]
    Malformed { what: &'static str },
    #[error("it is an ELF {kind}, not an executable")]
    NotExecutable { kind: String },
    #[error("it is built for {found}, and this machine runs {host}")]
    WrongArch { found: String, host: String },
    #[error(
        "it is dynamically linked: it wants the interpreter `{interpreter}`, which a container's \
         rootfs does not have"
    )]
    Dynamic { interpreter: String },
}

/// Reads an agent given with `--agent` and checks that it is a static executable for this
/// machine.
pub fn read_agent(path: &Path) -> Result<Vec<u8>, AgentError> {
    let unreadable = |e: std::io::Error| AgentError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let meta = fs::metadata(path).map_err(unreadable)?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(AgentError::NotExecutable {
            path: path.to_path_buf(),
        });
    }
    let bytes = fs::read(path).map_err(unreadable)?;
    check_static_executable(&bytes).map_err(|problem| AgentError::Elf {
        path: path.to_path_buf(),
        problem,
    })?;
    Ok(bytes)
}

const PT_INTERP: u32 = 3;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;

/// The ELF class and machine this build of isoprobe runs on.
fn host() -> (u8, u16) {
    let class = if cfg!(target_pointer_width = "64") {
        2
    } else {
        1
    };
    let machine = match std::env::consts::ARCH {
        "x86" => 3,
        "arm" => 40,
        "x86_64" => 62,
        "aarch64" => 183,
        "riscv64" | "riscv32" => 243,
        "powerpc64" => 21,
        "s390x" => 22,
        _ => 0,
    };
    (class, machine)
}

fn machine_name(m: u16) -> String {
    match m {
        3 => "i386".into(),
        8 => "MIPS".into(),
        20 => "PowerPC".into(),
        21 => "PowerPC64".into(),
        22 => "s390".into(),
        40 => "ARM".into(),
        62 => "x86_64".into(),
        183 => "aarch64".into(),
        243 => "RISC-V".into(),
        other => format!("ELF machine {other}"),
    }
}

/// Little- or big-endian reads that fail rather than index out of bounds.
struct Reader<'a> {
    bytes: &'a [u8],
    little: bool,
}

impl Reader<'_> {
    fn get<const N: usize>(&self, at: u64, what: &'static str) -> Result<[u8; N], ElfProblem> {
        let start = usize::try_from(at).map_err(|_| ElfProblem::Malformed { what })?;
        let end = start.checked_add(N).ok_or(ElfProblem::Malformed { what })?;
        self.bytes
            .get(start..end)
            .and_then(|s| s.try_into().ok())
            .ok_or(ElfProblem::Malformed { what })
    }
    fn u16(&self, at: u64, what: &'static str) -> Result<u16, ElfProblem> {
        let b = self.get::<2>(at, what)?;
        Ok(if self.little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }
    fn u32(&self, at: u64, what: &'static str) -> Result<u32, ElfProblem> {
        let b = self.get::<4>(at, what)?;
        Ok(if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }
    fn u64(&self, at: u64, what: &'static str) -> Result<u64, ElfProblem> {
        let b = self.get::<8>(at, what)?;
        Ok(if self.little {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        })
    }
}

/// Whether `bytes` are a static (or static-pie) ELF executable for this machine: the class and
/// machine of the host, and no PT_INTERP program header.
pub fn check_static_executable(bytes: &[u8]) -> Result<(), ElfProblem> {
    if let Some(rest) = bytes.strip_prefix(b"#!") {
        let line = rest.split(|b| *b == b'\n').next().unwrap_or_default();
        return Err(ElfProblem::Script {
            interpreter: String::from_utf8_lossy(line).trim().to_string(),
        });
    }
    if !bytes.starts_with(b"\x7fELF") {
        return Err(ElfProblem::NotElf);
    }
    let ident = |i: usize| {
        bytes.get(i).copied().ok_or(ElfProblem::Malformed {
            what: "identification",
        })
    };
    let (class, data) = (ident(4)?, ident(5)?);
    let wide = match class {
        1 => false,
        2 => true,
        _ => return Err(ElfProblem::Malformed { what: "class" }),
    };
    let little = match data {
        1 => true,
        2 => false,
        _ => return Err(ElfProblem::Malformed { what: "byte order" }),
    };
    let r = Reader { bytes, little };
    let e_type = r.u16(16, "type")?;
    let machine = r.u16(18, "machine")?;
    let (host_class, host_machine) = host();
    if class != host_class || machine != host_machine {
        let bits = |c: u8| if c == 2 { "64-bit" } else { "32-bit" };
        return Err(ElfProblem::WrongArch {
            found: format!("{} ({})", machine_name(machine), bits(class)),
            host: format!("{} ({})", machine_name(host_machine), bits(host_class)),
        });
    }
    if e_type != ET_EXEC && e_type != ET_DYN {
        let kind = match e_type {
            1 => "relocatable object".to_string(),
            4 => "core dump".to_string(),
            t => format!("file of type {t}"),
        };
        return Err(ElfProblem::NotExecutable { kind });
    }
    let (phoff, phentsize, phnum) = if wide {
        (
            r.u64(32, "program header offset")?,
            r.u16(54, "program header size")?,
            r.u16(56, "program header count")?,
        )
    } else {
        (
            u64::from(r.u32(28, "program header offset")?),
            r.u16(42, "program header size")?,
            r.u16(44, "program header count")?,
        )
    };
    for i in 0..u64::from(phnum) {
        let ph = phoff
            .checked_add(i * u64::from(phentsize))
            .ok_or(ElfProblem::Malformed {
                what: "program header offset",
            })?;
        if r.u32(ph, "program header")? != PT_INTERP {
            continue;
        }
        let (offset, size) = if wide {
            (r.u64(ph + 8, "PT_INTERP")?, r.u64(ph + 32, "PT_INTERP")?)
        } else {
            (
                u64::from(r.u32(ph + 4, "PT_INTERP")?),
                u64::from(r.u32(ph + 16, "PT_INTERP")?),
            )
        };
        let interp = usize::try_from(offset)
            .ok()
            .zip(usize::try_from(size).ok())
            .and_then(|(o, s)| bytes.get(o..o.checked_add(s)?))
            .ok_or(ElfProblem::Malformed { what: "PT_INTERP" })?;
        let end = interp.iter().position(|b| *b == 0).unwrap_or(interp.len());
        return Err(ElfProblem::Dynamic {
            interpreter: String::from_utf8_lossy(&interp[..end]).into_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 little-endian header for this machine with one program header, of
    /// `p_type`, whose contents (at offset 120) are `interp`.
    fn elf64(e_type: u16, machine: u16, p_type: u32, interp: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 120];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2; // ELFCLASS64
        b[5] = 1; // little-endian
        b[6] = 1;
        b[16..18].copy_from_slice(&e_type.to_le_bytes());
        b[18..20].copy_from_slice(&machine.to_le_bytes());
        b[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        b[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        b[56..58].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        b[64..68].copy_from_slice(&p_type.to_le_bytes());
        b[72..80].copy_from_slice(&120u64.to_le_bytes()); // p_offset
        b[96..104].copy_from_slice(&(interp.len() as u64).to_le_bytes()); // p_filesz
        b.extend_from_slice(interp);
        b
    }

    #[test]
    fn the_built_in_agent_is_static_for_this_machine() {
        assert_eq!(check_static_executable(AGENT), Ok(()));
    }

    #[test]
    fn a_dynamic_executable_names_its_interpreter() {
        let (_, m) = host();
        let dynamic = elf64(ET_DYN, m, PT_INTERP, b"/lib64/ld-linux-x86-64.so.2\0");
        assert_eq!(
            check_static_executable(&dynamic),
            Err(ElfProblem::Dynamic {
                interpreter: "/lib64/ld-linux-x86-64.so.2".into()
            })
        );
        // PT_LOAD only: a static executable.
        assert_eq!(check_static_executable(&elf64(ET_EXEC, m, 1, b"")), Ok(()));
    }

    #[test]
    fn other_files_say_what_they_are() {
        let (_, m) = host();
        let other = if m == 183 { 62 } else { 183 };
        assert!(matches!(
            check_static_executable(&elf64(ET_EXEC, other, 1, b"")),
            Err(ElfProblem::WrongArch { .. })
        ));
        assert_eq!(
            check_static_executable(b"#!/bin/sh -e\necho\n"),
            Err(ElfProblem::Script {
                interpreter: "/bin/sh -e".into()
            })
        );
        assert_eq!(check_static_executable(b"hello"), Err(ElfProblem::NotElf));
        assert!(matches!(
            check_static_executable(&elf64(1, m, 1, b"")),
            Err(ElfProblem::NotExecutable { .. })
        ));
        assert!(matches!(
            check_static_executable(b"\x7fELF\x02\x01"),
            Err(ElfProblem::Malformed { .. })
        ));
        // A PT_INTERP that points past the end of the file.
        let mut cut = elf64(ET_DYN, m, PT_INTERP, b"/lib/ld.so\0");
        cut.truncate(125);
        assert_eq!(
            check_static_executable(&cut),
            Err(ElfProblem::Malformed { what: "PT_INTERP" })
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        #[test]
        fn any_bytes_are_judged_without_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = check_static_executable(&bytes);
        }

        #[test]
        fn a_header_with_any_field_changed_is_judged_without_panic(
            at in 0usize..140, value in proptest::prelude::any::<u8>()
        ) {
            let (_, m) = host();
            let mut b = elf64(ET_DYN, m, PT_INTERP, b"/lib/ld.so\0");
            if let Some(x) = b.get_mut(at) {
                *x = value;
            }
            let _ = check_static_executable(&b);
        }
    }
}
