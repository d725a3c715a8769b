//! isoprobe: does this container actually isolate, on this kernel, with this runtime?
//!
//! The data flow: a [`checks::Check`] asks for an [`runtime::Isolation`]; a
//! [`runtime::Runtime`] (the [`spawner`] for `native`) builds it and runs the agent; the
//! agent's [`isoprobe_probes::Observation`] comes back with what the host measured; the check's
//! judge turns it into a verdict; the [`engine`] gathers verdicts into a [`report::Report`].
//! See ARCHITECTURE.md.

pub mod agent_binary;
pub mod backoff;
pub mod bench;
pub mod cancel;
pub mod cgroup;
pub mod checks;
pub mod cli;
pub mod compare;
pub mod engine;
pub mod error;
pub mod features;
pub mod kmatrix;
pub mod preflight;
pub(crate) mod process;
pub(crate) mod random;
pub mod record;
pub mod report;
pub mod rootfs;
pub mod rootless;
pub mod runtime;
pub mod seccomp_bpf;
pub mod snapshot;
pub mod spawner;
pub mod standin;
/// The one skip helper of every test (defined in `isoprobe-probes`, which cannot depend on
/// this crate): `testing::skip` and `require_root!`.
#[doc(hidden)]
pub use isoprobe_probes::{require_root, testing};
pub mod vocabulary;
