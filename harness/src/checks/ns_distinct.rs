//! `ns.<type>`: the container's namespace of each type is not the host's, by the identity the
//! kernel gives it (device and inode of `/proc/self/ns/<type>`). One check per type, so the
//! module is named for the family (`ns_distinct`) rather than for one id.

use super::{host_ns_id, Check, Ctx, Verdict, Control, ShownBy};
use crate::runtime::RunError;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::{AgentArgs, NsId, NsType, Reading};
use serde_json::json;

pub struct NamespaceDiffers(pub NsType);

pub fn all() -> Vec<Box<dyn Check>> {
    let mut types = NsType::ALL.to_vec();
    types.sort_by_key(|t| t.proc_name());
    types
        .into_iter()
        .map(|t| Box::new(NamespaceDiffers(t)) as Box<dyn Check>)
        .collect()
}

impl Check for NamespaceDiffers {
    fn id(&self) -> String {
        format!("ns.{}", self.0)
    }
    fn description(&self) -> String {
        format!(
            "the container's {} namespace (dev+inode of /proc/self/ns/{}) differs from the host's",
            self.0,
            self.0.proc_name()
        )
    }
    fn control(&self) -> Control {
        Sabotage::DropNamespace(self.0).shown_by("shares the host's")
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let out = ctx.run(iso, AgentArgs::default())?;
        let inside = out.observation.namespaces.get(self.0.proc_name());
        Ok(judge(self.0, inside, host_ns_id(self.0)))
    }
}

/// Holds when the agent's namespace of type `ns` is not the host's.
fn judge(ns: NsType, inside: Option<&Reading<NsId>>, host: Option<NsId>) -> Verdict {
    let (mut violations, mut untested) = (Vec::new(), Vec::new());
    match (inside, host) {
        (Some(Reading::Ok(i)), Some(h)) if *i != h => {}
        (Some(Reading::Ok(_)), Some(_)) => {
            violations.push(format!("the container shares the host's {ns} namespace"))
        }
        (_, None) => untested.push(format!("the host's /proc/self/ns/{ns} is unreadable")),
        (other, _) => untested.push(format!(
            "the agent could not read its {ns} namespace: {other:?}"
        )),
    }
    let id = |p: Option<NsId>| p.map(|n| json!({"dev": n.dev, "ino": n.ino}));
    Verdict::judge(
        violations,
        untested,
        &format!("own {ns} namespace"),
        json!({"differs_from_host": true}),
        json!({
            "container": id(inside.and_then(|p| p.ok().copied())),
            "host": id(host),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: NsId = NsId { dev: 4, ino: 100 };

    #[test]
    fn holds_only_on_a_namespace_other_than_the_hosts() {
        let own = Reading::Ok(NsId { dev: 4, ino: 200 });
        judge(NsType::Net, Some(&own), Some(HOST)).assert_holds();
        judge(NsType::Net, Some(&Reading::Ok(HOST)), Some(HOST))
            .assert_violated("shares the host's net namespace");
    }

    #[test]
    fn an_unreadable_namespace_is_not_a_shared_one() {
        let unreadable = Reading::Err("EACCES".into());
        judge(NsType::Ipc, Some(&unreadable), Some(HOST))
            .assert_inconclusive("could not read its ipc namespace");
        judge(NsType::Ipc, None, Some(HOST)).assert_inconclusive("could not read its ipc");
        judge(NsType::Uts, Some(&Reading::Ok(HOST)), None)
            .assert_inconclusive("/proc/self/ns/uts is unreadable");
    }
}
