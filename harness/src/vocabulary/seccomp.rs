//! The syscall filter a container can be asked to run under, said once: the native spawner and
//! bwrap compile it to BPF (`crate::seccomp_bpf`), the OCI bundle writes it as
//! `linux.seccomp`, and the `seccomp.filter-enforced` check reads from it what to expect.

/// A syscall filter. One profile today; an enum so that a check names the one it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeccompProfile {
    /// A deny list in the spirit of the Docker/OCI default profile: the calls that reach the
    /// kernel's keyrings, BPF, perf, userfaultfd, kexec, modules, file handles, mounts, new user
    /// namespaces and io_uring get EPERM; `clone3` gets ENOSYS (so that libc falls back to
    /// `clone`, whose flags a filter can see); everything else is allowed. Calls of another
    /// architecture (and, on x86_64, of the x32 ABI) are killed.
    Default,
}

/// A condition on one argument: the call is denied only when every bit of `mask` is set in
/// argument `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgRule {
    pub index: u8,
    pub mask: u64,
}

/// One denied call of a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denied {
    pub name: &'static str,
    /// Its number on the architecture isoprobe is built for.
    pub nr: i64,
    /// What the filter answers (EPERM, or ENOSYS for `clone3`).
    pub errno: i32,
    /// `None`: denied whatever the arguments.
    pub when: Option<ArgRule>,
}

const NEW_USER_NS: ArgRule = ArgRule {
    index: 0,
    mask: libc::CLONE_NEWUSER as u64,
};

impl SeccompProfile {
    pub fn name(self) -> &'static str {
        match self {
            SeccompProfile::Default => "default",
        }
    }

    /// The calls the profile denies; any call not listed is allowed.
    pub fn denied(self) -> Vec<Denied> {
        let eperm = |name, nr| Denied {
            name,
            nr,
            errno: libc::EPERM,
            when: None,
        };
        match self {
            SeccompProfile::Default => vec![
                eperm("keyctl", libc::SYS_keyctl),
                eperm("add_key", libc::SYS_add_key),
                eperm("request_key", libc::SYS_request_key),
                eperm("bpf", libc::SYS_bpf),
                eperm("perf_event_open", libc::SYS_perf_event_open),
                eperm("userfaultfd", libc::SYS_userfaultfd),
                eperm("kexec_load", libc::SYS_kexec_load),
                eperm("kexec_file_load", libc::SYS_kexec_file_load),
                eperm("init_module", libc::SYS_init_module),
                eperm("finit_module", libc::SYS_finit_module),
                eperm("delete_module", libc::SYS_delete_module),
                eperm("open_by_handle_at", libc::SYS_open_by_handle_at),
                eperm("mount", libc::SYS_mount),
                eperm("io_uring_setup", libc::SYS_io_uring_setup),
                eperm("io_uring_enter", libc::SYS_io_uring_enter),
                eperm("io_uring_register", libc::SYS_io_uring_register),
                Denied {
                    when: Some(NEW_USER_NS),
                    ..eperm("unshare", libc::SYS_unshare)
                },
                // Flags are clone's first argument on x86_64 and aarch64 (not on s390).
                Denied {
                    when: Some(NEW_USER_NS),
                    ..eperm("clone", libc::SYS_clone)
                },
                Denied {
                    errno: libc::ENOSYS,
                    ..eperm("clone3", libc::SYS_clone3)
                },
            ],
        }
    }

    /// The denied call named `name`, if the profile denies it.
    pub fn denies(self, name: &str) -> Option<Denied> {
        self.denied().into_iter().find(|d| d.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_only_the_namespace_calls_look_at_arguments() {
        let d = SeccompProfile::Default.denied();
        let names: std::collections::BTreeSet<_> = d.iter().map(|d| d.name).collect();
        assert_eq!(names.len(), d.len());
        let conditional: Vec<_> = d
            .iter()
            .filter(|d| d.when.is_some())
            .map(|d| d.name)
            .collect();
        assert_eq!(conditional, ["unshare", "clone"]);
        assert_eq!(
            SeccompProfile::Default.denies("clone3").map(|d| d.errno),
            Some(libc::ENOSYS)
        );
        assert_eq!(SeccompProfile::Default.denies("getpid"), None);
    }
}
