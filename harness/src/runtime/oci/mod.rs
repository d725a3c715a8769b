//! OCI runtimes: `runc`, `crun`, `youki`, the weak `runc-no-pivot` and `crun-no-pivot`, and
//! `oci:PATH` for any binary that speaks the OCI runtime command line.
//!
//! `discovery.rs` learns what the binary is and supports; `lifecycle.rs` runs one container
//! through the standard operations (create, state, start, delete); `bundle.rs` writes its
//! `config.json` from the [`Isolation`]; `cli.rs` invokes the binary; `flavor.rs` holds what
//! differs per runtime; `devdir.rs` keeps the rootfs's /dev as it was where no tmpfs covers it.
//!
//! What the host cannot see here: the container's init is not isoprobe's child (the runtime
//! forks it and exits), so isoprobe cannot wait4 it. Its exit status is reported as code 0
//! when the agent printed an observation (the agent prints last and exits 0 after printing);
//! when it printed nothing, the error says so without inventing a status. Its CPU time is not
//! reported (`cpu_time: None`): the cgroup's own accounting stands in for it.

mod bundle;
mod cli;
mod devdir;
mod discovery;
mod flavor;
mod lifecycle;
mod weaknesses;

pub(crate) use bundle::seccomp_json;
pub use bundle::BundleError;
pub use cli::MountView;
pub(crate) use lifecycle::delete_leftover;

use super::{Isolation, Job, RunError, RunOutcome, Runtime, Unavailable};
use crate::vocabulary::RootMode;
use cli::Cli;
use discovery::{RuntimeFacts, Source};
use flavor::Flavor;
use isoprobe_probes::NsType;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

pub struct OciRuntime {
    name: String,
    source: Source,
    /// Pass `--no-pivot` on every create (the weak variants).
    always_no_pivot: bool,
    facts: OnceLock<RuntimeFacts>,
    /// Namespaces tried on a runtime without `features`: `Some(reason)` when refused.
    tried: Mutex<HashMap<NsType, Option<String>>>,
}

impl OciRuntime {
    fn new(name: String, source: Source, always_no_pivot: bool) -> OciRuntime {
        OciRuntime {
            name,
            source,
            always_no_pivot,
            facts: OnceLock::new(),
            tried: Mutex::new(HashMap::new()),
        }
    }

    /// `runc`, or `runc-no-pivot` with `--no-pivot` on every create.
    pub fn runc(no_pivot: bool) -> OciRuntime {
        let name = if no_pivot { "runc-no-pivot" } else { "runc" };
        OciRuntime::new(name.into(), Source::Named(Flavor::Runc), no_pivot)
    }

    /// `crun`, or `crun-no-pivot` with `--no-pivot` on every create.
    pub fn crun(no_pivot: bool) -> OciRuntime {
        let name = if no_pivot { "crun-no-pivot" } else { "crun" };
        OciRuntime::new(name.into(), Source::Named(Flavor::Crun), no_pivot)
    }

    pub fn youki() -> OciRuntime {
        OciRuntime::new("youki".into(), Source::Named(Flavor::Youki), false)
    }

    /// The runtime binary at `path`, named `name` (`oci:PATH`).
    pub fn at_path(name: &str, path: &str) -> OciRuntime {
        OciRuntime::new(name.into(), Source::Path(PathBuf::from(path)), false)
    }

    fn facts(&self) -> &RuntimeFacts {
        self.facts.get_or_init(|| discovery::discover(&self.source))
    }

    fn cli(&self) -> Result<&Cli, RunError> {
        self.facts()
            .cli
            .as_ref()
            .map_err(|e| RunError::Unavailable(e.clone()))
    }

    /// "runc 1.1.5+ds1", for reasons.
    fn who(&self) -> String {
        let bin = match &self.source {
            Source::Named(f) => f.binary_name().unwrap_or("runtime").to_string(),
            Source::Path(path) => path.display().to_string(),
        };
        format!("{bin} {}", self.facts().version)
    }

    /// The checks it is known to fail, as root or from isoprobe's rootless user namespace.
    fn weaknesses(&self, rootless: bool) -> &'static [super::Weakness] {
        match self.source {
            Source::Named(flavor) => weaknesses::of(flavor, self.always_no_pivot, rootless),
            Source::Path(_) => &[],
        }
    }

    fn no_pivot(&self, iso: &Isolation) -> bool {
        self.always_no_pivot || bundle::wants_no_pivot(iso)
    }
}

/// What an OCI bundle mounts in every container besides its root and `/proc`: the tmpfs on
/// `/dev` ([`bundle::dev_tmpfs`]) and what the runtime mounts in it (`/dev/pts`, and runc's
/// binds of the host's nodes in a user namespace).
const OCI_OWN_MOUNTS: &[&str] = &["/dev", "/dev/"];

