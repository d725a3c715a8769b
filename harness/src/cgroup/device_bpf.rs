//! The cgroup v2 device allow-list: a `BPF_PROG_TYPE_CGROUP_DEVICE` program, as runc and crun
//! attach one, since v2 has no `devices.allow` file. The program is generated from the rules
//! (pure, tested on its instructions) and loaded and attached with two `bpf(2)` calls.
//!
//! It sees `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`, the low
//! 16 bits of `access_type` being the device type (1 block, 2 char), and returns 1 to allow.
//! Every rule isoprobe writes allows all of read, write and mknod, so the access bits are not
//! looked at.

use super::devices::{DeviceKind, DeviceRule};
use std::ffi::c_void;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// One eBPF instruction, as `struct bpf_insn` lays it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    pub code: u8,
    /// dst in the low nibble, src in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const MOV64_REG: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const MOV64_IMM: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const AND64_IMM: u8 = 0x57; // BPF_ALU64 | BPF_AND | BPF_K
const JNE_IMM: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

const DEVCG_DEV_BLOCK: i32 = 1;
const DEVCG_DEV_CHAR: i32 = 2;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

/// The program allowing exactly `rules` (r3 the type, r4 the major, r5 the minor).
pub fn program(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(MOV64_REG, 3, 2, 0, 0),
        insn(AND64_IMM, 3, 0, 0, 0xffff),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    for r in rules {
        let mut tests: Vec<(u8, i32)> = Vec::new();
        match r.kind {
            DeviceKind::Char => tests.push((3, DEVCG_DEV_CHAR)),
            DeviceKind::Block => tests.push((3, DEVCG_DEV_BLOCK)),
        }
        if let Some(m) = r.major {
            tests.push((4, m as i32));
        }
        if let Some(m) = r.minor {
            tests.push((5, m as i32));
        }
        // Each failed test jumps past the rest of this rule: the later tests and the
        // "allow" pair.
        let n = tests.len();
        for (i, (reg, value)) in tests.into_iter().enumerate() {
            p.push(insn(JNE_IMM, reg, 0, (n - i - 1 + 2) as i16, value));
        }
        p.push(insn(MOV64_IMM, 0, 0, 0, 1));
        p.push(insn(EXIT, 0, 0, 0, 0));
    }
    p.push(insn(MOV64_IMM, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// `union bpf_attr` is larger than any field set here; the kernel wants the rest zero.
const ATTR_LEN: usize = 128;

/// Why the program could not be loaded or attached.
#[derive(Debug, thiserror::Error)]
#[error(
    "the cgroup v2 device program: {step}: {errno} ({}){}; a kernel without \
     CONFIG_CGROUP_BPF or with BPF locked down cannot restrict devices on cgroup v2",
    .errno.desc(),
    .log.as_deref().map(|l| format!(", verifier: {l}")).unwrap_or_default()
)]
pub struct BpfError {
    pub step: &'static str,
    pub errno: nix::errno::Errno,
    pub log: Option<String>,
}

fn put_u32(attr: &mut [u8; ATTR_LEN], at: usize, v: u32) {
    attr[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put_u64(attr: &mut [u8; ATTR_LEN], at: usize, v: u64) {
    attr[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

fn bpf(cmd: libc::c_long, attr: &mut [u8; ATTR_LEN]) -> libc::c_long {
    // SAFETY: `attr` is a zero-padded bpf_attr of ATTR_LEN bytes whose pointers point at
    // buffers that outlive the call.
    unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.as_mut_ptr().cast::<c_void>(),
            ATTR_LEN as libc::c_uint,
        )
    }
}

/// Loads the program for `rules`; the descriptor keeps it until attached. Loaded without the
/// verifier's log first: with a log, a kernel whose log outgrows the buffer refuses a good
/// program with ENOSPC (5.10 does, with this program and 4 KiB). Only a refusal is loaded again
/// with the log, for the message.
pub fn load(rules: &[DeviceRule]) -> Result<OwnedFd, BpfError> {
    let prog = program(rules);
    match load_with_log(&prog, None) {
        Ok(fd) => Ok(fd),
        Err(quiet) => {
            let mut log = vec![0u8; LOG_SIZE];
            match load_with_log(&prog, Some(&mut log)) {
                Ok(fd) => Ok(fd),
                Err(e) => {
                    let text = String::from_utf8_lossy(
                        &log[..log.iter().position(|b| *b == 0).unwrap_or(0)],
                    )
                    .trim()
                    .to_string();
                    Err(BpfError {
                        step: "BPF_PROG_LOAD",
                        errno: quiet.errno,
                        log: (!text.is_empty() && e.errno != nix::errno::Errno::ENOSPC)
                            .then_some(text),
                    })
                }
            }
        }
    }
}

/// The verifier's log for a refused program: enough for this small program's whole walk.
const LOG_SIZE: usize = 64 * 1024;

fn load_with_log(prog: &[Insn], log: Option<&mut [u8]>) -> Result<OwnedFd, BpfError> {
    let license = c"Apache-2.0 OR GPL";
    let mut attr = [0u8; ATTR_LEN];
    put_u32(&mut attr, 0, BPF_PROG_TYPE_CGROUP_DEVICE);
    put_u32(&mut attr, 4, prog.len() as u32);
    put_u64(&mut attr, 8, prog.as_ptr() as u64);
    put_u64(&mut attr, 16, license.as_ptr() as u64);
    if let Some(log) = log {
        put_u32(&mut attr, 24, 1); // log_level
        put_u32(&mut attr, 28, log.len() as u32);
        put_u64(&mut attr, 32, log.as_mut_ptr() as u64);
    }
    put_u32(&mut attr, 68, BPF_CGROUP_DEVICE); // expected_attach_type
    let fd = bpf(BPF_PROG_LOAD, &mut attr);
    if fd < 0 {
        return Err(BpfError {
            step: "BPF_PROG_LOAD",
            errno: nix::errno::Errno::last(),
            log: None,
        });
    }
    // SAFETY: a new descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Attaches `prog` to the cgroup open as `cgroup`; the cgroup then holds it until it is
/// removed.
pub fn attach(prog: &OwnedFd, cgroup: &OwnedFd) -> Result<(), BpfError> {
    let mut attr = [0u8; ATTR_LEN];
    put_u32(&mut attr, 0, cgroup.as_raw_fd() as u32);
    put_u32(&mut attr, 4, prog.as_raw_fd() as u32);
    put_u32(&mut attr, 8, BPF_CGROUP_DEVICE);
    if bpf(BPF_PROG_ATTACH, &mut attr) < 0 {
        return Err(BpfError {
            step: "BPF_PROG_ATTACH",
            errno: nix::errno::Errno::last(),
            log: None,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_is_a_block_of_tests_then_allow_and_the_end_denies() {
        let rules = [DeviceRule::char(1, Some(3)), DeviceRule::char(136, None)];
        let p = program(&rules);
        // 5 loads, 3 tests + 2 for the first rule, 2 tests + 2 for the second, deny pair.
        assert_eq!(p.len(), 5 + 5 + 4 + 2);
        let first = &p[5..10];
        assert_eq!(
            first[0],
            insn(JNE_IMM, 3, 0, 4, DEVCG_DEV_CHAR),
            "a wrong type skips the rule"
        );
        assert_eq!(first[1], insn(JNE_IMM, 4, 0, 3, 1));
        assert_eq!(first[2], insn(JNE_IMM, 5, 0, 2, 3));
        assert_eq!(first[3], insn(MOV64_IMM, 0, 0, 0, 1));
        assert_eq!(first[4].code, EXIT);
        // The wildcard minor is not tested.
        let second = &p[10..14];
        assert_eq!(second[0], insn(JNE_IMM, 3, 0, 3, DEVCG_DEV_CHAR));
        assert_eq!(second[1], insn(JNE_IMM, 4, 0, 2, 136));
        assert_eq!(
            &p[14..],
            &[insn(MOV64_IMM, 0, 0, 0, 0), insn(EXIT, 0, 0, 0, 0)]
        );
        // Every jump lands inside the program.
        for (i, x) in p.iter().enumerate() {
            if x.code == JNE_IMM {
                assert!(i + 1 + (x.off as usize) < p.len());
            }
        }
        assert_eq!(std::mem::size_of::<Insn>(), 8);
    }

    #[test]
    fn the_kernel_verifier_accepts_the_standard_program() {
        crate::require_root!("the_kernel_verifier_accepts_the_standard_program");
        // Loading changes nothing: the program is dropped with its descriptor.
        if let Err(e) = load(&super::super::devices::standard_rules()) {
            panic!("{e}");
        }
    }
}
