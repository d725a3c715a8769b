//! Starts of the agent in a hostile image, as the checks that plant one judge them: a start
//! the runtime refused, one that ran and reported, or one that says nothing. A plain start
//! next to it tells a runtime that refuses the hostile image from one that refuses everything.

use super::host_side;
use crate::runtime::{RunError, RunOutcome};
use crate::spawner::SpawnError;
use isoprobe_probes::contract::Outcome;
use serde_json::{Map, Value};

/// Enough of a refusal to tell what refused it.
const SHOWN_REFUSAL: usize = 400;

/// How one start ended.
#[derive(Debug, Clone)]
pub(super) enum End<T> {
    /// The runtime turned the start down (see [`refused`]).
    Refused(String),
    /// The agent ran and reported `T`.
    Ran(T),
    /// The start gave no answer, for this reason.
    NotTried(String),
}

impl<T> End<T> {
    /// How the run `ran` of the agent's `O` try ended, keeping `keep` of its outcome. Errors
    /// other than a refusal are the run's own and end the check.
    pub(super) fn of<O: Outcome>(
        ran: Result<RunOutcome, RunError>,
        keep: impl FnOnce(&O) -> T,
    ) -> Result<End<T>, RunError> {
        Ok(match ran {
            Ok(out) => match host_side::tried::<O>(&out) {
                Ok(o) => End::Ran(keep(o)),
                Err(v) => End::NotTried(v.reason),
            },
            Err(e) if refused(&e) => End::Refused(first_line(&e.to_string())),
            Err(e) => return Err(e),
        })
    }

    /// What the plain start ran with, or why it makes the hostile one say nothing (pushed to
    /// `untested`): a runtime that refuses every start refuses the hostile image too.
    pub(super) fn plain(&self, untested: &mut Vec<String>) -> Option<&T> {
        match self {
            End::Ran(t) => return Some(t),
            End::Refused(why) => untested.push(format!(
                "the runtime refused a plain start too ({why}), so its refusal says nothing"
            )),
            End::NotTried(why) => untested.push(format!("the plain start: {why}")),
        }
        None
    }

    /// What the hostile start ran with; when it did not run, `Err` holds what the verdict
    /// says holds: the refusal (also put in `observed`), or nothing when it gave no answer
    /// (its reason pushed to `untested`).
    pub(super) fn hostile(
        &self,
        observed: &mut Map<String, Value>,
        untested: &mut Vec<String>,
    ) -> Result<&T, String> {
        match self {
            End::Ran(t) => Ok(t),
            End::Refused(why) => {
                observed.insert("start".into(), Value::String(format!("refused: {why}")));
                Err(format!("refused: {why}"))
            }
            End::NotTried(why) => {
                untested.push(why.clone());
                Err(String::new())
            }
        }
    }
}

/// A start the runtime itself turned down: its setup step failed (native), its command failed
/// (OCI), or it exited before the agent ran (bwrap, unshare).
pub(super) fn refused(e: &RunError) -> bool {
    matches!(
        e,
        RunError::Spawn(SpawnError::Child { .. })
            | RunError::Runtime { .. }
            | RunError::AgentFailed { .. }
    )
}

pub(super) fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    match line.char_indices().nth(SHOWN_REFUSAL) {
        Some((i, _)) => format!("{}...", &line[..i]),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_cut_to_their_first_line() {
        assert_eq!(first_line("a\nb"), "a");
        assert!(first_line(&"x".repeat(500)).ends_with("..."));
    }

    #[test]
    fn a_plain_start_that_did_not_run_says_why() {
        let mut untested = Vec::new();
        assert_eq!(End::Ran(1).plain(&mut untested), Some(&1));
        assert!(End::<u8>::Refused("x".into())
            .plain(&mut untested)
            .is_none());
        assert!(End::<u8>::NotTried("y".into())
            .plain(&mut untested)
            .is_none());
        assert_eq!(
            untested,
            [
                "the runtime refused a plain start too (x), so its refusal says nothing",
                "the plain start: y"
            ]
        );
    }

    #[test]
    fn a_hostile_refusal_is_observed_and_holds() {
        let (mut observed, mut untested) = (Map::new(), Vec::new());
        let refused = End::<u8>::Refused("no".into());
        assert_eq!(
            refused.hostile(&mut observed, &mut untested),
            Err("refused: no".into())
        );
        assert_eq!(observed["start"], "refused: no");
        let silent = End::<u8>::NotTried("quiet".into());
        assert_eq!(
            silent.hostile(&mut observed, &mut untested),
            Err(String::new())
        );
        assert_eq!(untested, ["quiet"]);
        assert_eq!(End::Ran(2).hostile(&mut observed, &mut untested), Ok(&2));
    }
}
