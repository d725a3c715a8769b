//! `ns.<type>`: the container's namespace of each type is not the host's, by the identity the
//! kernel gives it (device and inode of `/proc/self/ns/<type>`). One check per type, so the
//! module is named for the family (`ns_distinct`) rather than for one id.

use super::{host_ns_id, Check, Ctx, Verdict};
use crate::runtime::RunError;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::{AgentArgs, NsType, Reading};
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
    fn sabotage(&self) -> Sabotage {
        Sabotage::DropNamespace(self.0)
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let out = ctx.run(iso, AgentArgs::default())?;
        let host = host_ns_id(self.0);
        let inside = out.observation.namespaces.get(self.0.proc_name()).cloned();
        let failures = match (&inside, host) {
            (Some(Reading::Ok(i)), Some(h)) if *i != h => vec![],
            (Some(Reading::Ok(_)), Some(_)) => vec![format!(
                "the container shares the host's {} namespace",
                self.0
            )],
            (_, None) => vec![format!("the host's /proc/self/ns/{} is unreadable", self.0)],
            (other, _) => vec![format!(
                "the agent could not read its {} namespace: {other:?}",
                self.0
            )],
        };
        let id = |p: Option<isoprobe_probes::NsId>| p.map(|n| json!({"dev": n.dev, "ino": n.ino}));
        Ok(Verdict::from_failures(
            failures,
            &format!("own {} namespace", self.0),
            json!({"differs_from_host": true}),
            json!({
                "container": id(inside.and_then(|p| p.ok().copied())),
                "host": id(host),
            }),
        ))
    }
}
