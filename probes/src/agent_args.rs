//! The agent's command line, shared by the agent (parse) and the harness (render) so that the
//! two cannot drift apart.

/// What the agent is asked to do besides its cheap observations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentArgs {
    /// Sleep this long before observing (so that two containers overlap in time).
    pub linger_ms: u64,
    /// Spin on the CPU for this long and report the CPU time used.
    pub spin_ms: u64,
    /// Try to escape the root and read this host path.
    pub escape_canary: Option<String>,
    /// Named probes to run, in order, each with its argument (see `agent::probes`).
    pub probes: Vec<ProbeRequest>,
}

/// `--probe NAME` or `--probe NAME=ARG`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeRequest {
    pub name: String,
    pub arg: String,
}

impl ProbeRequest {
    pub fn new(name: &str, arg: impl Into<String>) -> ProbeRequest {
        ProbeRequest {
            name: name.to_string(),
            arg: arg.into(),
        }
    }
}

impl AgentArgs {
    pub fn to_argv(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.linger_ms > 0 {
            v.extend(["--linger-ms".to_string(), self.linger_ms.to_string()]);
        }
        if self.spin_ms > 0 {
            v.extend(["--spin-ms".to_string(), self.spin_ms.to_string()]);
        }
        if let Some(c) = &self.escape_canary {
            v.extend(["--escape".to_string(), c.clone()]);
        }
        for p in &self.probes {
            let spec = if p.arg.is_empty() {
                p.name.clone()
            } else {
                format!("{}={}", p.name, p.arg)
            };
            v.extend(["--probe".to_string(), spec]);
        }
        v
    }

    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Self, String> {
        let mut out = AgentArgs::default();
        let mut it = args.into_iter();
        while let Some(flag) = it.next() {
            let mut value = || {
                it.next()
                    .ok_or_else(|| format!("agent: `{flag}` needs a value"))
            };
            match flag.as_str() {
                "--linger-ms" => out.linger_ms = parse_ms(&flag, &value()?)?,
                "--spin-ms" => out.spin_ms = parse_ms(&flag, &value()?)?,
                "--escape" => out.escape_canary = Some(value()?),
                "--probe" => {
                    let spec = value()?;
                    let (name, arg) = spec.split_once('=').unwrap_or((spec.as_str(), ""));
                    out.probes.push(ProbeRequest::new(name, arg));
                }
                other => {
                    return Err(format!(
                        "agent: unknown argument `{other}` (known: --linger-ms N, --spin-ms N, --escape PATH, --probe NAME[=ARG])"
                    ))
                }
            }
        }
        Ok(out)
    }
}

fn parse_ms(flag: &str, v: &str) -> Result<u64, String> {
    v.parse()
        .map_err(|_| format!("agent: `{flag}` takes milliseconds, got `{v}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_argv() {
        let a = AgentArgs {
            linger_ms: 5,
            spin_ms: 300,
            escape_canary: Some("/tmp/c".into()),
            probes: vec![
                ProbeRequest::new("ipc", "key=1,name=/x"),
                ProbeRequest::new("net", ""),
            ],
        };
        assert_eq!(AgentArgs::parse(a.to_argv()).unwrap(), a);
    }

    #[test]
    fn rejects_unknown_and_bad_values() {
        assert!(AgentArgs::parse(["--bogus".to_string()]).is_err());
        assert!(AgentArgs::parse(["--spin-ms".to_string(), "x".into()]).is_err());
        assert!(AgentArgs::parse(["--spin-ms".to_string()]).is_err());
    }
}
