//! `mnt.no-propagation`: a mount made inside the container does not appear on the host, and a
//! mount the host makes while the container runs does not appear inside.
//!
//! Propagation only matters below a shared mount, and whether the host has one depends on the
//! distribution (systemd makes `/` shared, this project's test machines keep it private). So
//! the check makes its own: a tmpfs inside the rootfs, marked shared before the run. The
//! container starts with a peer copy of it, which only making its mounts private cuts off.

use super::host_side::{self, HostMounts};
use super::{Check, Ctx, Verdict, Control, ShownBy};
use crate::runtime::RunError;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::contract::{Called, Done, MntArgs, MntOutcome};
use isoprobe_probes::AgentArgs;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

pub struct NoPropagation;

/// How long the host waits for the container to have made its mount.
const READY_WAIT: Duration = Duration::from_secs(10);

/// What the host saw and did while the container ran.
#[derive(Debug, Default)]
struct HostSide {
    ready: bool,
    inside_mount_on_host: bool,
    host_mount: Option<String>,
}

impl Check for NoPropagation {
    fn id(&self) -> String {
        "mnt.no-propagation".into()
    }
    fn description(&self) -> String {
        "a mount made inside the container does not appear on the host, and a mount the host \
         makes afterwards under a shared mount the container holds a copy of does not appear \
         inside"
            .into()
    }
    fn control(&self) -> Control {
        Sabotage::SharedMounts.shown_by("mount appeared")
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let token = host_side::token();
        let name = format!("isoprobe-prop-{token}");
        let dir = ctx.rootfs.join(&name);
        // Made before the first mount: whatever the check mounts from here on, or a propagating
        // container leaves below the rootfs, is undone on every return and on a panic.
        let mut mounts = HostMounts::default();
        mounts.watch(ctx.rootfs);
        share_a_tmpfs(&dir, &mut mounts)?;
        // Whatever the run leaves (a mount that propagated out of the container) goes first.
        mounts.mounted(&dir.join(format!("inside-{token}")));
        let args = AgentArgs::trying(MntArgs {
            dir: format!("/{name}"),
            token: token.clone(),
        });
        let (run, host) = std::thread::scope(|s| {
            let handle = s.spawn(|| ctx.run(iso, args));
            let host = act_on_host(&dir, &token, &mut mounts, || handle.is_finished());
            // A panic is a bug: pass it on (the mounts are still undone while it unwinds).
            let run = handle
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            (run, host)
        });
        Ok(host_side::tried(&run?).map_or_else(|v| v, |p| judge(p, &host)))
    }
}

/// A tmpfs at `dir`, marked shared: the container's mount namespace gets a peer of it.
fn share_a_tmpfs(dir: &Path, mounts: &mut HostMounts) -> Result<(), RunError> {
    std::fs::create_dir(dir).map_err(|e| host_side::setup("mkdir", dir, e))?;
    mounts.created_dir(dir);
    host_side::mount_tmpfs("isoprobe-prop", dir)
        .map_err(|e| host_side::setup("mount a tmpfs", dir, e))?;
    mounts.mounted(dir);
    nix::mount::mount(
        None::<&str>,
        dir,
        None::<&str>,
        nix::mount::MsFlags::MS_SHARED,
        None::<&str>,
    )
    .map_err(|e| host_side::setup("make shared", dir, e.into()))
}

/// Waits for the container's mount, looks for it in the host's table, then mounts on the
/// host and tells the container.
fn act_on_host(
    dir: &Path,
    token: &str,
    mounts: &mut HostMounts,
    run_ended: impl FnMut() -> bool,
) -> HostSide {
    let mut host = HostSide {
        ready: host_side::wait_until(READY_WAIT, || dir.join("ready").exists(), run_ended),
        ..HostSide::default()
    };
    if !host.ready {
        return host;
    }
    host.inside_mount_on_host = host_side::mount_points()
        .iter()
        .any(|m| m.ends_with(&format!("/inside-{token}")));
    let target = dir.join(format!("host-{token}"));
    let mounted = std::fs::create_dir(&target)
        .and_then(|()| host_side::mount_tmpfs(&format!("isoprobe-host-{token}"), &target));
    if mounted.is_ok() {
        mounts.mounted(&target);
    }
    let signalled = mounted.and_then(|()| std::fs::write(dir.join("host-mounted"), token));
    host.host_mount = signalled.err().map(|e| e.to_string());
    host
}

