//! cgroup files of `key value` lines (`pids.events`, `memory.events`, `memory.oom_control`).

use super::ParseError;

/// The value of `key` in a flat-keyed file, `None` when the key is absent (older kernels lack
/// some, e.g. `oom_kill` in `memory.oom_control` before Linux 4.13).
pub fn flat_keyed_value(text: &str, key: &str) -> Result<Option<u64>, ParseError> {
    for (n, line) in text.lines().enumerate() {
        let mut it = line.split_whitespace();
        let (Some(k), Some(v), None) = (it.next(), it.next(), it.next()) else {
            if line.trim().is_empty() {
                continue;
            }
            return Err(ParseError::new(format!(
                "line {}: `{line}` is not `key value`",
                n + 1
            )));
        };
        if k == key {
            return v.parse().map(Some).map_err(|_| {
                ParseError::new(format!(
                    "line {}: `{k}` has a non-numeric value `{v}`",
                    n + 1
                ))
            });
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_keys_of_real_samples() {
        let oom = include_str!("../../../fixtures/cgroup/memory.oom_control-v1");
        assert_eq!(flat_keyed_value(oom, "oom_kill").unwrap(), Some(0));
        assert_eq!(flat_keyed_value(oom, "under_oom").unwrap(), Some(0));
        let pids = include_str!("../../../fixtures/cgroup/pids.events-refused");
        assert_eq!(flat_keyed_value(pids, "max").unwrap(), Some(3));
        let ev = include_str!("../../../fixtures/cgroup/memory.events-v2-oom");
        assert_eq!(flat_keyed_value(ev, "oom_kill").unwrap(), Some(1));
        assert_eq!(flat_keyed_value(ev, "absent").unwrap(), None);
    }

    #[test]
    fn rejects_malformed_lines() {
        assert!(flat_keyed_value("max\n", "max").is_err());
        assert!(flat_keyed_value("max x\n", "max").is_err());
        assert!(flat_keyed_value("a 1 2\n", "a").is_err());
    }
}
