//! What isoprobe observes, and nothing about what it means.
//!
//! The agent (`src/bin/isoprobe-agent.rs`) runs inside the container and prints one
//! [`Observation`] as JSON; the harness parses it back with the same types and judges it.
//! The parsers in [`parse`] are pure functions over file text so that they can be tested on
//! the literal samples in `fixtures/` without root or a particular kernel.

pub mod agent;
pub mod agent_args;
pub mod contract;
pub mod namespace;
pub mod observation;
pub mod parse;
#[doc(hidden)]
pub mod testing;

pub use agent_args::{AgentArgs, ArgsError};
pub use namespace::NsType;
pub use observation::*;
