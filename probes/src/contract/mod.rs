//! The contract between a check and the agent: what a check can ask the agent to try, with
//! typed arguments, and the typed result of each. Both sides use these types, so the name, the
//! argument grammar and the result shape exist once; the agent's command line and its report
//! carry them as JSON.
//!
//! To add a try: its argument and outcome types in `kinds.rs`, a line in the `contract!`
//! list below, and its module in `agent::tries`.

mod call;
mod image;
mod kinds;
#[cfg(test)]
mod proptests;

pub use call::{unit, CallError, Called, Content, Done, Ended};
pub use image::*;
pub use kinds::*;

use serde::{Deserialize, Serialize};
use std::fmt;

/// Pairs an argument type with the outcome the agent reports for it.
pub trait TryArgs: Into<Try> {
    type Outcome: Outcome;
}

/// An outcome type, found by type in an observation's list of results.
pub trait Outcome: Sized {
    /// The try's name, as in the JSON tag.
    const NAME: &'static str;
    fn from_tried(t: &Tried) -> Option<&Self>;
}

macro_rules! contract {
    ($($variant:ident($args:ident) => $outcome:ident as $name:literal,)*) => {
        /// One thing a check asks the agent to try.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(tag = "try", rename_all = "snake_case")]
        pub enum Try {
            $($variant($args),)*
        }

        /// What the agent reports for one [`Try`]: the same variants with their outcomes, or
        /// the refusal of arguments it could not act on.
        // A run holds a handful of these: boxing the big outcomes would save nothing worth the
        // indirection in every match.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(tag = "tried", rename_all = "snake_case")]
        pub enum Tried {
            $($variant($outcome),)*
            Refused(Refusal),
        }

        impl Try {
            pub fn name(&self) -> &'static str {
                match self {
                    $(Try::$variant(_) => $name,)*
                }
            }
        }

        $(
            impl From<$args> for Try {
                fn from(a: $args) -> Try {
                    Try::$variant(a)
                }
            }

            impl TryArgs for $args {
                type Outcome = $outcome;
            }

            impl Outcome for $outcome {
                const NAME: &'static str = $name;
                fn from_tried(t: &Tried) -> Option<&Self> {
                    match t {
                        Tried::$variant(o) => Some(o),
                        _ => None,
                    }
                }
            }

            impl From<$outcome> for Tried {
                fn from(o: $outcome) -> Tried {
                    Tried::$variant(o)
                }
            }
        )*
    };
}

contract! {
    AbstractUnix(AbstractUnixArgs) => AbstractUnixOutcome as "abstract_unix",
    Alloc(AllocArgs) => AllocOutcome as "alloc",
    Caps(CapsArgs) => CapsOutcome as "caps",
    Clocks(ClocksArgs) => ClocksOutcome as "clocks",
    Fds(FdsArgs) => FdsOutcome as "fds",
    Forks(ForksArgs) => ForksOutcome as "forks",
    Hostproc(HostprocArgs) => HostprocOutcome as "hostproc",
    Ids(IdsArgs) => Ids as "ids",
    Ipc(IpcArgs) => IpcOutcome as "ipc",
    Masked(MaskedArgs) => MaskedOutcome as "masked",
    Mnt(MntArgs) => MntOutcome as "mnt",
    Net(NetArgs) => NetOutcome as "net",
    Nnp(NnpArgs) => NnpOutcome as "nnp",
    Oldroot(OldrootArgs) => OldrootOutcome as "oldroot",
    Readonly(ReadonlyArgs) => ReadonlyOutcome as "readonly",
    Seccomp(SeccompArgs) => SeccompOutcome as "seccomp",
    Sysctl(SysctlArgs) => SysctlOutcome as "sysctl",
    Userns(UsernsArgs) => UsernsOutcome as "userns",
    ReleaseAgent(ReleaseAgentArgs) => ReleaseAgentOutcome as "release_agent",
    DefaultCaps(DefaultCapsArgs) => DefaultCapsOutcome as "default_caps",
    Devices(DevicesArgs) => DevicesOutcome as "devices",
    DevNull(DevNullArgs) => DevNullOutcome as "dev_null",
    ProcLink(ProcLinkArgs) => ProcLinkOutcome as "proc_link",
}

/// Arguments the agent would not act on (a path outside /proc/sys, pid 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The try's name.
    pub name: String,
    pub reason: String,
}

/// Why an observation holds no outcome of the type asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotTried {
    Missing(&'static str),
    Refused(Refusal),
}

impl fmt::Display for NotTried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotTried::Missing(name) => write!(f, "the agent reported no {name} result"),
            NotTried::Refused(r) => write!(f, "the agent refused the {} try: {}", r.name, r.reason),
        }
    }
}

/// The outcome of type `O` among `tried`, or why there is none.
pub fn find<O: Outcome>(tried: &[Tried]) -> Result<&O, NotTried> {
    if let Some(o) = tried.iter().find_map(O::from_tried) {
        return Ok(o);
    }
    tried
        .iter()
        .find_map(|t| match t {
            Tried::Refused(r) if r.name == O::NAME => Some(NotTried::Refused(r.clone())),
            _ => None,
        })
        .map_or(Err(NotTried::Missing(O::NAME)), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_try_and_its_outcome_share_one_name() {
        let t: Try = IpcArgs {
            key: 5,
            name: "/q".into(),
            own_key: 6,
            own_name: "/r".into(),
        }
        .into();
        assert_eq!(t.name(), IpcOutcome::NAME);
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["try"], "ipc");
        assert_eq!(serde_json::from_value::<Try>(json).unwrap(), t);
    }

    #[test]
    fn find_tells_missing_from_refused() {
        let tried = vec![
            Tried::from(Ids {
                uid: 1,
                euid: 2,
                gid: 3,
                egid: 4,
            }),
            Tried::Refused(Refusal {
                name: "sysctl".into(),
                reason: "not under /proc/sys".into(),
            }),
        ];
        assert_eq!(find::<Ids>(&tried).unwrap().euid, 2);
        let refused = find::<SysctlOutcome>(&tried).unwrap_err();
        assert!(refused
            .to_string()
            .contains("refused the sysctl try: not under"));
        assert_eq!(
            find::<IpcOutcome>(&tried).unwrap_err().to_string(),
            "the agent reported no ipc result"
        );
    }
}
