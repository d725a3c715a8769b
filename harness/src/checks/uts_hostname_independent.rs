//! `uts.hostname-independent`: two containers started side by side each see the hostname set
//! for them, and the host's is unchanged.

use super::{Check, Ctx, Verdict};
use crate::runtime::RunError;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::{AgentArgs, NsType};
use serde_json::json;

pub struct HostnameIndependent;

const NAMES: [&str; 2] = ["isoprobe-uts-a", "isoprobe-uts-b"];
/// Long enough for the two containers to be alive at the same time.
const LINGER_MS: u64 = 150;

fn host_hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Check for HostnameIndependent {
    fn id(&self) -> String {
        "uts.hostname-independent".into()
    }
    fn description(&self) -> String {
        "the hostname set inside is seen inside, two containers side by side see only their \
         own, and the host's is unchanged"
            .into()
    }
    fn isolation(&self) -> Isolation {
        // The hostname is part of what is asked, so that a runtime that cannot set one says
        // so; run() gives each of the two containers its own.
        Isolation {
            hostname: Some(NAMES[0].into()),
            ..Isolation::base().with_ns(NsType::Uts)
        }
    }
    fn sabotage(&self) -> Sabotage {
        Sabotage::DropNamespace(NsType::Uts)
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let before = host_hostname();
        let args = AgentArgs {
            linger_ms: LINGER_MS,
            ..AgentArgs::default()
        };
        let runs: Vec<Result<_, RunError>> = std::thread::scope(|s| {
            let handles: Vec<_> = NAMES
                .iter()
                .map(|name| {
                    let iso = Isolation {
                        hostname: Some(name.to_string()),
                        ..iso.clone()
                    };
                    let args = args.clone();
                    s.spawn(move || ctx.run(&iso, args))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a container thread panicked"))
                .collect()
        });
        let after = host_hostname();
        let mut seen = Vec::new();
        for r in runs {
            seen.push(r?.observation.hostname);
        }
        let mut failures = Vec::new();
        for (want, got) in NAMES.iter().zip(&seen) {
            match got.ok() {
                Some(h) if h == want => {}
                Some(h) => failures.push(format!("container `{want}` saw hostname `{h}`")),
                None => failures.push(format!(
                    "container `{want}` could not read its hostname: {got:?}"
                )),
            }
        }
        if before != after {
            failures.push(format!(
                "the host's hostname changed from `{before}` to `{after}`"
            ));
        }
        Ok(Verdict::from_failures(
            failures,
            "each container saw its own hostname; the host's is unchanged",
            json!({"inside": NAMES, "host_unchanged": true}),
            json!({
                "inside": seen.iter().map(|h| h.ok().cloned()).collect::<Vec<_>>(),
                "host_unchanged": before == after,
            }),
        ))
    }
}
