//! A [`SeccompProfile`] compiled to classic BPF with `seccompiler`, for the runtimes that take
//! a program rather than a profile: the native spawner (installed by the child) and bwrap
//! (`--add-seccomp-fd`).
//!
//! seccompiler gives one action per filter, so the profile becomes one filter per errno it
//! answers with (EPERM, ENOSYS); the kernel runs every installed filter and takes the strictest
//! answer, so stacking them denies what either denies. seccompiler's filters kill a call of a
//! foreign architecture, but on x86_64 a call of the x32 ABI has the native architecture and a
//! number with bit 30 set, which no rule names: a third, four-instruction filter kills those,
//! as libseccomp does for an x86_64-only profile (the OCI runtimes).

use crate::vocabulary::SeccompProfile;
use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

/// A profile that seccompiler cannot compile for this architecture.
#[derive(Debug, thiserror::Error)]
#[error("cannot compile the {profile} seccomp profile for {arch}: {source}")]
pub struct SeccompError {
    profile: &'static str,
    arch: &'static str,
    #[source]
    source: seccompiler::BackendError,
}

/// The filters of `profile`, in the order they are installed.
pub fn compile(profile: SeccompProfile) -> Result<Vec<BpfProgram>, SeccompError> {
    let arch = std::env::consts::ARCH;
    let fail = |source| SeccompError {
        profile: profile.name(),
        arch,
        source,
    };
    let target = TargetArch::try_from(arch).map_err(fail)?;
    let mut by_errno: BTreeMap<i32, BTreeMap<i64, Vec<SeccompRule>>> = BTreeMap::new();
    for d in profile.denied() {
        let rules = match d.when {
            None => Vec::new(),
            Some(r) => vec![SeccompRule::new(vec![SeccompCondition::new(
                r.index,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(r.mask),
                r.mask,
            )
            .map_err(fail)?])
            .map_err(fail)?],
        };
        by_errno.entry(d.errno).or_default().insert(d.nr, rules);
    }
    let mut programs = Vec::new();
    for (errno, rules) in by_errno {
        let filter = SeccompFilter::new(
            rules,
            SeccompAction::Allow,
            SeccompAction::Errno(errno as u32),
            target,
        )
        .map_err(fail)?;
        programs.push(BpfProgram::try_from(filter).map_err(fail)?);
    }
    if target == TargetArch::x86_64 {
        programs.push(kill_x32());
    }
    Ok(programs)
}

/// `__X32_SYSCALL_BIT`: set in the number of every x32 call.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;

