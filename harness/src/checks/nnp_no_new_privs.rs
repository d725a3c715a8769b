//! `nnp.no-new-privs`: with no_new_privs set, an unprivileged process that execs a setuid-root
//! program stays unprivileged.
//!
//! The setuid program is a copy of the agent, made setuid-root for this run only; the agent
//! (uid 1000) execs it, asking it to try `ids`, and reports the euid it got. Reading
//! `NoNewPrivs: 1` proves nothing by itself: a helper that cannot gain root anyway (its file
//! system mounted `nosuid`, say) stays unprivileged with or without the flag. So the check also
//! runs a reference container without no_new_privs, which must show the helper gaining euid 0;
//! only then does the helper staying unprivileged under no_new_privs count.
//!
//! The copy sits on a small tmpfs the check mounts for it without `nosuid` (the scratch dir is
//! under `TMPDIR`, which many systems mount `nosuid`), in a directory of its own under the
//! private scratch dir, bound onto the container's `/tmp`: not in the rootfs, whose directory
//! every host user can walk, where for the length of the run any of them could exec a
//! setuid-root agent (which reads any file named by `--escape`).

use super::host_side::{self, HostMounts};
use super::{Check, Ctx, Verdict, Control, ShownBy};
use crate::runtime::RunError;
use crate::vocabulary::HostStepError;
use crate::vocabulary::{Bind, Isolation, Sabotage};
use isoprobe_probes::contract::{NnpArgs, NnpOutcome};
use isoprobe_probes::AgentArgs;
use serde_json::json;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub struct NoNewPrivs;

const USER: (u32, u32) = (1000, 1000);
/// Where the helper's directory appears inside: an existing directory of every rootfs.
const BIND_TARGET: &str = "/tmp";

/// The setuid-root copy of the agent on a tmpfs of its own; unmounted, then the directory
/// removed, on drop (fields drop in order).
struct SuidHelper {
    _unmount: HostMounts,
    dir: tempfile::TempDir,
    name: String,
}

impl SuidHelper {
    /// Copies `agent` (a host path) onto a new tmpfs under `scratch`.
    fn create(scratch: &Path, agent: &Path) -> Result<SuidHelper, HostStepError> {
        let dir = tempfile::Builder::new()
            .prefix("isoprobe-suid-")
            .tempdir_in(scratch)
            .map_err(|e| HostStepError::new("create the helper dir", scratch, e))?;
        let size = fs::metadata(agent)
            .map_err(|e| HostStepError::new("stat the agent", agent, e))?
            .len();
        let mut mount = HostMounts::default();
        mount_suid_tmpfs(dir.path(), size)?;
        mount.mounted(dir.path());
        let me = SuidHelper {
            _unmount: mount,
            dir,
            name: format!("isoprobe-suid-{}-{}", std::process::id(), unique()),
        };
        let path = me.host_path();
        let err = |step, e| HostStepError::new(step, &path, e);
        crate::process::copy_executable(agent, &path, 0o755)
            .map_err(|e| err("copy the agent to", e))?;
        std::os::unix::fs::chown(&path, Some(0), Some(0)).map_err(|e| err("chown", e))?;
        // After the chown: changing the owner clears the setuid bit.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o4755))
            .map_err(|e| err("chmod 04755", e))?;
        Ok(me)
    }

    fn host_path(&self) -> PathBuf {
        self.dir.path().join(&self.name)
    }

    /// The helper's path inside the container.
    fn inside(&self) -> String {
        format!("{BIND_TARGET}/{}", self.name)
    }

    /// `iso` with the helper's directory bound in.
    fn bound_into(&self, iso: &Isolation) -> Isolation {
        let mut iso = iso.clone();
        iso.binds.push(Bind {
            source: self.dir.path().to_path_buf(),
            target: BIND_TARGET.into(),
        });
        iso
    }
}

const MOUNT_STEP: &str = "mount a setuid-capable tmpfs on";

/// A tmpfs at `target` that honours setuid (no `nosuid`), with room for a `size`-byte file.
/// Mode 0755: the container's uid must be able to walk into it.
fn mount_suid_tmpfs(target: &Path, size: u64) -> Result<(), HostStepError> {
    let room = size + (1 << 20);
    nix::mount::mount(
        Some("isoprobe-suid"),
        target,
        Some("tmpfs"),
        nix::mount::MsFlags::MS_NODEV,
        Some(format!("size={room},mode=0755").as_str()),
    )
    .map_err(|e| HostStepError::new(MOUNT_STEP, target, e.into()))
}

