//! `root.old-root-gone`: after pivot_root nothing of the host's root is reachable. The agent
//! lists its mount points and tries the host path of a canary below every one that is not its
//! own `/` or `/proc`; a kept old root shows up as an extra mount point the canary is read
//! through.

use super::host_side::{self, Canary};
use super::{Check, Ctx, Requirement, Verdict};
use crate::runtime::RunError;
use crate::vocabulary::OLD_ROOT;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::{AgentArgs, NsType, ProbeRequest};
use serde_json::{json, Value};
use std::fs;
use std::path::PathBuf;

pub struct OldRootGone;

/// The mount points a container of `Isolation::base()` has: its root and its /proc.
const EXPECTED: [&str; 2] = ["/", "/proc"];
/// Enough of a leaked host mount table to show what it is.
const SHOWN: usize = 8;

impl Check for OldRootGone {
    fn id(&self) -> String {
        "root.old-root-gone".into()
    }
    fn description(&self) -> String {
        "after pivot_root the container's mount table holds only its root and /proc, and a \
         host canary outside the rootfs cannot be read below any of its mount points"
            .into()
    }
    fn requirements(&self) -> Vec<Requirement> {
        vec![Requirement::Root, Requirement::Namespace(NsType::Mnt)]
    }
    fn isolation(&self) -> Isolation {
        Isolation::base()
    }
    fn sabotage(&self) -> Sabotage {
        Sabotage::KeepOldRoot
    }
    fn probe(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let canary = Canary::create(ctx.scratch)?;
        let _put_old = RemovedIfNew::new(ctx.rootfs.join(&OLD_ROOT[1..]));
        let out = ctx.run(
            iso,
            AgentArgs {
                probes: vec![ProbeRequest::new(
                    "oldroot",
                    format!("canary={}", canary.path().display()),
                )],
                ..AgentArgs::default()
            },
        )?;
        Ok(judge(
            &host_side::probe_result(&out, "oldroot"),
            canary.secret(),
        ))
    }
}

/// The directory a kept old root is mounted on is made by the container in the rootfs, which
/// may be the user's own: it goes again if this run made it (and it is empty, as the mount
/// left with the container's mount namespace).
struct RemovedIfNew(Option<PathBuf>);

impl RemovedIfNew {
    fn new(dir: PathBuf) -> RemovedIfNew {
        RemovedIfNew((!dir.exists()).then_some(dir))
    }
}

impl Drop for RemovedIfNew {
    fn drop(&mut self) {
        if let Some(d) = &self.0 {
            let _ = fs::remove_dir(d);
        }
    }
}

fn judge(p: &Value, secret: &str) -> Verdict {
    let mut failures = Vec::new();
    let extra: Vec<String> = match p["mount_points"].as_array() {
        Some(points) => {
            let points: Vec<&str> = points.iter().filter_map(Value::as_str).collect();
            for want in EXPECTED {
                if !points.contains(&want) {
                    failures.push(format!("`{want}` is not among the mount points"));
                }
            }
            // Runtimes cover parts of /proc (read-only binds of /proc/irq, /proc/bus, ...):
            // those are the container's own proc, not the old root; the canary is still
            // tried below them.
            points
                .into_iter()
                .filter(|m| !EXPECTED.contains(m) && !m.starts_with("/proc/"))
                .map(str::to_string)
                .collect()
        }
        None => {
            failures.push(format!(
                "the container could not list its mount points: {}",
                p["mount_points"]
            ));
            Vec::new()
        }
    };
    if !extra.is_empty() {
        failures.push(format!(
            "{} mount points besides / and /proc, at or below `{}`",
            extra.len(),
            outermost(&extra).join("`, `")
        ));
    }
    let reads = p["reads"].as_array().cloned().unwrap_or_default();
    if reads.is_empty() {
        failures.push("the agent tried no path to the canary".to_string());
    }
    let reached: Vec<&str> = reads
        .iter()
        .filter(|r| r["read"]["ok"].as_str().map(str::trim) == Some(secret))
        .filter_map(|r| r["path"].as_str())
        .collect();
    if let Some(first) = reached.first() {
        failures.push(format!("the host canary was read through `{first}`"));
    }
    Verdict::from_failures(
        failures,
        "only / and /proc are mounted, and the canary was reachable by no path",
        json!({"mount_points": EXPECTED, "canary_reached_through": []}),
        json!({
            "extra_mount_points": outermost(&extra),
            "canary_reached_through": reached,
        }),
    )
}

/// The extra mount points that are not below another one: a kept old root shows as itself,
/// not as the host's whole mount table (which differs from machine to machine).
fn outermost(points: &[String]) -> Vec<&str> {
    let mut out: Vec<&str> = points
        .iter()
        .map(String::as_str)
        .filter(|m| {
            !points
                .iter()
                .any(|p| p != m && p != "/" && m.starts_with(&format!("{}/", p)))
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out.truncate(SHOWN);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "isoprobe-canary-x";

    fn gone() -> Value {
        json!({
            "mount_points": ["/", "/proc"],
            "reads": [{"path": "/tmp/c", "read": {"errno": "ENOENT"}}],
        })
    }

    #[test]
    fn passes_with_only_root_and_proc_and_no_read() {
        let v = judge(&gone(), SECRET);
        assert!(v.pass, "{}", v.reason);
    }

    #[test]
    fn each_assertion_fails_on_its_own() {
        let mut extra = gone();
        extra["mount_points"] = json!(["/", "/proc", "/.old", "/.old/sys"]);
        let mut proc_covers = gone();
        proc_covers["mount_points"] = json!(["/", "/proc", "/proc/irq", "/proc/bus"]);
        assert!(
            judge(&proc_covers, SECRET).pass,
            "covers of /proc are not the old root"
        );
        let mut no_proc = gone();
        no_proc["mount_points"] = json!(["/"]);
        let mut unlisted = gone();
        unlisted["mount_points"] = json!({"errno": "ENOENT"});
        let mut read = gone();
        read["reads"] = json!([{"path": "/.old/tmp/c", "read": {"ok": format!("{SECRET}\n")}}]);
        let mut no_reads = gone();
        no_reads["reads"] = json!([]);
        for (p, needle) in [
            (
                extra,
                "2 mount points besides / and /proc, at or below `/.old`",
            ),
            (no_proc, "`/proc` is not among"),
            (unlisted, "could not list its mount points"),
            (read, "read through `/.old/tmp/c`"),
            (no_reads, "tried no path"),
            (Value::Null, "could not list"),
        ] {
            let v = judge(&p, SECRET);
            assert!(
                !v.pass && v.reason.contains(needle),
                "{needle}: {}",
                v.reason
            );
        }
    }

    #[test]
    fn another_file_is_not_the_canary() {
        let mut p = gone();
        p["reads"] = json!([{"path": "/x/tmp/c", "read": {"ok": "something else"}}]);
        assert!(judge(&p, SECRET).pass);
    }

    #[test]
    fn outermost_keeps_only_tops() {
        let points = ["/.old", "/.old/proc", "/.old/sys/fs", "/x", "/.old"].map(String::from);
        assert_eq!(outermost(&points), ["/.old", "/x"]);
    }
}
