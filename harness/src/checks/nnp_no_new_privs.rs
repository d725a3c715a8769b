//! `nnp.no-new-privs`: with no_new_privs set, an unprivileged process that execs a setuid-root
//! program stays unprivileged.
//!
//! The setuid program is a copy of the agent, made setuid-root for this run only; the agent
//! (uid 1000) execs it, asking it to try `ids`, and reports the euid it got. Without no_new_privs
//! that euid is 0, which is what the negative control shows: the copy really is setuid-root and
//! its mount honours the bit.
//!
//! The copy does not sit in the rootfs itself, whose directory every host user can walk: for
//! the length of the run any of them could exec a setuid-root agent (which reads any file named
//! by `--escape`). It sits in a directory of its own under the private scratch dir, bound onto
//! the container's `/tmp`, so only the container's mount namespace can reach it.

use super::host_side;
use super::{Check, Ctx, Verdict};
use crate::runtime::RunError;
use crate::vocabulary::HostStepError;
use crate::vocabulary::{Bind, Isolation, Sabotage};
use isoprobe_probes::contract::{Called, NnpArgs, NnpOutcome};
use isoprobe_probes::AgentArgs;
use serde_json::json;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub struct NoNewPrivs;

const USER: (u32, u32) = (1000, 1000);
/// Where the helper's directory appears inside: an existing directory of every rootfs.
const BIND_TARGET: &str = "/tmp";

/// The setuid-root copy of the agent in a directory of its own; both removed on drop.
struct SuidHelper {
    dir: tempfile::TempDir,
    name: String,
}

impl SuidHelper {
    /// Copies `agent` (a host path) into a new directory under `scratch`.
    fn create(scratch: &Path, agent: &Path) -> Result<SuidHelper, HostStepError> {
        let dir = tempfile::Builder::new()
            .prefix("isoprobe-suid-")
            .tempdir_in(scratch)
            .map_err(|e| HostStepError::new("create the helper dir", scratch, e))?;
        let me = SuidHelper {
            dir,
            name: format!("isoprobe-suid-{}-{}", std::process::id(), unique()),
        };
        let path = me.host_path();
        let err = |step, e| HostStepError::new(step, &path, e);
        // The container's uid must be able to walk into the bound directory.
        fs::set_permissions(me.dir.path(), fs::Permissions::from_mode(0o755))
            .map_err(|e| err("chmod 0755 the dir of", e))?;
        fs::copy(agent, &path).map_err(|e| err("copy the agent to", e))?;
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
             stays euid {}",
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
    fn sabotage(&self) -> Sabotage {
        Sabotage::AllowNewPrivs
    }
    fn control_evidence(&self) -> &'static str {
        "ran with euid 0"
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let agent = ctx.rootfs.join(ctx.agent.trim_start_matches('/'));
        let helper = SuidHelper::create(ctx.scratch, &agent)?;
        let out = ctx.run(
            &helper.bound_into(iso),
            AgentArgs::trying(NnpArgs {
                helper: helper.inside(),
            }),
        )?;
        drop(helper);
        Ok(host_side::tried(&out).map_or_else(|v| v, judge))
    }
}

/// Passes when the agent ran unprivileged with NoNewPrivs set and the setuid-root helper did
/// not gain euid 0.
fn judge(p: &NnpOutcome) -> Verdict {
    let mut failures = Vec::new();
    if p.euid != USER.0 {
        failures.push(format!(
            "the agent ran with euid {}, not {}: the test is not unprivileged",
            p.euid, USER.0
        ));
    }
    match &p.no_new_privs {
        Called::Done(Some(true)) => {}
        Called::Done(Some(false)) => failures.push("NoNewPrivs is 0, not 1".into()),
        other => failures.push(format!("NoNewPrivs not read: {}", host_side::shown(other))),
    }
    match p.helper_euid {
        Some(e) if e == USER.0 => {}
        Some(e) => failures.push(format!("the setuid-root helper ran with euid {e}")),
        None => failures.push(format!(
            "the helper reported no euid (exit {}, {})",
            host_side::shown(&p.helper_exit),
            host_side::shown(&p.helper_error)
        )),
    }
    Verdict::from_failures(
        failures,
        &format!(
            "NoNewPrivs 1; the setuid-root helper ran with euid {}",
            USER.0
        ),
        json!({"euid": USER.0, "no_new_privs": true, "helper_euid": USER.0}),
        json!({
            "euid": p.euid,
            "no_new_privs": p.no_new_privs,
            "helper_euid": p.helper_euid,
            "helper_exit": p.helper_exit,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use isoprobe_probes::contract::{CallError, Ended, Ids};

    fn contained() -> NnpOutcome {
        NnpOutcome {
            uid: 1000,
            euid: 1000,
            no_new_privs: Called::Done(Some(true)),
            helper: "/isoprobe-suid-1-0".into(),
            helper_exit: Some(Called::Done(Ended::Code(0))),
            helper_euid: Some(1000),
            helper_ids: Some(Ids {
                uid: 1000,
                euid: 1000,
                gid: 1000,
                egid: 1000,
            }),
            helper_error: None,
        }
    }

    #[test]
    fn passes_when_the_helper_stays_unprivileged() {
        let v = judge(&contained());
        assert!(v.pass(), "{}", v.reason);
        assert_eq!(v.observed["helper_exit"], json!({"code": 0}));
    }

    #[test]
    fn each_assertion_fails_on_its_own() {
        type Change = fn(&mut NnpOutcome);
        let cases: [(Change, &str); 5] = [
            (|p| p.helper_euid = Some(0), "ran with euid 0"),
            (|p| p.helper_euid = None, "reported no euid"),
            (
                |p| p.no_new_privs = Called::Done(Some(false)),
                "NoNewPrivs is 0",
            ),
            (
                |p| p.no_new_privs = Called::Failed(CallError::text("x")),
                "NoNewPrivs not read",
            ),
            (|p| p.euid = 0, "not unprivileged"),
        ];
        for (change, needle) in cases {
            let mut p = contained();
            change(&mut p);
            let v = judge(&p);
            v.assert_fails_with(needle);
        }
    }

    #[test]
    fn the_helper_is_setuid_root_bound_in_and_removed_on_every_path() {
        use std::os::unix::fs::MetadataExt;
        // Giving a file to root needs root.
        crate::require_root!("the_helper_is_setuid_root_bound_in_and_removed_on_every_path");
        let scratch = tempfile::tempdir().unwrap();
        let agent = scratch.path().join("agent");
        fs::write(&agent, b"agent").unwrap();
        let h = SuidHelper::create(scratch.path(), &agent).unwrap();
        let m = fs::metadata(h.host_path()).unwrap();
        assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o4755, 0, 0));
        let iso = h.bound_into(&Isolation::base());
        assert_eq!(iso.binds.len(), 1);
        assert_eq!(
            Path::new(&iso.binds[0].target).join(&h.name),
            Path::new(&h.inside())
        );
        assert_eq!(iso.binds[0].source.join(&h.name), h.host_path());
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
