//! isoprobe: does this container actually isolate, on this kernel, with this runtime?
//!
//! Use it from a crate's own tests to prove that a runtime (the one you are writing, an OCI
//! binary by path, or isoprobe's own spawner) isolates: choose the runtime and the checks with
//! a [`Suite`], run it (as root), and fail the test with [`assert_isolated`], whose message is
//! a table of what did not hold and why. Each check tries a behaviour from inside a container
//! with a small static agent and judges what it saw on the host: the property **holds**, is
//! **violated** (with the evidence), or **could not be tested** (with what kept it from being
//! tested); its negative control (a setup sabotaged on purpose) must be found violated, or the
//! check proves nothing.
//!
//! ```no_run
//! use isoprobe::Suite;
//!
//! #[test]
//! fn my_runtime_isolates() {
//!     let suite = Suite::oci_binary("target/debug/my-runtime").negative_controls(true);
//!     // Not root, or the binary not built: a printed skip (a failure under
//!     // ISOPROBE_REQUIRE_ALL=1).
//!     let Some(report) = suite.run_or_skip("my_runtime_isolates") else { return };
//!     isoprobe::assert_isolated(&report);
//! }
//! ```
//!
//! The [`Report`] is the one `isoprobe run --format json` writes (its schema is
//! `harness/schema/report.schema.json`): it serializes with serde, and `isoprobe merge` puts
//! reports from several machines, kernels and runtimes into one matrix.
//!
//! Only the items documented here are the library's interface; the hidden modules serve the
//! `isoprobe` binary and its own tests and change without notice. See ARCHITECTURE.md.

mod suite;

pub use checks::Layer;
pub use report::{
    CheckResult, ControlResult, ControlStatus, Kernel, Report, RuntimeInfo, Status, Summary,
};
pub use suite::{assert_isolated, assert_isolated_except, shortfalls, skip, Suite, SuiteError};

#[doc(hidden)]
pub mod agent_binary;
pub(crate) mod backoff;
pub(crate) mod bench;
pub(crate) mod cancel;
#[doc(hidden)]
pub mod cgroup;
#[doc(hidden)]
pub mod checks;
#[doc(hidden)]
pub mod cli;
#[doc(hidden)]
pub mod compare;
#[doc(hidden)]
pub mod engine;
pub(crate) mod error;
#[doc(hidden)]
pub mod features;
#[doc(hidden)]
pub mod kmatrix;
pub(crate) mod merge;
pub(crate) mod preflight;
pub(crate) mod process;
pub(crate) mod random;
#[doc(hidden)]
pub mod record;
#[doc(hidden)]
pub mod report;
#[doc(hidden)]
pub mod rootfs;
#[doc(hidden)]
pub mod rootless;
#[doc(hidden)]
pub mod runtime;
pub(crate) mod seccomp_bpf;
#[doc(hidden)]
pub mod snapshot;
#[doc(hidden)]
pub mod spawner;
#[doc(hidden)]
pub mod standin;
/// The one skip helper of every test (defined in `isoprobe-probes`, which cannot depend on
/// this crate): `testing::skip` and `require_root!`.
#[doc(hidden)]
pub use isoprobe_probes::{require_root, testing};
/// The one executable lookup, for the tests that look for a runtime binary the way isoprobe does.
#[doc(hidden)]
pub use process::which;
#[doc(hidden)]
pub mod vocabulary;
