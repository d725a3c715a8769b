//! The words every layer speaks: what a container is asked to be ([`Isolation`], its
//! [`RootMode`] and limits), what a negative control breaks ([`Sabotage`]), and what the host
//! saw of a finished run ([`ExitKind`], [`CgroupSample`]); and how a step the host took fails
//! ([`HostStepError`]).
//!
//! The spawner, the cgroup code, the runtime adapters and the checks all depend on this module
//! and not on each other's internals.

mod host_step;
mod isolation;
mod limits;
mod outcome;
mod sabotage;
mod seccomp;
mod sensitive_paths;

pub use host_step::{hint, HostStepError};
pub use isolation::{
    etc_file_contents, Bind, Devices, Isolation, StandardDevice, TimeOffsets, ETC_FILES, OLD_ROOT,
    PTMX, PTY_SLAVE_MAJOR, STANDARD_DEVICES,
};
pub use limits::{CgroupLimits, CpuQuota, IdMap, RootMode};
pub use outcome::{CgroupSample, ExitKind, StatError};
pub use sabotage::Sabotage;
pub use seccomp::{ArgRule, Denied, SeccompProfile};
pub use sensitive_paths::{MASKED_PATHS, READONLY_PATHS};

/// A duration in seconds as people write it: `0.3`, `30`.
pub fn seconds(d: std::time::Duration) -> String {
    format!("{}", d.as_secs_f64())
}
