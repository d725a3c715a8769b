//! `cgroup.ns-root`: inside a cgroup namespace every line of /proc/self/cgroup shows the root
//! `/`, although the container sits in a cgroup of its own (and, here, in the machine's memory
//! cgroup), which the host sees under a non-root path.

use super::{Check, Ctx, Verdict};
use crate::runtime::RunError;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::{AgentArgs, NsType};
use serde_json::json;

pub struct CgroupNsRoot;

/// A /proc/self/cgroup line split into (controllers, path); the unified line's controllers are
/// empty, so it is named by its hierarchy id (`0`).
fn split_line(line: &str) -> Option<(String, &str)> {
    let mut parts = line.splitn(3, ':');
    let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
    let name = if controllers.is_empty() {
        format!("hierarchy {id}")
    } else {
        controllers.to_string()
    };
    Some((name, path))
}

impl Check for CgroupNsRoot {
    fn id(&self) -> String {
        "cgroup.ns-root".into()
    }
    fn description(&self) -> String {
        "inside a cgroup namespace every line of /proc/self/cgroup shows the root `/`, though \
         the container is in a cgroup of its own"
            .into()
    }
    fn isolation(&self) -> Isolation {
        Isolation {
            own_cgroup: true,
            ..Isolation::base().with_ns(NsType::Cgroup)
        }
    }
    fn sabotage(&self) -> Sabotage {
        Sabotage::DropNamespace(NsType::Cgroup)
    }
    fn control_evidence(&self) -> &'static str {
        "not at the namespace root"
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let out = ctx.run(iso, AgentArgs::default())?;
        let own_cgroup = out.cgroup.as_ref().and_then(|c| c.paths.first().cloned());
        Ok(judge(
            out.observation.cgroup.ok().map(Vec::as_slice),
            own_cgroup.is_some(),
        ))
    }
}

fn judge(lines: Option<&[String]>, own_cgroup: bool) -> Verdict {
    let mut failures = Vec::new();
    if !own_cgroup {
        // Without it the container shares the caller's cgroups, which may be roots already:
        // the check could not tell a namespace from its absence.
        failures.push("the runtime did not put the container in a cgroup of its own".into());
    }
    let lines = lines.unwrap_or_default();
    if lines.is_empty() {
        failures.push("the container could not read /proc/self/cgroup".into());
    }
    let mut not_root = Vec::new();
    let mut example = None;
    for line in lines {
        match split_line(line) {
            Some((_, "/")) => {}
            Some((name, path)) => {
                // The container's own cgroup is the telling example; other paths are the
                // machine's.
                if example.is_none() || path.contains("isoprobe-") {
                    example = Some(path.to_string());
                }
                not_root.push(name);
            }
            None => failures.push(format!(
                "/proc/self/cgroup line `{line}` is not `id:controllers:path`"
            )),
        }
    }
    if let Some(path) = &example {
        failures.push(format!(
            "not at the namespace root in {}: e.g. `{path}`",
            not_root.join(", ")
        ));
    }
    Verdict::from_failures(
        failures,
        &format!("all {} hierarchies show `/` inside", lines.len()),
        json!({"not_root": [], "own_cgroup": true}),
        json!({
            "not_root": not_root,
            "own_cgroup": own_cgroup,
            "own_cgroup_path_seen": example.is_some_and(|p| p.contains("isoprobe-")),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn passes_when_every_line_is_root() {
        let inside = lines("4:memory:/\n1:cpu:/\n0::/");
        assert!(judge(Some(&inside), true).pass());
        assert!(
            !judge(Some(&inside), false).pass(),
            "no own cgroup proves nothing"
        );
        assert!(!judge(None, true).pass());
    }

    #[test]
    fn names_the_hierarchies_and_the_own_cgroup_without_a_namespace() {
        let host = lines("4:memory:/process_api/ab\n2:cpuacct:/\n1:cpu:/isoprobe-spawn-1-0\n0::/");
        let v = judge(Some(&host), true);
        assert!(!v.pass());
        assert!(v.reason.contains("memory, cpu"), "{}", v.reason);
        assert!(v.reason.contains("/isoprobe-spawn-1-0"), "{}", v.reason);
        assert_eq!(v.observed["own_cgroup_path_seen"], true);
    }

    #[test]
    fn a_path_with_colons_is_kept_whole_and_garbage_fails() {
        assert_eq!(split_line("1:name=x:/a:b"), Some(("name=x".into(), "/a:b")));
        assert!(!judge(Some(&lines("garbage")), true).pass());
    }
}