/// Holds when the exchange took place and neither mount crossed. Anything that kept the
/// exchange from happening (no mount inside, no signal either way, no mount table) tested
/// nothing.
fn judge(p: &MntOutcome, host: &HostSide) -> Verdict {
    let (mut violations, mut untested) = (Vec::new(), Vec::new());
    if p.mount != Called::Done(Done::Ok) {
        untested.push(format!(
            "the container could not make its mount ({}), so nothing was tested",
            host_side::shown(&p.mount)
        ));
    }
    if !host.ready {
        untested.push("the container never said it had mounted".to_string());
    }
    if let Some(e) = &host.host_mount {
        untested.push(format!("the host could not mount and signal: {e}"));
    }
    if host.ready && host.host_mount.is_none() && !p.host_signal {
        untested.push("the container never saw the host's signal".to_string());
    }
    if host.inside_mount_on_host {
        violations.push("the container's mount appeared in the host's mount table".to_string());
    }
    let seen_inside = p.host_mount_seen;
    match seen_inside {
        Some(false) => {}
        Some(true) => {
            violations.push("the host's mount appeared inside the container".to_string())
        }
        None => untested.push(format!(
            "the container could not read its mount table: {}",
            host_side::shown(&p.mount_points)
        )),
    }
    Verdict::judge(
        violations,
        untested,
        "no mount crossed the boundary: the container's stayed inside, the host's outside",
        json!({"inside_mount_on_host": false, "host_mount_inside": false}),
        json!({
            "inside_mount": p.mount,
            "inside_mount_on_host": host.inside_mount_on_host,
            "host_mount": host.host_mount.clone().map_or(json!("ok"), Value::from),
            "host_mount_inside": seen_inside,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use isoprobe_probes::contract::CallError;

    fn propagated() -> MntOutcome {
        MntOutcome {
            mount: Called::Done(Done::Ok),
            ready: Called::Done(Done::Ok),
            host_signal: true,
            waited_ms: 3,
            host_mount_seen: Some(true),
            mount_points: Called::Done(vec!["/".into(), "/proc".into()]),
        }
    }

    fn isolated() -> MntOutcome {
        MntOutcome {
            host_mount_seen: Some(false),
            ..propagated()
        }
    }

    fn host_ok() -> HostSide {
        HostSide {
            ready: true,
            inside_mount_on_host: false,
            host_mount: None,
        }
    }

    #[test]
    fn passes_when_neither_mount_crosses() {
        let v = judge(&isolated(), &host_ok());
        v.assert_holds();
        assert_eq!(v.observed["inside_mount"], "ok");
    }

    #[test]
    fn a_mount_that_crossed_is_a_violation() {
        let leaked_out = HostSide {
            inside_mount_on_host: true,
            ..host_ok()
        };
        judge(&propagated(), &host_ok()).assert_violated("host's mount appeared inside");
        judge(&isolated(), &leaked_out).assert_violated("appeared in the host's mount table");
    }

    #[test]
    fn an_exchange_that_did_not_happen_is_untested() {
        let no_mount = MntOutcome {
            mount: Called::Failed(CallError::from_errno(nix::errno::Errno::EPERM)),
            ..isolated()
        };
        let no_signal = MntOutcome {
            host_signal: false,
            ..isolated()
        };
        let no_table = MntOutcome {
            host_mount_seen: None,
            ..isolated()
        };
        let not_ready = HostSide {
            ready: false,
            ..host_ok()
        };
        let host_failed = HostSide {
            host_mount: Some("EBUSY".into()),
            ..host_ok()
        };
        for (p, host, needle) in [
            (no_mount, host_ok(), "could not make its mount"),
            (no_signal, host_ok(), "never saw the host's signal"),
            (no_table, host_ok(), "could not read its mount table"),
            (isolated(), not_ready, "never said it had mounted"),
            (isolated(), host_failed, "host could not mount"),
        ] {
            judge(&p, &host).assert_inconclusive(needle);
        }
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use crate::runtime::fake::{self, FnRuntime};
    use crate::runtime::{RunOutcome, Runtime};
    use crate::vocabulary::ExitKind;
    use isoprobe_probes::contract::Try;
    use std::sync::Mutex;
    use std::time::Duration;

    /// Acts like a container whose mounts propagate: it mounts on the host itself (as a
    /// propagated mount would appear there), plays its part of the exchange, and then either
    /// reports or dies (`fail`). The token it was given goes to `given`.
    fn mount_on_host(fail: bool, given: &Mutex<String>) -> impl Runtime + '_ {
        FnRuntime::new("mount-on-host", move |job| {
            let Try::Mnt(a) = &job.args.tries[0] else {
                panic!("not a mnt try: {:?}", job.args.tries)
            };
            let (dir, token) = (a.dir.trim_start_matches('/').to_string(), a.token.clone());
            *given.lock().unwrap() = token.clone();
            let dir = job.rootfs.join(dir);
            let inside = dir.join(format!("inside-{token}"));
            std::fs::create_dir(&inside).unwrap();
            host_side::mount_tmpfs(&format!("isoprobe-inside-{token}"), &inside).unwrap();
            if fail {
                return Err(fake::agent_failed());
            }
            std::fs::write(dir.join("ready"), "").unwrap();
            let signalled = host_side::wait_until(
                Duration::from_secs(5),
                || dir.join("host-mounted").exists(),
                || false,
            );
            let mut observation = isoprobe_probes::agent::observe_cheap();
            observation.tried.push(
                MntOutcome {
                    mount: Called::Done(Done::Ok),
                    ready: Called::Done(Done::Ok),
                    host_signal: signalled,
                    waited_ms: 0,
                    host_mount_seen: Some(mounted_on_host(&format!("/host-{token}"))),
                    mount_points: Called::Done(Vec::new()),
                }
                .into(),
            );
            Ok(RunOutcome {
                observation,
                exit: ExitKind::Code(0),
                host_pid: None,
                host_nspid: None,
                host_cgroup: None,
                cpu_time: None,
                cgroup: None,
            })
        })
    }

    fn mounted_on_host(suffix: &str) -> bool {
        host_side::mount_points()
            .iter()
            .any(|m| m.ends_with(suffix))
    }

    /// Runs the check on [`mount_on_host`]; also hands back the rootfs and the run's token.
    fn run(fail: bool) -> (Result<Verdict, RunError>, std::path::PathBuf, String) {
        let token = Mutex::default();
        let rt = mount_on_host(fail, &token);
        let rootfs = tempfile::Builder::new()
            .prefix("isoprobe-rootfs-")
            .tempdir()
            .unwrap();
        let ctx = Ctx {
            runtime: &rt,
            rootfs: rootfs.path(),
            agent: "/isoprobe-agent",
            scratch: rootfs.path(),
            timeout: Duration::from_secs(5),
        };
        let check = NoPropagation;
        let r = check.run(&ctx, &check.isolation());
        let leftover: Vec<_> = std::fs::read_dir(rootfs.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(leftover.is_empty(), "left in the rootfs: {leftover:?}");
        let token = token.lock().unwrap().clone();
        (r, rootfs.path().to_path_buf(), token)
    }

    /// Nothing the run mounted is left on the host: no mount named after its token, none
    /// below its rootfs.
    #[track_caller]
    fn assert_no_mount_left(token: &str, rootfs: &Path) {
        assert!(!mounted_on_host(&format!("-{token}")));
        assert!(!host_side::mount_points()
            .iter()
            .any(|m| m.starts_with(&*rootfs.to_string_lossy())));
    }

    fn root() -> bool {
        let why = crate::testing::not_root();
        if let Some(why) = &why {
            crate::testing::skip("mnt_propagation host tests", why);
        }
        why.is_none()
    }

    #[test]
    #[serial_test::serial(machine)]
    fn propagation_is_detected_and_every_mount_undone() {
        if !root() {
            return;
        }
        // In a stand-in host's mount namespace, as the engine runs every check.
        crate::standin::in_a_stand_in(|| {
            let (r, rootfs, token) = run(false);
            let v = r.unwrap();
            v.assert_violated("appeared in the host's mount table");
            v.assert_violated("appeared inside the container");
            assert_no_mount_left(&token, &rootfs);
        
        });
    }

    #[test]
    #[serial_test::serial(machine)]
    fn a_failed_run_leaves_no_mount() {
        if !root() {
            return;
        }
        // In a stand-in host's mount namespace, as the engine runs every check.
        crate::standin::in_a_stand_in(|| {
            let (r, rootfs, token) = run(true);
            assert!(r.is_err());
            assert_no_mount_left(&token, &rootfs);
        
        });
    }
}
