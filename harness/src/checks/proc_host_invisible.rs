//! `proc.host-invisible`: a host process is out of the container's reach. The harness starts
//! one (the agent binary itself, lingering), hands its host pid to the container, and the
//! agent tries to signal it, find it in /proc, ptrace it and open its namespaces; it also says
//! whether its /proc/1 is itself.

use super::host_side;
use super::{Check, Ctx, Verdict, Control, ShownBy};
use crate::runtime::RunError;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::contract::{Called, Done, HostprocArgs, HostprocOutcome};
use isoprobe_probes::{AgentArgs, NsType};
use serde_json::json;
use std::process::{Child, Command, Stdio};

pub struct HostInvisible;

/// Far longer than the check; the sleeper is killed as soon as the check is done.
const LINGER_MS: &str = "30000";

/// A host process started for the check, killed and reaped on drop.
struct Sleeper(Child);

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Sleeper {
    fn alive(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
}

impl Check for HostInvisible {
    fn id(&self) -> String {
        "proc.host-invisible".into()
    }
    fn description(&self) -> String {
        "a host process is out of reach: the container cannot signal it, see it in /proc, \
         ptrace it or open its namespaces, and its /proc/1 is itself"
            .into()
    }
    fn control(&self) -> Control {
        Sabotage::DropNamespace(NsType::Pid).shown_by("reached the host process")
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let exe = ctx.rootfs.join(ctx.agent.trim_start_matches('/'));
        let mut sleeper = Command::new(&exe);
        crate::process::dies_with_starter(&mut sleeper);
        let mut sleeper = sleeper
            .args(["--linger-ms", LINGER_MS])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(Sleeper)
            .map_err(|e| host_side::setup("start the host sleeper", &exe, e))?;
        let pid = sleeper.0.id();
        let out = ctx.run(iso, AgentArgs::trying(HostprocArgs { pid: pid as i32 }))?;
        let alive = sleeper.alive();
        Ok(host_side::tried(&out).map_or_else(|v| v, |p| judge(p, alive)))
    }
}

/// `reached` for a call that worked, else its errno.
fn outcome(c: &Called<Done>) -> serde_json::Value {
    match c {
        Called::Done(_) => json!("reached"),
        Called::Failed(e) => json!(e.errno),
    }
}

/// Holds when every attempt on the host process failed as it does for a pid that does not
/// exist, /proc does not list it, and /proc/1 is the agent. An errno that the kernel gives
/// only for a process it found (EPERM from kill, EACCES opening its /proc entry) is a
/// violation; any other says nothing about whether it was found.
fn judge(p: &HostprocOutcome, sleeper_alive: bool) -> Verdict {
    let (mut violations, mut untested) = (Vec::new(), Vec::new());
    if !sleeper_alive {
        untested.push("the host sleeper died during the run, so nothing was tested".to_string());
    }
    for (call, what, want, found) in [
        (&p.kill, "signal 0", "ESRCH", &["EPERM"][..]),
        (&p.ptrace_seize, "PTRACE_SEIZE", "ESRCH", &[][..]),
        (
            &p.open_ns_net,
            "opening its /proc/<pid>/ns/net",
            "ENOENT",
            &["EACCES", "EPERM"][..],
        ),
    ] {
        match call {
            Called::Done(_) => violations.push(format!("{what} reached the host process")),
            Called::Failed(e) if e.errno_is(want) => {}
            Called::Failed(e) => {
                let line = format!(
                    "{what} failed with {} instead of {want}",
                    host_side::shown(e)
                );
                if found.iter().any(|f| e.errno_is(f)) {
                    violations.push(line);
                } else {
                    untested.push(line);
                }
            }
        }
    }
    if p.proc_entry {
        violations.push("the host process is listed in the container's /proc".to_string());
    }
    let pid1_read = p.pid1_mnt_ns.done().is_some() && p.pid1_root.done().is_some();
    let pid1_is_self =
        p.self_pid == 1 && pid1_read && p.pid1_mnt_ns == p.self_mnt_ns && p.pid1_root == p.self_root;
    if !pid1_is_self {
        let line = format!(
            "/proc/1 is not the agent itself (agent pid {}, mount namespace {} vs {})",
            p.self_pid,
            host_side::shown(&p.pid1_mnt_ns),
            host_side::shown(&p.self_mnt_ns)
        );
        // Another pid than 1, or a /proc/1 read that differs, is another process there; an
        // unread one is only unknown.
        if p.self_pid != 1 || pid1_read {
            violations.push(line);
        } else {
            untested.push(line);
        }
    }
    Verdict::judge(
        violations,
        untested,
        "the host process is out of reach (ESRCH/ENOENT everywhere) and /proc/1 is the agent",
        json!({"kill": "ESRCH", "ptrace_seize": "ESRCH", "open_ns_net": "ENOENT",
               "proc_entry": false, "pid1_is_self": true}),
        json!({
            "kill": outcome(&p.kill),
            "ptrace_seize": outcome(&p.ptrace_seize),
            "ptrace_detach": p.ptrace_detach,
            "open_ns_net": outcome(&p.open_ns_net),
            "proc_entry": p.proc_entry,
            "pid1_is_self": pid1_is_self,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::fake::{self, FnRuntime};
    use isoprobe_probes::contract::Try;

    use isoprobe_probes::contract::CallError;
    use nix::errno::Errno;

    fn failed<T>(e: Errno) -> Called<T> {
        Called::Failed(CallError::from_errno(e))
    }

    fn unreachable() -> HostprocOutcome {
        let root: Called<Vec<String>> = Called::Done(vec!["isoprobe-agent".into(), "proc".into()]);
        HostprocOutcome {
            self_pid: 1,
            kill: failed(Errno::ESRCH),
            proc_entry: false,
            ptrace_seize: failed(Errno::ESRCH),
            ptrace_detach: None,
            open_ns_net: failed(Errno::ENOENT),
            pid1_mnt_ns: Called::Done("mnt:[4026532177]".into()),
            self_mnt_ns: Called::Done("mnt:[4026532177]".into()),
            pid1_root: root.clone(),
            self_root: root,
        }
    }

    #[test]
    fn passes_when_nothing_reaches_the_host_process() {
        let v = judge(&unreachable(), true);
        v.assert_holds();
        assert_eq!(v.observed["kill"], "ESRCH");
        assert_eq!(v.observed["ptrace_detach"], serde_json::Value::Null);
    }

    #[test]
    fn reaching_or_finding_the_host_process_is_a_violation() {
        let ok = || Called::Done(Done::Ok);
        let cases: Vec<(HostprocOutcome, &str)> = vec![
            (
                HostprocOutcome {
                    kill: ok(),
                    ..unreachable()
                },
                "signal 0 reached",
            ),
            (
                HostprocOutcome {
                    kill: failed(Errno::EPERM),
                    ..unreachable()
                },
                r#"failed with {"errno":"EPERM","error":"Operation not permitted"} instead of ESRCH"#,
            ),
            (
                HostprocOutcome {
                    ptrace_seize: ok(),
                    ..unreachable()
                },
                "PTRACE_SEIZE reached",
            ),
            (
                HostprocOutcome {
                    open_ns_net: ok(),
                    ..unreachable()
                },
                "ns/net reached",
            ),
            (
                HostprocOutcome {
                    open_ns_net: failed(Errno::EACCES),
                    ..unreachable()
                },
                "ns/net failed with",
            ),
            (
                HostprocOutcome {
                    proc_entry: true,
                    ..unreachable()
                },
                "listed in the container's /proc",
            ),
            (
                HostprocOutcome {
                    self_pid: 7,
                    pid1_mnt_ns: failed(Errno::EACCES),
                    ..unreachable()
                },
                "not the agent itself (agent pid 7",
            ),
            (
                HostprocOutcome {
                    pid1_mnt_ns: Called::Done("mnt:[1]".into()),
                    ..unreachable()
                },
                r#"mount namespace "mnt:[1]" vs "mnt:[4026532177]""#,
            ),
            (
                HostprocOutcome {
                    pid1_root: Called::Done(vec!["bin".into()]),
                    ..unreachable()
                },
                "not the agent itself",
            ),
        ];
        for (p, needle) in cases {
            judge(&p, true).assert_violated(needle);
        }
    }

    #[test]
    fn a_dead_sleeper_or_an_errno_that_finds_nothing_is_untested() {
        let cases: Vec<(HostprocOutcome, bool, &str)> = vec![
            (unreachable(), false, "sleeper died"),
            (
                HostprocOutcome {
                    ptrace_seize: failed(Errno::EPERM),
                    ..unreachable()
                },
                true,
                "PTRACE_SEIZE failed with",
            ),
            (
                HostprocOutcome {
                    kill: failed(Errno::EINVAL),
                    ..unreachable()
                },
                true,
                "signal 0 failed with",
            ),
            (
                HostprocOutcome {
                    pid1_root: failed(Errno::EACCES),
                    ..unreachable()
                },
                true,
                "not the agent itself (agent pid 1",
            ),
        ];
        for (p, alive, needle) in cases {
            judge(&p, alive).assert_inconclusive(needle);
        }
    }

    #[test]
    #[serial_test::serial(machine)]
    fn the_sleeper_is_killed_and_reaped_when_the_run_fails() {
        let rootfs = crate::rootfs::PreparedRootfs::fresh(crate::agent_binary::AGENT).unwrap();
        let sleeper_pid = std::sync::Mutex::new(None::<i32>);
        // Records the sleeper's pid, then fails like a container that could not start.
        let rt = FnRuntime::new("failing", |job| {
            if let Try::Hostproc(a) = &job.args.tries[0] {
                *sleeper_pid.lock().unwrap() = Some(a.pid);
            }
            Err(fake::agent_failed())
        });
        let ctx = Ctx {
            runtime: &rt,
            rootfs: rootfs.path(),
            agent: rootfs.agent(),
            scratch: rootfs.path(),
            timeout: std::time::Duration::from_secs(1),
        };
        let check = HostInvisible;
        assert!(check.run(&ctx, &check.isolation()).is_err());
        let pid = sleeper_pid
            .lock()
            .unwrap()
            .expect("the sleeper's pid was passed on");
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "the sleeper {pid} is still there (alive or a zombie)"
        );
    }
}
