//! `uts.hostname-independent`: two containers started side by side each see the hostname set
//! for them, and the host's is unchanged.

use super::{Check, Ctx, Verdict, Control, ShownBy};
use crate::runtime::RunError;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::{AgentArgs, NsType, Reading, Span};
use serde_json::json;

pub struct HostnameIndependent;

const NAMES: [&str; 2] = ["isoprobe-uts-a", "isoprobe-uts-b"];
/// How long each agent first lingers before it reads its hostname: plenty for two containers of
/// a fast runtime started side by side to be alive at once. The agents report when they
/// lingered; a runtime that started them further apart runs them once more, with a linger that
/// covers the gap it showed.
const FIRST_LINGER_MS: u64 = 30;
const MAX_LINGER_MS: u64 = 10_000;
/// An engine whose clients take turns (podman's store lock) may start the second container
/// later again after a longer first linger.
const TRIES: u32 = 3;

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
        "the hostname set inside is seen inside, two containers alive side by side see only \
         their own, and the host's is unchanged"
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
        let mut linger_ms = FIRST_LINGER_MS;
        let mut tries = 1;
        loop {
            let seen = side_by_side(ctx, iso, linger_ms)?;
            let together = together(&seen);
            match together {
                // They started `gap + linger` apart: twice that covers the same again.
                Err(Apart::By(gap_ms)) if tries < TRIES && linger_ms < MAX_LINGER_MS => {
                    tries += 1;
                    linger_ms = (2 * (gap_ms + linger_ms) + FIRST_LINGER_MS).min(MAX_LINGER_MS);
                }
                _ => {
                    let names: Vec<Reading<String>> =
                        seen.into_iter().map(|o| o.hostname).collect();
                    return Ok(judge(&names, together, &before, &host_hostname()));
                }
            }
        }
    }
}

/// The two containers, started at once, each with its own name and the same linger.
fn side_by_side(
    ctx: &Ctx,
    iso: &Isolation,
    linger_ms: u64,
) -> Result<Vec<isoprobe_probes::Observation>, RunError> {
    let args = AgentArgs {
        linger_ms,
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
    runs.into_iter().map(|r| Ok(r?.observation)).collect()
}

/// Why the two containers cannot be said to have been alive at the same time.
#[derive(Debug, Clone, PartialEq)]
enum Apart {
    /// Their lingers did not overlap: the later one began this many ms after the other ended.
    By(u64),
    /// An agent did not say when it lingered.
    Unreported,
}

/// Whether both agents lingered at a common moment: each read its hostname after the other's
/// runtime had set the other's (a runtime sets it before the agent starts).
fn together(seen: &[isoprobe_probes::Observation]) -> Result<(), Apart> {
    let spans: Vec<Span> = seen.iter().filter_map(|o| o.lingered).collect();
    let [a, b] = spans[..] else {
        return Err(Apart::Unreported);
    };
    if a.overlaps(&b) {
        return Ok(());
    }
    let gap_ns = a.from_ns.max(b.from_ns) - a.to_ns.min(b.to_ns);
    Err(Apart::By(gap_ns.div_ceil(1_000_000)))
}

/// Holds when the two containers were alive together, each saw the name it was given, and the
/// host's did not change.
fn judge(
    seen: &[Reading<String>],
    together: Result<(), Apart>,
    before: &str,
    after: &str,
) -> Verdict {
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
    match &together {
        Ok(()) => {}
        Err(Apart::By(ms)) => untested.push(format!(
            "the two containers were never alive at the same time (the second began {ms} ms \
             after the first ended, even with longer lingers): neither could see the other's name"
        )),
        Err(Apart::Unreported) => {
            untested.push("an agent did not report when it lingered".to_string())
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
        "the two containers were alive together, each saw its own hostname; the host's is \
         unchanged",
        json!({"inside": NAMES, "side_by_side": true, "host_unchanged": true}),
        json!({
            "inside": seen.iter().map(|h| h.ok().cloned()).collect::<Vec<_>>(),
            "side_by_side": together.is_ok(),
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

    fn lingered(from_ms: u64, to_ms: u64) -> isoprobe_probes::Observation {
        let mut o = isoprobe_probes::agent::observe_cheap();
        o.lingered = Some(Span {
            from_ns: from_ms * 1_000_000,
            to_ns: to_ms * 1_000_000,
        });
        o
    }

    #[test]
    fn holds_when_each_sees_its_own_side_by_side_and_the_host_keeps_its() {
        judge(&own(), Ok(()), "box", "box").assert_holds();
    }

    #[test]
    fn another_name_inside_or_a_changed_host_is_a_violation() {
        let shared = vec![Reading::Ok("box".into()), Reading::Ok("box".into())];
        judge(&shared, Ok(()), "box", "box")
            .assert_violated("container `isoprobe-uts-a` saw hostname `box`");
        judge(&own(), Ok(()), "box", "isoprobe-uts-b")
            .assert_violated("changed from `box` to `isoprobe-uts-b`");
    }

    #[test]
    fn an_unreadable_hostname_or_containers_never_alive_together_are_untested() {
        let mut seen = own();
        seen[1] = Reading::Err("EIO".into());
        judge(&seen, Ok(()), "box", "box")
            .assert_inconclusive("`isoprobe-uts-b` could not read its hostname");
        // Each saw its own name, but one at a time: a shared namespace would have shown the
        // same, so it proves nothing.
        judge(&own(), Err(Apart::By(40)), "box", "box")
            .assert_inconclusive("never alive at the same time (the second began 40 ms");
        judge(&own(), Err(Apart::Unreported), "box", "box")
            .assert_inconclusive("did not report when it lingered");
    }

    #[test]
    fn lingers_that_share_a_moment_are_together_and_others_are_apart_by_their_gap() {
        assert_eq!(together(&[lingered(0, 30), lingered(20, 50)]), Ok(()));
        assert_eq!(together(&[lingered(100, 130), lingered(0, 30)]), Err(Apart::By(70)));
        // Touching ends share no moment.
        assert_eq!(together(&[lingered(0, 30), lingered(30, 60)]), Err(Apart::By(0)));
        let mut silent = lingered(0, 30);
        silent.lingered = None;
        assert_eq!(together(&[silent, lingered(0, 30)]), Err(Apart::Unreported));
    }
}
