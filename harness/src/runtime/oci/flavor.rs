//! Which OCI runtime a binary is, and what each one needs from the host to behave here.

/// The runtimes isoprobe knows by name. `Other` is an `oci:PATH` binary whose `--version`
/// names none of them: it is treated with the precautions that fit the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Runc,
    Crun,
    Youki,
    Other,
}

impl Flavor {
    pub fn binary_name(self) -> Option<&'static str> {
        match self {
            Flavor::Runc => Some("runc"),
            Flavor::Crun => Some("crun"),
            Flavor::Youki => Some("youki"),
            Flavor::Other => None,
        }
    }

    /// The flavor of a binary from the first line of its `--version`.
    pub fn from_version(first_line: &str) -> Flavor {
        let l = first_line.to_ascii_lowercase();
        [Flavor::Runc, Flavor::Crun, Flavor::Youki]
            .into_iter()
            .find(|f| f.binary_name().is_some_and(|n| l.starts_with(n)))
            .unwrap_or(Flavor::Other)
    }

    /// How to get the runtime when it is missing.
    pub fn install_hint(self) -> &'static str {
        match self {
            Flavor::Runc => "apt-get install runc",
            Flavor::Crun => "apt-get install crun",
            Flavor::Youki => "cargo install youki --no-default-features --features v1,v2",
            Flavor::Other => "give the path of an OCI runtime binary",
        }
    }

    /// crun 1.8 refuses a hybrid layout ("cgroups in hybrid mode not supported, drop all
    /// controllers from cgroupv2") as soon as it sees the cgroup2 mount, even one that binds
    /// no controller it would use.
    pub fn refuses_hybrid(self) -> bool {
        self == Flavor::Crun
    }

    /// On cgroup v1, runc nests a relative cgroupsPath under its own cgroup of each hierarchy;
    /// crun 1.8 and youki 0.7 put it at the hierarchy's root. On a host whose management keeps
    /// isoprobe in a memory cgroup of its own, that would take the container out of it. An
    /// unknown runtime is assumed to do the same (the precaution is harmless to one that
    /// nests).
    pub fn roots_relative_cgroups(self) -> bool {
        self != Flavor::Runc
    }

    /// crun binds the rootfs onto itself with `MS_BIND | MS_REC | MS_PRIVATE` after applying
    /// rootfsPropagation to `/` (libcrun_set_mounts), so the mounts below the rootfs are
    /// private whatever the config says: "leave mounts shared" cannot be asked of it.
    pub fn privatises_rootfs(self) -> bool {
        self == Flavor::Crun
    }

    /// youki 0.7 puts its intermediate process in a cgroup of each v1 hierarchy it finds in
    /// mountinfo, with or without a cgroupsPath, and only its v2 manager tolerates EACCES
    /// when rootless (libcgroups 0.7 `with_rootless`): on a v1 or hybrid host a rootless
    /// youki fails at "failed to add task to cgroup" unless it sees a cgroup2 at
    /// `/sys/fs/cgroup` (`MountView::cgroup2_root`).
    pub fn joins_cgroups_v1_regardless(self) -> bool {
        self == Flavor::Youki
    }

    /// Why isoprobe does not run this runtime from its rootless user namespace, if it does
    /// not. runc 1.1, crun 1.8 and youki 0.7 take the rootless bundle (no cgroups, devices
    /// bound from the host, state under `--root` in the run's directory) and were seen passing
    /// there; an unknown runtime was not tried.
    pub fn rootless_refusal(self) -> Option<&'static str> {
        match self {
            Flavor::Runc | Flavor::Crun | Flavor::Youki => None,
            Flavor::Other => Some(
                "isoprobe runs only runc, crun and youki rootless among the OCI runtimes; an \
                 unknown runtime's rootless mode was not tried",
            ),
        }
    }

    /// `linux.rootfsPropagation` for "make every mount private" (else "leave them shared").
    /// runc and crun read `private` as "/ alone" and want the recursive `rprivate`; youki 0.7
    /// knows only the runtime-spec's words (`private`, `shared`, ...), which it applies
    /// recursively, and so does an unknown runtime get them. runc refuses `[r]private`
    /// without pivot_root ("not safe"): with `--no-pivot` it gets `rslave`, its own default,
    /// under which the host's mount events still reach the container.
    pub fn rootfs_propagation(self, private: bool, no_pivot: bool) -> &'static str {
        match (self, private) {
            (Flavor::Youki | Flavor::Other, true) => "private",
            (Flavor::Youki | Flavor::Other, false) => "shared",
            (Flavor::Runc, true) if no_pivot => "rslave",
            (_, true) => "rprivate",
            (_, false) => "rshared",
        }
    }
}

/// The version part of a runtime's `--version` first line: `runc version 1.1.5+ds1` ->
/// `1.1.5+ds1`, `youki version: 0.7.0` -> `0.7.0`; a line of another shape is kept whole.
pub fn version_of(first_line: &str) -> String {
    let line = first_line.trim();
    match line.split_once(" version") {
        Some((name, v)) if !name.contains(' ') => {
            let v = v.trim_start_matches(':').trim();
            if v.is_empty() {
                line.to_string()
            } else {
                v.to_string()
            }
        }
        _ => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavor_from_the_version_line() {
        assert_eq!(Flavor::from_version("runc version 1.1.5+ds1"), Flavor::Runc);
        assert_eq!(Flavor::from_version("crun version 1.8.1"), Flavor::Crun);
        assert_eq!(Flavor::from_version("youki version 0.7.0"), Flavor::Youki);
        assert_eq!(Flavor::from_version("kata-runtime 3.0"), Flavor::Other);
    }

    #[test]
    fn version_is_the_number() {
        assert_eq!(version_of("runc version 1.1.5+ds1\n"), "1.1.5+ds1");
        assert_eq!(version_of("crun version 1.8.1"), "1.8.1");
        assert_eq!(version_of("youki version: 0.7.0"), "0.7.0");
        assert_eq!(version_of("runc version"), "runc version");
        assert_eq!(
            version_of("something else entirely"),
            "something else entirely"
        );
    }

    #[test]
    fn only_runc_nests_relative_cgroups_and_only_crun_refuses_hybrid() {
        assert!(!Flavor::Runc.roots_relative_cgroups());
        assert!(Flavor::Crun.roots_relative_cgroups());
        assert!(Flavor::Youki.roots_relative_cgroups());
        assert!(Flavor::Other.roots_relative_cgroups());
        assert!(Flavor::Crun.refuses_hybrid());
        assert!(!Flavor::Youki.refuses_hybrid());
    }

    #[test]
    fn only_an_unknown_runtime_is_refused_rootless() {
        for f in [Flavor::Runc, Flavor::Crun, Flavor::Youki] {
            assert_eq!(f.rootless_refusal(), None, "{f:?}");
        }
        assert!(Flavor::Other.rootless_refusal().is_some());
        assert!(Flavor::Youki.joins_cgroups_v1_regardless());
        assert!(!Flavor::Crun.joins_cgroups_v1_regardless());
    }

    #[test]
    fn propagation_in_each_runtimes_words() {
        assert_eq!(Flavor::Runc.rootfs_propagation(true, false), "rprivate");
        assert_eq!(Flavor::Runc.rootfs_propagation(true, true), "rslave");
        assert_eq!(Flavor::Runc.rootfs_propagation(false, true), "rshared");
        assert_eq!(Flavor::Crun.rootfs_propagation(true, true), "rprivate");
        assert_eq!(Flavor::Youki.rootfs_propagation(true, false), "private");
        assert_eq!(Flavor::Other.rootfs_propagation(false, false), "shared");
    }
}
