//! The agent's command line, shared by the agent (parse) and the harness (render) so that the
//! two cannot drift apart. Each try travels as one `--try '<json>'` of [`Try`].

use crate::contract::Try;

/// What the agent is asked to do besides its cheap observations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentArgs {
    /// Sleep this long before observing (so that two containers overlap in time).
    pub linger_ms: u64,
    /// Spin on the CPU for this long and report the CPU time used.
    pub spin_ms: u64,
    /// Stay alive this long after printing the observation, so that the host can read the
    /// container's cgroups before an engine removes them with the exited container.
    pub hold_ms: u64,
    /// Try to escape the root and read this host path.
    pub escape_canary: Option<String>,
    /// What to try, in order (see `agent::tries`).
    pub tries: Vec<Try>,
}

/// A command line the agent cannot act on.
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    #[error("agent: `{flag}` needs a value")]
    MissingValue { flag: String },
    #[error("agent: `{flag}` takes milliseconds, got `{value}`")]
    NotMilliseconds { flag: String, value: String },
    #[error("agent: `--try` takes a JSON try, got `{value}`: {source}")]
    BadTry {
        value: String,
        source: serde_json::Error,
    },
    #[error(
        "agent: unknown argument `{0}` (known: --linger-ms N, --spin-ms N, --hold-ms N, --escape PATH, --try JSON)"
    )]
    Unknown(String),
}

impl AgentArgs {
    /// With `try_` added to what is asked.
    pub fn with_try(mut self, try_: impl Into<Try>) -> AgentArgs {
        self.tries.push(try_.into());
        self
    }

    /// Only `try_`.
    pub fn trying(try_: impl Into<Try>) -> AgentArgs {
        AgentArgs::default().with_try(try_)
    }

    pub fn to_argv(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.linger_ms > 0 {
            v.extend(["--linger-ms".to_string(), self.linger_ms.to_string()]);
        }
        if self.spin_ms > 0 {
            v.extend(["--spin-ms".to_string(), self.spin_ms.to_string()]);
        }
        if self.hold_ms > 0 {
            v.extend(["--hold-ms".to_string(), self.hold_ms.to_string()]);
        }
        if let Some(c) = &self.escape_canary {
            v.extend(["--escape".to_string(), c.clone()]);
        }
        for t in &self.tries {
            // A Try is plain data (strings, numbers, addresses): serialising cannot fail.
            let json = serde_json::to_string(t).unwrap_or_default();
            v.extend(["--try".to_string(), json]);
        }
        v
    }

    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Self, ArgsError> {
        let mut out = AgentArgs::default();
        let mut it = args.into_iter();
        while let Some(flag) = it.next() {
            let mut value = || {
                it.next()
                    .ok_or_else(|| ArgsError::MissingValue { flag: flag.clone() })
            };
            match flag.as_str() {
                "--linger-ms" => out.linger_ms = parse_ms(&flag, value()?)?,
                "--spin-ms" => out.spin_ms = parse_ms(&flag, value()?)?,
                "--hold-ms" => out.hold_ms = parse_ms(&flag, value()?)?,
                "--escape" => out.escape_canary = Some(value()?),
                "--try" => {
                    let value = value()?;
                    match serde_json::from_str(&value) {
                        Ok(t) => out.tries.push(t),
                        Err(source) => return Err(ArgsError::BadTry { value, source }),
                    }
                }
                _ => return Err(ArgsError::Unknown(flag)),
            }
        }
        Ok(out)
    }
}

fn parse_ms(flag: &str, value: String) -> Result<u64, ArgsError> {
    value.parse().map_err(|_| ArgsError::NotMilliseconds {
        flag: flag.to_string(),
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{IpcArgs, NetArgs};

    #[test]
    fn round_trips_through_argv() {
        let a = AgentArgs {
            linger_ms: 5,
            spin_ms: 300,
            hold_ms: 7,
            escape_canary: Some("/tmp/c".into()),
            tries: vec![
                IpcArgs {
                    key: 1,
                    name: "/x".into(),
                    own_key: 2,
                    own_name: "/y".into(),
                }
                .into(),
                NetArgs::default().into(),
            ],
        };
        assert_eq!(AgentArgs::parse(a.to_argv()).unwrap(), a);
    }

    #[test]
    fn rejects_unknown_and_bad_values() {
        let parse = |v: &[&str]| AgentArgs::parse(v.iter().map(|s| s.to_string()));
        assert!(matches!(parse(&["--bogus"]), Err(ArgsError::Unknown(_))));
        assert!(matches!(
            parse(&["--spin-ms", "x"]),
            Err(ArgsError::NotMilliseconds { .. })
        ));
        assert!(matches!(
            parse(&["--spin-ms"]),
            Err(ArgsError::MissingValue { .. })
        ));
        assert!(matches!(
            parse(&["--try", r#"{"try":"nope"}"#]),
            Err(ArgsError::BadTry { .. })
        ));
    }
}
