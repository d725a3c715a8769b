//! Runtimes for unit tests: a closure stands in for the container.

use super::{Isolation, Job, RunError, RunOutcome, Runtime};
use crate::vocabulary::ExitKind;

/// A runtime that supports every isolation and answers every run with `run(job)`.
pub(crate) struct FnRuntime<F> {
    name: &'static str,
    run: F,
}

impl<F> FnRuntime<F>
where
    F: Fn(&Job) -> Result<RunOutcome, RunError> + Send + Sync,
{
    pub(crate) fn new(name: &'static str, run: F) -> FnRuntime<F> {
        FnRuntime { name, run }
    }
}

impl<F> Runtime for FnRuntime<F>
where
    F: Fn(&Job) -> Result<RunOutcome, RunError> + Send + Sync,
{
    fn name(&self) -> String {
        self.name.into()
    }
    fn version(&self) -> String {
        "0".into()
    }
    fn unsupported(&self, _: &Isolation) -> Option<String> {
        None
    }
    fn run(&self, job: &Job) -> Result<RunOutcome, RunError> {
        (self.run)(job)
    }
}

/// How a run ends whose container died before it reported.
pub(crate) fn agent_failed() -> RunError {
    RunError::AgentFailed {
        exit: ExitKind::Code(1),
        stderr: "simulated".into(),
    }
}