impl Runtime for OciRuntime {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn version(&self) -> String {
        self.facts().described.clone()
    }

    fn available(&self) -> Result<(), Unavailable> {
        self.facts().cli.as_ref().map(|_| ()).map_err(Clone::clone)
    }

    fn rootless_unsupported(&self) -> Option<String> {
        let flavor = match self.source {
            Source::Named(flavor) => flavor,
            Source::Path(_) => Flavor::Other,
        };
        flavor.rootless_refusal().map(String::from)
    }

    fn known_weaknesses(&self) -> &'static [super::Weakness] {
        self.weaknesses(crate::rootless::active().is_some())
    }

    fn rootless_weaknesses(&self) -> &'static [super::Weakness] {
        self.weaknesses(true)
    }

    fn unsupported(&self, iso: &Isolation) -> Option<String> {
        if self.available().is_err() {
            return None;
        }
        if iso.root == RootMode::None || !iso.namespaces.contains(&NsType::Mnt) {
            return Some(
                "an OCI runtime always enters the bundle's root.path (pivot_root, MS_MOVE or \
                 chroot): it cannot leave the container in the host's root without a mount \
                 namespace, as this setup asks"
                    .into(),
            );
        }
        if !iso.make_mounts_private && self.facts().flavor.privatises_rootfs() {
            return Some(format!(
                "{} binds the rootfs with MS_REC|MS_PRIVATE whatever rootfsPropagation says, \
                 so the mounts below it cannot be left shared",
                self.who()
            ));
        }
        if let Some(reason) =
            super::process::joined(super::process::negative_control_only(&self.who(), iso))
        {
            return Some(reason);
        }
        if !iso.detach_old_root {
            return Some(if self.no_pivot(iso) {
                "with --no-pivot the rootfs is moved over / and chrooted into: there is no \
                 old root to keep"
                    .into()
            } else {
                "OCI runtimes always detach the old root after pivot_root; the runtime spec \
                 has no setting to keep it"
                    .into()
            });
        }
        if let Some(why) = iso.seccomp.and_then(|_| self.seccomp_refused()) {
            return Some(why);
        }
        iso.namespaces
            .iter()
            .find_map(|ns| self.namespace_refused(*ns))
    }

    fn own_mounts(&self) -> &'static [&'static str] {
        OCI_OWN_MOUNTS
    }

    fn run(&self, job: &Job) -> Result<RunOutcome, RunError> {
        let cli = self.cli()?;
        match self.run_container(cli, job) {
            // Once more, in a new container, for a failure of the runtime's own start-up
            // that says nothing about the isolation asked for.
            Err(e) if is_transient_start_failure(&e.to_string()) => self.run_container(cli, job),
            result => result,
        }
    }
}

/// youki 0.7 sometimes fails to seal the copy of its own binary it runs the container's init
/// from (`failed to seal /proc/self/exe ... Device or resource busy`), at random, while
/// another process has it open: the same bundle starts when created again.
fn is_transient_start_failure(refusal: &str) -> bool {
    refusal.contains("failed to seal /proc/self/exe")
}

#[cfg(test)]
mod transient_tests {
    use super::is_transient_start_failure;

    #[test]
    fn only_youkis_exe_sealing_is_retried() {
        assert!(is_transient_start_failure(
            "create `isoprobe-oci-1-2`: youki 0.7.0: exit status: 1: Error: failed to seal \
             /proc/self/exe Caused by: Device or resource busy (os error 16)"
        ));
        assert!(!is_transient_start_failure(
            "create `isoprobe-oci-1-2`: runc 1.1.5: exit status: 1: Cwd must be an absolute path"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_flavors_and_pivot_modes() {
        for (r, name, no_pivot) in [
            (OciRuntime::runc(false), "runc", false),
            (OciRuntime::crun(false), "crun", false),
            (OciRuntime::youki(), "youki", false),
            (OciRuntime::runc(true), "runc-no-pivot", true),
            (OciRuntime::crun(true), "crun-no-pivot", true),
            (
                OciRuntime::at_path("oci:/usr/local/bin/my-runtime", "/usr/local/bin/my-runtime"),
                "oci:/usr/local/bin/my-runtime",
                false,
            ),
        ] {
            assert_eq!(r.name(), name);
            assert_eq!(r.always_no_pivot, no_pivot, "{name}");
        }
    }

    #[test]
    fn no_pivot_for_chroot_or_weak_variants() {
        let chroot = Isolation {
            root: RootMode::Chroot,
            ..Isolation::base()
        };
        let runc = OciRuntime::runc(false);
        assert!(!runc.no_pivot(&Isolation::base()));
        assert!(runc.no_pivot(&chroot));
        assert!(OciRuntime::runc(true).no_pivot(&Isolation::base()));
    }
}
