//! `root.chroot-escape-blocked`: root inside the container tries the classic chroot escape
//! (and a plain open) to reach a canary file the harness put outside the rootfs.

use super::host_side::Canary;
use super::{Check, Ctx, Verdict};
use crate::runtime::RunError;
use crate::vocabulary::RootMode;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::{AgentArgs, Reading};
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
    fn sabotage(&self) -> Sabotage {
        Sabotage::RootMode(RootMode::Chroot)
    }
    fn control_evidence(&self) -> &'static str {
        "reached the host canary"
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
        let mut failures = Vec::new();
        if attempts.is_empty() {
            failures.push("the agent made no escape attempt".to_string());
        }
        let mut observed = serde_json::Map::new();
        for a in &attempts {
            let outcome = match &a.read {
                Reading::Ok(text) if text.trim() == canary.secret() => {
                    failures.push(format!("`{}` reached the host canary", a.method));
                    "reached the canary".to_string()
                }
                Reading::Ok(_) => "read a file, not the canary".to_string(),
                Reading::Err(e) => format!("blocked: {e}"),
            };
            observed.insert(a.method.clone(), json!(outcome));
        }
        Ok(Verdict::from_failures(
            failures,
            "no escape attempt reached the host canary",
            json!({"direct-open": "blocked", "chroot-dotdot": "blocked", "chroot-fchdir": "blocked", "umount-setns": "blocked"}),
            serde_json::Value::Object(observed),
        ))
    }
}