/// Unique among the runs of this process, also when checks run side by side.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Check for NoNewPrivs {
    fn id(&self) -> String {
        "nnp.no-new-privs".into()
    }
    fn description(&self) -> String {
        format!(
            "with no_new_privs set, uid {} inside execs a setuid-root copy of the agent and \
             stays euid {}, where the same container without no_new_privs gets euid 0",
            USER.0, USER.0
        )
    }
    fn isolation(&self) -> Isolation {
        Isolation {
            user: Some(USER),
            no_new_privs: true,
            ..Isolation::base()
        }
    }
    fn control(&self) -> Control {
        Sabotage::AllowNewPrivs.shown_by("ran with euid 0")
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let agent = ctx.rootfs.join(ctx.agent.trim_start_matches('/'));
        let helper = match SuidHelper::create(ctx.scratch, &agent) {
            Ok(h) => h,
            // Without a mount that honours setuid nothing here can show the flag at work.
            Err(e) if e.step == MOUNT_STEP => {
                return Ok(Verdict::inconclusive(format!(
                    "the setuid-root helper has no mount that honours setuid: {e}"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let try_helper = |iso: &Isolation| {
            ctx.run(
                &helper.bound_into(iso),
                AgentArgs::trying(NnpArgs {
                    helper: helper.inside(),
                }),
            )
        };
        // The negative control's run is its own reference: it has no no_new_privs to take away.
        let reference = if iso.no_new_privs {
            let without = Isolation {
                no_new_privs: false,
                ..iso.clone()
            };
            Some(try_helper(&without)?)
        } else {
            None
        };
        let out = try_helper(iso)?;
        drop(helper);
        let judged = host_side::tried::<NnpOutcome>(&out).and_then(|p| {
            let r = reference.as_ref().map(host_side::tried::<NnpOutcome>);
            Ok(judge(p, r.transpose()?))
        });
        Ok(judged.unwrap_or_else(|v| v))
    }
}

/// Holds when the setuid-root helper stayed at the agent's euid under no_new_privs while, in
/// `reference` (the same container without no_new_privs; `None` when `p`'s own run had none),
/// it became root. The NoNewPrivs line is only an observation: configuration read back, not
/// behaviour.
fn judge(p: &NnpOutcome, reference: Option<&NnpOutcome>) -> Verdict {
    let mut violations = Vec::new();
    let mut untested = Vec::new();
    let runs = [Some(("", p)), reference.map(|r| (" in the reference run", r))];
    for (run, o) in runs.into_iter().flatten() {
        if o.euid != USER.0 {
            untested.push(format!(
                "the agent ran with euid {}{run}, not {}: it was not unprivileged",
                o.euid, USER.0
            ));
        }
    }
    match p.helper_euid {
        Some(0) => violations.push("the setuid-root helper ran with euid 0".to_string()),
        Some(e) if e == USER.0 => {}
        _ => untested.push(format!("the helper gave no usable euid: {}", helper_result(p))),
    }
    // Staying unprivileged shows the flag at work only where the helper gains root without it.
    let base = reference.unwrap_or(p);
    if base.helper_euid != Some(0) && (reference.is_some() || p.helper_euid == Some(USER.0)) {
        untested.push(format!(
            "the setuid-root helper did not gain root even without no_new_privs: {}",
            helper_result(base)
        ));
    }
    Verdict::judge(
        violations,
        untested,
        &format!(
            "the setuid-root helper ran with euid {} under no_new_privs, and with euid 0 \
             without it",
            USER.0
        ),
        json!({"euid": USER.0, "helper_euid": USER.0, "reference_helper_euid": 0}),
        json!({
            "euid": p.euid,
            "no_new_privs": p.no_new_privs,
            "helper_euid": p.helper_euid,
            "helper_exit": p.helper_exit,
            "reference_helper_euid": base.helper_euid,
        }),
    )
}

/// What became of the helper: its euid, or how it ended and why its output was unusable.
fn helper_result(o: &NnpOutcome) -> String {
    match o.helper_euid {
        Some(e) => format!("it ran with euid {e}"),
        None => format!(
            "it reported no euid (exit {}, {})",
            host_side::shown(&o.helper_exit),
            host_side::shown(&o.helper_error)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::checks::Finding;
    use isoprobe_probes::contract::{Called, Ended, Ids};

    fn helper_ran_as(euid: u32) -> NnpOutcome {
        NnpOutcome {
            uid: 1000,
            euid: 1000,
            no_new_privs: Called::Done(Some(euid != 0)),
            helper: "/tmp/isoprobe-suid-1-0".into(),
            helper_exit: Some(Called::Done(Ended::Code(0))),
            helper_euid: Some(euid),
            helper_ids: Some(Ids {
                uid: 1000,
                euid,
                gid: 1000,
                egid: 1000,
            }),
            helper_error: None,
        }
    }

    #[test]
    fn holds_when_the_helper_stays_unprivileged_and_the_reference_gains_root() {
        let v = judge(&helper_ran_as(1000), Some(&helper_ran_as(0)));
        assert!(v.pass(), "{}", v.reason);
        assert_eq!(v.observed["helper_exit"], json!({"code": 0}));
        assert_eq!(v.observed["reference_helper_euid"], 0);
    }

    #[test]
    fn a_helper_that_gains_root_is_a_violation() {
        for reference in [None, Some(&helper_ran_as(0))] {
            let v = judge(&helper_ran_as(0), reference);
            assert_eq!(v.finding, Finding::Violated, "{}", v.reason);
            v.assert_fails_with("ran with euid 0");
        }
    }

    #[test]
    fn never_passes_on_the_flag_alone() {
        // TMPDIR on a nosuid mount: the helper stays unprivileged with or without the flag.
        let v = judge(&helper_ran_as(1000), Some(&helper_ran_as(1000)));
        assert_eq!(v.finding, Finding::Inconclusive, "{}", v.reason);
        v.assert_fails_with("did not gain root even without no_new_privs: it ran with euid 1000");
        // The same seen by the negative control, which is its own reference.
        let v = judge(&helper_ran_as(1000), None);
        assert_eq!(v.finding, Finding::Inconclusive, "{}", v.reason);
        v.assert_fails_with("did not gain root even without no_new_privs");
    }

    #[test]
    fn what_kept_it_from_being_tested_is_inconclusive() {
        type Change = fn(&mut NnpOutcome, &mut NnpOutcome);
        let cases: [(Change, &str); 4] = [
            (|p, _| p.helper_euid = None, "gave no usable euid"),
            (|p, _| p.euid = 0, "not unprivileged"),
            (|_, r| r.euid = 0, "in the reference run"),
            (
                |_, r| {
                    r.helper_euid = None;
                    r.helper_error = Some("no output".into());
                },
                "did not gain root even without no_new_privs: it reported no euid",
            ),
        ];
        for (change, needle) in cases {
            let (mut p, mut r) = (helper_ran_as(1000), helper_ran_as(0));
            change(&mut p, &mut r);
            let v = judge(&p, Some(&r));
            v.assert_inconclusive(needle);
        }
    }

    #[test]
    #[serial_test::serial(machine)]
    fn the_helper_is_setuid_root_on_its_own_suid_mount_and_removed_on_every_path() {
        // Mounting and giving a file to root need root.
        crate::require_root!("the_helper_is_setuid_root_on_its_own_suid_mount");
        // In a stand-in host's mount namespace: the machine's mount table is not touched.
        crate::standin::in_a_stand_in(helper_on_its_own_mount);
    }

    fn helper_on_its_own_mount() {
        use std::os::unix::fs::MetadataExt;
        let scratch = tempfile::tempdir().unwrap();
        let agent = scratch.path().join("agent");
        fs::write(&agent, b"agent").unwrap();
        let h = SuidHelper::create(scratch.path(), &agent).unwrap();
        let m = fs::metadata(h.host_path()).unwrap();
        assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o4755, 0, 0));
        let fs_type = nix::sys::statfs::statfs(h.dir.path()).unwrap().filesystem_type();
        assert_eq!(fs_type, nix::sys::statfs::TMPFS_MAGIC);
        let flags = nix::sys::statvfs::statvfs(h.dir.path()).unwrap().flags();
        assert!(!flags.contains(nix::sys::statvfs::FsFlags::ST_NOSUID));
        let iso = h.bound_into(&Isolation::base());
        assert_eq!(iso.binds.len(), 1);
        assert_eq!(
            Path::new(&iso.binds[0].target).join(&h.name),
            Path::new(&h.inside())
        );
        assert_eq!(iso.binds[0].source.join(&h.name), h.host_path());
        // A directory still mounted on could not be removed: "left" shows the unmount too.
        drop(h);
        assert!(SuidHelper::create(scratch.path(), &scratch.path().join("missing")).is_err());
        let left: Vec<_> = fs::read_dir(scratch.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, ["agent"]);
    }
}
