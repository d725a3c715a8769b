//! What the agent tries on a check's behalf: one module per [`Try`] variant, each turning its
//! typed arguments into its typed outcome (`contract`).
//!
//! Conventions: a try never panics and never decides; a failed system call is a
//! [`CallError`](crate::contract::CallError) in the outcome, so the judge can tell "blocked"
//! from "broken". Arguments it will not act on give a [`Refusal`].

mod abstract_unix;
mod alloc;
mod caps;
mod clocks;
mod default_caps;
mod dev_null;
mod devices;
mod fds;
mod forks;
mod hostproc;
mod ids;
mod ipc;
mod masked;
mod mnt;
mod net;
mod nnp;
mod oldroot;
mod proc_link;
mod readonly;
mod release_agent;
mod seccomp;
mod sysctl;
mod userns;

use crate::contract::{Refusal, Tried, Try};

pub use masked::look;

/// Runs one try. The match is exhaustive and each arm's outcome type is fixed by the contract,
/// so a try without an implementation, or one reporting the wrong shape, does not compile.
pub fn run(t: &Try) -> Tried {
    let refused = |e: BadArgument| {
        Tried::Refused(Refusal {
            name: t.name().to_string(),
            reason: e.0,
        })
    };
    match t {
        Try::AbstractUnix(a) => abstract_unix::run(a).into(),
        Try::Alloc(a) => alloc::run(a).into(),
        Try::Caps(_) => caps::run().into(),
        Try::Clocks(_) => clocks::run().into(),
        Try::Fds(a) => fds::run(a).map_or_else(refused, Tried::from),
        Try::Forks(a) => forks::run(a).into(),
        Try::Hostproc(a) => hostproc::run(a).map_or_else(refused, Tried::from),
        Try::Ids(_) => ids::run().into(),
        Try::Ipc(a) => ipc::run(a).map_or_else(refused, Tried::from),
        Try::Masked(a) => masked::run(a).into(),
        Try::Mnt(a) => mnt::run(a).into(),
        Try::Net(a) => net::run(a).into(),
        Try::Nnp(a) => nnp::run(a).into(),
        Try::Oldroot(a) => oldroot::run(a).map_or_else(refused, Tried::from),
        Try::Readonly(a) => readonly::run(a).map_or_else(refused, Tried::from),
        Try::Seccomp(a) => seccomp::run(a).into(),
        Try::Sysctl(a) => sysctl::run(a).map_or_else(refused, Tried::from),
        Try::Userns(a) => userns::run(a).into(),
        Try::ReleaseAgent(a) => release_agent::run(a).map_or_else(refused, Tried::from),
        Try::DefaultCaps(a) => default_caps::run(a).into(),
        Try::Devices(a) => devices::run(a).into(),
        Try::DevNull(a) => dev_null::run(a).into(),
        Try::ProcLink(a) => proc_link::run(a).into(),
    }
}

/// Arguments a try will not act on, and why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadArgument(String);
