//! `uts.hostname-independent`: two containers started side by side each see the hostname set
//! for them, and the host's is unchanged.

use super::{Check, Ctx, Verdict, Control, ShownBy};
use crate::runtime::RunError;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::{AgentArgs, NsType, Reading};
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
    fn control(&self) -> Control {
        Sabotage::DropNamespace(NsType::Uts).shown_by("saw hostname")
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
        Ok(judge(&seen, &before, &after))
    }
}

/// Holds when each container saw the name it was given and the host's did not change.
fn judge(seen: &[Reading<String>], before: &str, after: &str) -> Verdict {
    let (mut violations, mut untested) = (Vec::new(), Vec::new());
    for (want, got) in NAMES.iter().zip(seen) {
        match got.ok() {
            Some(h) if h == want => {}
            Some(h) => violations.push(format!("container `{want}` saw hostname `{h}`")),
            None => untested.push(format!(
                "container `{want}` could not read its hostname: {got:?}"
            )),
        }
    }
    if before != after {
        violations.push(format!(
            "the host's hostname changed from `{before}` to `{after}`"
        ));
    }
    Verdict::judge(
        violations,
        untested,
        "each container saw its own hostname; the host's is unchanged",
        json!({"inside": NAMES, "host_unchanged": true}),
        json!({
            "inside": seen.iter().map(|h| h.ok().cloned()).collect::<Vec<_>>(),
            "host_unchanged": before == after,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> Vec<Reading<String>> {
        NAMES.iter().map(|n| Reading::Ok(n.to_string())).collect()
    }

    #[test]
    fn holds_when_each_sees_its_own_and_the_host_keeps_its() {
        judge(&own(), "box", "box").assert_holds();
    }

    #[test]
    fn another_name_inside_or_a_changed_host_is_a_violation() {
        let shared = vec![Reading::Ok("box".into()), Reading::Ok("box".into())];
        judge(&shared, "box", "box").assert_violated("container `isoprobe-uts-a` saw hostname `box`");
        judge(&own(), "box", "isoprobe-uts-b")
            .assert_violated("changed from `box` to `isoprobe-uts-b`");
    }

    #[test]
    fn an_unreadable_hostname_is_untested() {
        let mut seen = own();
        seen[1] = Reading::Err("EIO".into());
        judge(&seen, "box", "box").assert_inconclusive("`isoprobe-uts-b` could not read its hostname");
    }
}
