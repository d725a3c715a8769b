//! `root.chroot-escape-blocked`: root inside the container tries the classic chroot escape
//! (and a plain open) to reach a canary file the harness put outside the rootfs.

use super::host_side::Canary;
use super::{Check, Ctx, Verdict, Control, ShownBy};
use crate::runtime::RunError;
use crate::vocabulary::RootMode;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::observation::{EscapeAttempt, EscapeEnd};
use isoprobe_probes::AgentArgs;
use serde_json::json;

pub struct ChrootEscapeBlocked;

impl Check for ChrootEscapeBlocked {
    fn id(&self) -> String {
        "root.chroot-escape-blocked".into()
    }
    fn description(&self) -> String {
        "root inside cannot reach a host file outside the rootfs: not by path, not by the \
         classic chroot escape (chroot into a subdirectory, walk `..`, chroot again)"
            .into()
    }
    fn control(&self) -> Control {
        Sabotage::RootMode(RootMode::Chroot).shown_by("reached the host canary")
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let canary = Canary::create(ctx.scratch)?;
        let out = ctx.run(
            iso,
            AgentArgs {
                escape_canary: Some(canary.path().display().to_string()),
                ..AgentArgs::default()
            },
        )?;
        let attempts = out
            .observation
            .escape
            .map(|e| e.attempts)
            .unwrap_or_default();
        Ok(judge(&attempts, canary.secret()))
    }
}

/// Holds when every attempt was made and none read the canary's secret.
fn judge(attempts: &[EscapeAttempt], secret: &str) -> Verdict {
    let (mut violations, mut untested) = (Vec::new(), Vec::new());
    if attempts.is_empty() {
        untested.push("the agent made no escape attempt".to_string());
    }
    let mut observed = serde_json::Map::new();
    for a in attempts {
        let outcome = match &a.end {
            EscapeEnd::Read(text) if text.trim() == secret => {
                violations.push(format!("`{}` reached the host canary", a.method));
                "reached the canary".to_string()
            }
            EscapeEnd::Read(_) => "read a file, not the canary".to_string(),
            EscapeEnd::Blocked(e) => format!("blocked: {e}"),
            EscapeEnd::NotMade(e) => {
                untested.push(format!("`{}` was not attempted: {e}", a.method));
                format!("not attempted: {e}")
            }
        };
        observed.insert(a.method.clone(), json!(outcome));
    }
    Verdict::judge(
        violations,
        untested,
        "no escape attempt reached the host canary",
        json!({"direct-open": "blocked", "chroot-dotdot": "blocked", "chroot-fchdir": "blocked", "umount-setns": "blocked"}),
        serde_json::Value::Object(observed),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "isoprobe-canary-x";

    fn attempt(method: &str, end: EscapeEnd) -> EscapeAttempt {
        EscapeAttempt {
            method: method.into(),
            end,
        }
    }

    fn blocked() -> Vec<EscapeAttempt> {
        ["direct-open", "chroot-dotdot"]
            .map(|m| attempt(m, EscapeEnd::Blocked("open /c: ENOENT".into())))
            .to_vec()
    }

    #[test]
    fn holds_when_every_attempt_is_blocked_or_reads_something_else() {
        judge(&blocked(), SECRET).assert_holds();
        let mut other = blocked();
        other[0].end = EscapeEnd::Read("not it".into());
        judge(&other, SECRET).assert_holds();
    }

    #[test]
    fn reading_the_secret_is_a_violation() {
        let mut reached = blocked();
        reached[1].end = EscapeEnd::Read(format!("{SECRET}\n"));
        let v = judge(&reached, SECRET);
        v.assert_violated("`chroot-dotdot` reached the host canary");
        assert_eq!(v.observed["chroot-dotdot"], "reached the canary");
    }

    #[test]
    fn an_attempt_not_made_is_not_a_block() {
        let mut silent = blocked();
        silent[1].end = EscapeEnd::NotMade("escape child reported nothing: ``".into());
        judge(&silent, SECRET).assert_inconclusive("`chroot-dotdot` was not attempted");
        judge(&[], SECRET).assert_inconclusive("no escape attempt");
    }
}
