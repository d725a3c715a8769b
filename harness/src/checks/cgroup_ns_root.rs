//! `cgroup.ns-root`: inside a cgroup namespace every line of /proc/self/cgroup shows the root
//! `/`, although the host sees the container's process under a non-root path (its own cgroup
//! and, here, the machine's memory cgroup).
//!
//! The host's half is observed, never computed: the runtime reads `/proc/<pid>/cgroup` of the
//! container's init from the host before it starts (`RunOutcome::host_cgroup`). A hierarchy
//! the host also sees at `/` cannot tell a namespace from its absence, so at least one must be
//! non-root there.

use super::{Check, Ctx, Verdict, Control, ShownBy};
use crate::runtime::RunError;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::{AgentArgs, NsType};
use serde_json::json;

pub struct CgroupNsRoot;

/// A /proc/<pid>/cgroup line split into (hierarchy, name, path): the hierarchy is the
/// `id:controllers` prefix that names the same hierarchy inside and on the host; the name is
/// the controllers, or `hierarchy <id>` for the unified line whose controllers are empty.
fn split_line(line: &str) -> Option<(&str, String, &str)> {
    let mut parts = line.splitn(3, ':');
    let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
    let name = if controllers.is_empty() {
        format!("hierarchy {id}")
    } else {
        controllers.to_string()
    };
    Some((&line[..id.len() + 1 + controllers.len()], name, path))
}

impl Check for CgroupNsRoot {
    fn id(&self) -> String {
        "cgroup.ns-root".into()
    }
    fn description(&self) -> String {
        "inside a cgroup namespace every line of /proc/self/cgroup shows the root `/`, though \
         the host sees the container's process under a non-root cgroup"
            .into()
    }
    fn isolation(&self) -> Isolation {
        Isolation {
            own_cgroup: true,
            ..Isolation::base().with_ns(NsType::Cgroup)
        }
    }
    fn control(&self) -> Control {
        Sabotage::DropNamespace(NsType::Cgroup).shown_by("not at the namespace root")
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let out = ctx.run(iso, AgentArgs::default())?;
        Ok(judge(
            out.observation.cgroup.ok().map(Vec::as_slice),
            out.host_cgroup.as_deref(),
        ))
    }
}

/// `inside`: the container's /proc/self/cgroup; `host`: its init's as the host read it.
fn judge(inside: Option<&[String]>, host: Option<&[String]>) -> Verdict {
    let mut violations = Vec::new();
    let mut untested = Vec::new();
    let inside = inside.unwrap_or_default();
    if inside.is_empty() {
        untested.push("the container could not read /proc/self/cgroup".to_string());
    }
    let mut not_root = Vec::new();
    let mut example = None;
    let mut root_inside = Vec::new();
    for line in inside {
        match split_line(line) {
            Some((hierarchy, _, "/")) => root_inside.push(hierarchy),
            Some((_, name, path)) => {
                // The container's own cgroup is the telling example; other paths are the
                // machine's.
                if example.is_none() || path.contains("isoprobe-") {
                    example = Some(path.to_string());
                }
                not_root.push(name);
            }
            None => untested.push(format!(
                "/proc/self/cgroup line `{line}` is not `id:controllers:path`"
            )),
        }
    }
    if let Some(path) = &example {
        violations.push(format!(
            "not at the namespace root in {}: e.g. `{path}`",
            not_root.join(", ")
        ));
    }
    // Where the host sees the container away from the root while it sees `/`.
    let mut shown = Vec::new();
    let mut host_path = None;
    match host {
        None => untested.push(
            "the host's view of the container's cgroups was not read: the runtime gives no \
             host pid"
                .to_string(),
        ),
        Some(lines) => {
            for (hierarchy, name, path) in lines.iter().filter_map(|l| split_line(l)) {
                if path != "/" && root_inside.contains(&hierarchy) {
                    if host_path.is_none() || path.contains("isoprobe-") {
                        host_path = Some(path.to_string());
                    }
                    shown.push(name);
                }
            }
            if shown.is_empty() && violations.is_empty() && !inside.is_empty() {
                untested.push(
                    "the host sees the container at the root of every hierarchy it shows as \
                     `/`, so a namespace cannot be told from its absence"
                        .to_string(),
                );
            }
        }
    }
    Verdict::judge(
        violations,
        untested,
        &format!(
            "all {} hierarchies show `/` inside, while the host sees the container at `{}` ({})",
            inside.len(),
            host_path.as_deref().unwrap_or_default(),
            shown.join(", ")
        ),
        json!({"not_root": [], "host_not_root": ["<at least one>"]}),
        json!({
            "not_root": not_root,
            "host_not_root": shown,
            "own_cgroup_path_seen": example.is_some_and(|p| p.contains("isoprobe-")),
            "host_sees_own_cgroup": host_path.is_some_and(|p| p.contains("isoprobe-")),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Finding;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    const HOST: &str = "4:memory:/process_api/ab\n1:cpu:/isoprobe-spawn-1-0\n0::/";

    #[test]
    fn holds_when_inside_is_root_where_the_host_sees_a_cgroup() {
        let inside = lines("4:memory:/\n1:cpu:/\n0::/");
        let v = judge(Some(&inside), Some(&lines(HOST)));
        assert!(v.pass(), "{}", v.reason);
        assert!(v.reason.contains("`/isoprobe-spawn-1-0` (memory, cpu)"), "{}", v.reason);
        assert_eq!(v.observed["host_sees_own_cgroup"], true);
    }

    #[test]
    fn names_the_hierarchies_and_the_own_cgroup_without_a_namespace() {
        let v = judge(Some(&lines(HOST)), Some(&lines(HOST)));
        assert_eq!(v.finding, Finding::Violated, "{}", v.reason);
        assert!(v.reason.contains("memory, cpu"), "{}", v.reason);
        assert!(v.reason.contains("/isoprobe-spawn-1-0"), "{}", v.reason);
        assert_eq!(v.observed["own_cgroup_path_seen"], true);
        // Also when the host's view is missing: what the container saw is evidence enough.
        assert_eq!(judge(Some(&lines(HOST)), None).finding, Finding::Violated);
    }

    #[test]
    fn what_cannot_tell_a_namespace_from_its_absence_is_inconclusive() {
        let inside = lines("4:memory:/\n1:cpu:/\n0::/");
        for (inside, host, needle) in [
            (Some(&inside[..]), None, "the runtime gives no host pid"),
            (Some(&inside[..]), Some(&inside[..]), "at the root of every hierarchy"),
            (None, Some(&inside[..]), "could not read /proc/self/cgroup"),
        ] {
            let v = judge(inside, host);
            v.assert_inconclusive(needle);
        }
        let garbage = lines("garbage");
        judge(Some(&garbage), Some(&lines(HOST))).assert_fails_with("is not `id:controllers");
    }

    #[test]
    fn a_path_with_colons_is_kept_whole() {
        assert_eq!(
            split_line("1:name=x:/a:b"),
            Some(("1:name=x", "name=x".into(), "/a:b"))
        );
    }
}
