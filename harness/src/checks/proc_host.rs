//! `proc.host-invisible`: a host process is out of the container's reach. The harness starts
//! one (the agent binary itself, lingering), hands its host pid to the container, and the
//! agent tries to signal it, find it in /proc, ptrace it and open its namespaces; it also says
//! whether its /proc/1 is itself.

use super::host_side;
use super::{Check, Ctx, Requirement, Verdict};
use crate::runtime::RunError;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::{AgentArgs, NsType, ProbeRequest};
use serde_json::{json, Value};
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
    fn requirements(&self) -> Vec<Requirement> {
        vec![Requirement::Root, Requirement::Namespace(NsType::Pid)]
    }
    fn isolation(&self) -> Isolation {
        Isolation::base()
    }
    fn sabotage(&self) -> Sabotage {
        Sabotage::DropNamespace(NsType::Pid)
    }
    fn probe(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let exe = ctx.rootfs.join(ctx.agent.trim_start_matches('/'));
        let mut sleeper = Command::new(&exe)
            .args(["--linger-ms", LINGER_MS])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(Sleeper)
            .map_err(|e| host_side::setup("start the host sleeper", &exe, e))?;
        let pid = sleeper.0.id();
        let out = ctx.run(
            iso,
            AgentArgs {
                probes: vec![ProbeRequest::new("hostproc", format!("pid={pid}"))],
                ..AgentArgs::default()
            },
        )?;
        let alive = sleeper.alive();
        Ok(judge(&host_side::probe_result(&out, "hostproc"), alive))
    }
}

fn judge(p: &Value, sleeper_alive: bool) -> Verdict {
    let mut failures = Vec::new();
    if !sleeper_alive {
        failures.push("the host sleeper died during the run, so nothing was tested".to_string());
    }
    if let Some(e) = p["error"].as_str() {
        failures.push(format!("the probe did not run: {e}"));
    }
    for (key, what, want) in [
        ("kill", "signal 0", "ESRCH"),
        ("ptrace_seize", "PTRACE_SEIZE", "ESRCH"),
        ("open_ns_net", "opening its /proc/<pid>/ns/net", "ENOENT"),
    ] {
        if p[key] == json!("ok") {
            failures.push(format!("{what} reached the host process"));
        } else if p[key]["errno"] != json!(want) {
            failures.push(format!("{what} failed with {} instead of {want}", p[key]));
        }
    }
    if p["proc_entry"] != json!(false) {
        failures.push("the host process is listed in the container's /proc".to_string());
    }
    let pid1_is_self = p["self_pid"] == json!(1)
        && p["pid1_mnt_ns"].is_string()
        && p["pid1_mnt_ns"] == p["self_mnt_ns"]
        && p["pid1_root"].is_array()
        && p["pid1_root"] == p["self_root"];
    if !pid1_is_self {
        failures.push(format!(
            "/proc/1 is not the agent itself (agent pid {}, mount namespace {} vs {})",
            p["self_pid"], p["pid1_mnt_ns"], p["self_mnt_ns"]
        ));
    }
    let outcome = |key: &str| {
        if p[key] == json!("ok") {
            json!("reached")
        } else {
            p[key]["errno"].clone()
        }
    };
    Verdict::from_failures(
        failures,
        "the host process is out of reach (ESRCH/ENOENT everywhere) and /proc/1 is the agent",
        json!({"kill": "ESRCH", "ptrace_seize": "ESRCH", "open_ns_net": "ENOENT",
               "proc_entry": false, "pid1_is_self": true}),
        json!({
            "kill": outcome("kill"),
            "ptrace_seize": outcome("ptrace_seize"),
            "ptrace_detach": p["ptrace_detach"],
            "open_ns_net": outcome("open_ns_net"),
            "proc_entry": p["proc_entry"],
            "pid1_is_self": pid1_is_self,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::fake::{self, FnRuntime};

    fn unreachable() -> Value {
        json!({
            "self_pid": 1,
            "kill": {"errno": "ESRCH"},
            "proc_entry": false,
            "ptrace_seize": {"errno": "ESRCH"},
            "ptrace_detach": null,
            "open_ns_net": {"errno": "ENOENT"},
            "pid1_mnt_ns": "mnt:[4026532177]",
            "self_mnt_ns": "mnt:[4026532177]",
            "pid1_root": ["isoprobe-agent", "proc"],
            "self_root": ["isoprobe-agent", "proc"],
        })
    }

    #[test]
    fn passes_when_nothing_reaches_the_host_process() {
        let v = judge(&unreachable(), true);
        assert!(v.pass, "{}", v.reason);
    }

    #[test]
    fn each_assertion_fails_on_its_own() {
        let with = |key: &str, v: Value| {
            let mut p = unreachable();
            p[key] = v;
            p
        };
        for (p, alive, needle) in [
            (unreachable(), false, "sleeper died"),
            (with("kill", json!("ok")), true, "signal 0 reached"),
            (
                with("kill", json!({"errno": "EPERM"})),
                true,
                "instead of ESRCH",
            ),
            (
                with("ptrace_seize", json!("ok")),
                true,
                "PTRACE_SEIZE reached",
            ),
            (with("open_ns_net", json!("ok")), true, "ns/net reached"),
            (
                with("proc_entry", json!(true)),
                true,
                "listed in the container's /proc",
            ),
            (with("self_pid", json!(7)), true, "not the agent itself"),
            (
                with("pid1_mnt_ns", json!("mnt:[1]")),
                true,
                "not the agent itself",
            ),
            (
                with("pid1_root", json!(["bin"])),
                true,
                "not the agent itself",
            ),
            (with("error", json!("bad arg")), true, "did not run"),
        ] {
            let v = judge(&p, alive);
            assert!(
                !v.pass && v.reason.contains(needle),
                "{needle}: {}",
                v.reason
            );
        }
    }

    #[test]
    fn the_sleeper_is_killed_and_reaped_when_the_run_fails() {
        let rootfs = crate::rootfs::PreparedRootfs::fresh(crate::agent_binary::AGENT).unwrap();
        let sleeper_pid = std::sync::Mutex::new(None::<i32>);
        // Records the sleeper's pid, then fails like a container that could not start.
        let rt = FnRuntime::new("failing", |job| {
            let pid = job.args.probes[0]
                .arg
                .trim_start_matches("pid=")
                .parse()
                .ok();
            *sleeper_pid.lock().unwrap() = pid;
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
        assert!(check.probe(&ctx, &check.isolation()).is_err());
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
