//! Ctrl-C and SIGTERM: the CLI turns them into a flag that every wait loop polls, so that an
//! interrupted run kills its container, removes its cgroup and exits instead of dying with them
//! in place.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

fn flag() -> &'static Arc<AtomicBool> {
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// Routes SIGINT and SIGTERM to the flag. Call once, from a binary (never from a library user
/// who may have handlers of their own).
pub fn install_handlers() -> std::io::Result<()> {
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(flag()))?;
    }
    Ok(())
}

pub fn requested() -> bool {
    flag().load(Ordering::Relaxed)
}