/// Kills an x32 call; allows everything else (the other filters judge it).
fn kill_x32() -> BpfProgram {
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const JGE_K: u16 = 0x35;
    const RET_K: u16 = 0x06;
    let op = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    vec![
        // seccomp_data: nr at offset 0, arch at 4.
        op(LD_W_ABS, 0, 0, 4),
        op(JEQ_K, 0, 3, AUDIT_ARCH_X86_64),
        op(LD_W_ABS, 0, 0, 0),
        op(JGE_K, 0, 1, X32_SYSCALL_BIT),
        op(RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
        op(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ]
}

/// A program as the bytes bwrap reads from a seccomp descriptor (`struct sock_filter`s).
pub fn bytes(program: &[sock_filter]) -> Vec<u8> {
    program
        .iter()
        .flat_map(|i| {
            let mut b = Vec::with_capacity(8);
            b.extend(i.code.to_ne_bytes());
            b.push(i.jt);
            b.push(i.jf);
            b.extend(i.k.to_ne_bytes());
            b
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `program` on one seccomp_data the way the kernel would, for the instructions
    /// seccompiler and `kill_x32` emit.
    fn run(program: &[sock_filter], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
        let word = |off: u32| -> u32 {
            match off {
                0 => nr,
                4 => arch,
                16..=63 => {
                    let i = ((off - 16) / 8) as usize;
                    let v = args[i];
                    if off % 8 == 0 {
                        v as u32
                    } else {
                        (v >> 32) as u32
                    }
                }
                _ => panic!("load at {off}"),
            }
        };
        let (mut pc, mut a) = (0usize, 0u32);
        loop {
            let i = &program[pc];
            pc += 1;
            match i.code {
                0x20 => a = word(i.k),
                0x54 => a &= i.k,
                0x05 => pc += i.k as usize,
                0x15 | 0x35 | 0x25 | 0x45 => {
                    let taken = match i.code {
                        0x15 => a == i.k,
                        0x35 => a >= i.k,
                        0x25 => a > i.k,
                        _ => a & i.k != 0,
                    };
                    pc += if taken { i.jt } else { i.jf } as usize;
                }
                0x06 => return i.k,
                c => panic!("opcode {c:#x} at {}", pc - 1),
            }
        }
    }

    fn verdict(nr: i64, arch: u32, arg0: u64) -> Vec<u32> {
        compile(SeccompProfile::Default)
            .unwrap()
            .iter()
            .map(|p| run(p, nr as u32, arch, [arg0, 0, 0, 0, 0, 0]))
            .collect()
    }

    /// The strictest answer of all filters, as the kernel takes it.
    fn strictest(v: &[u32]) -> u32 {
        let rank = |r: &u32| match r & libc::SECCOMP_RET_ACTION_FULL {
            libc::SECCOMP_RET_KILL_PROCESS => 0,
            libc::SECCOMP_RET_ERRNO => 1,
            _ => 2,
        };
        *v.iter().min_by_key(|r| rank(r)).unwrap()
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn denies_the_listed_calls_and_allows_the_rest() {
        let errno = |e: i32| libc::SECCOMP_RET_ERRNO | e as u32;
        let x86_64 = AUDIT_ARCH_X86_64;
        for d in SeccompProfile::Default.denied() {
            let arg0 = d.when.map_or(0, |r| r.mask);
            assert_eq!(
                strictest(&verdict(d.nr, x86_64, arg0)),
                errno(d.errno),
                "{}",
                d.name
            );
        }
        let allow = libc::SECCOMP_RET_ALLOW;
        for nr in [libc::SYS_getpid, libc::SYS_read, libc::SYS_execve] {
            assert_eq!(strictest(&verdict(nr, x86_64, 0)), allow, "{nr}");
        }
        // clone and unshare look at the flags: only a new user namespace is refused.
        let plain = (libc::CLONE_NEWUTS | libc::SIGCHLD) as u64;
        assert_eq!(strictest(&verdict(libc::SYS_clone, x86_64, plain)), allow);
        assert_eq!(strictest(&verdict(libc::SYS_unshare, x86_64, plain)), allow);
        let user = plain | libc::CLONE_NEWUSER as u64;
        assert_eq!(
            strictest(&verdict(libc::SYS_unshare, x86_64, user)),
            errno(libc::EPERM)
        );
        // x32 and a foreign architecture are killed.
        let kill = libc::SECCOMP_RET_KILL_PROCESS;
        let x32_getpid = libc::SYS_getpid | X32_SYSCALL_BIT as i64;
        assert_eq!(strictest(&verdict(x32_getpid, x86_64, 0)), kill);
        const AUDIT_ARCH_I386: u32 = 3 | 0x4000_0000;
        assert_eq!(strictest(&verdict(20, AUDIT_ARCH_I386, 0)), kill);
    }

    #[test]
    fn every_program_fits_the_kernel_and_a_pipe() {
        // BPF_MAXINSNS is 4096; bwrap gets each through a pipe filled before it starts.
        for p in compile(SeccompProfile::Default).unwrap() {
            assert!(p.len() < 4096, "{}", p.len());
            assert!(bytes(&p).len() < 4096, "{}", p.len());
        }
    }

    #[test]
    fn bytes_are_eight_per_instruction() {
        let p = kill_x32();
        let b = bytes(&p);
        assert_eq!(b.len(), 8 * p.len());
        assert_eq!(&b[..2], &0x20u16.to_ne_bytes());
        assert_eq!(&b[4..8], &4u32.to_ne_bytes());
    }
}
