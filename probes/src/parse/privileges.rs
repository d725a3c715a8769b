//! The privilege lines of `/proc/<pid>/status`: the capability sets (`CapInh`, `CapPrm`,
//! `CapEff`, `CapBnd`, `CapAmb`), `NoNewPrivs` and the seccomp lines.

use super::ParseError;

/// The capability sets of a task, one bit per capability number (see `capabilities(7)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapSets {
    pub inheritable: u64,
    pub permitted: u64,
    pub effective: u64,
    pub bounding: u64,
    /// `CapAmb` exists since Linux 4.3.
    pub ambient: Option<u64>,
}

/// Whether capability number `cap` is in `set`.
pub fn has_cap(set: u64, cap: u32) -> bool {
    cap < 64 && set & (1u64 << cap) != 0
}

/// The `Cap*` lines of a status text. The four sets every kernel prints are required: a text
/// without them is not a status file, and a missing set must not read as "no capabilities".
pub fn parse_cap_sets(status: &str) -> Result<CapSets, ParseError> {
    let get = |key: &str| -> Result<Option<u64>, ParseError> {
        field(status, key)
            .map(|v| {
                u64::from_str_radix(v, 16).map_err(|_| {
                    ParseError::new(format!("status {key}: {v:?} is not a hex capability set"))
                })
            })
            .transpose()
    };
    let need = |key: &str| -> Result<u64, ParseError> {
        get(key)?.ok_or_else(|| ParseError::new(format!("status has no {key} line")))
    };
    Ok(CapSets {
        inheritable: need("CapInh")?,
        permitted: need("CapPrm")?,
        effective: need("CapEff")?,
        bounding: need("CapBnd")?,
        ambient: get("CapAmb")?,
    })
}

/// The `NoNewPrivs` flag (0 or 1); `None` before Linux 4.10, which did not print it.
pub fn parse_no_new_privs(status: &str) -> Result<Option<bool>, ParseError> {
    match field(status, "NoNewPrivs") {
        None => Ok(None),
        Some("0") => Ok(Some(false)),
        Some("1") => Ok(Some(true)),
        Some(v) => Err(ParseError::new(format!(
            "status NoNewPrivs: {v:?} is neither 0 nor 1"
        ))),
    }
}

/// `Seccomp:` (0 none, 1 strict, 2 filter; missing without CONFIG_SECCOMP) and
/// `Seccomp_filters:` (the number of filters; printed since Linux 5.9).
pub fn parse_seccomp(status: &str) -> Result<(Option<u32>, Option<u32>), ParseError> {
    let get = |key: &str| {
        field(status, key)
            .map(|v| {
                v.parse::<u32>()
                    .map_err(|_| ParseError::new(format!("status {key}: {v:?} is not a number")))
            })
            .transpose()
    };
    Ok((get("Seccomp")?, get("Seccomp_filters")?))
}

/// The trimmed value of the first `key:` line.
fn field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = include_str!("../../../fixtures/proc/status-host");

    #[test]
    fn cap_sets_of_the_host_sample() {
        let c = parse_cap_sets(HOST).unwrap();
        assert_eq!(c.inheritable, 0);
        assert_eq!(c.permitted, 0x1fffeffffff);
        assert_eq!(c.effective, 0x1fffeffffff);
        assert_eq!(c.bounding, 0x1fffeffffff);
        assert_eq!(c.ambient, Some(0));
        // This host's bounding set lacks CAP_SYS_RESOURCE (24) and holds the rest up to 40.
        assert!(has_cap(c.bounding, 21) && has_cap(c.bounding, 12));
        assert!(!has_cap(c.bounding, 24) && !has_cap(c.bounding, 41));
    }

    #[test]
    fn no_new_privs_of_the_host_sample() {
        assert_eq!(parse_no_new_privs(HOST).unwrap(), Some(false));
        assert_eq!(
            parse_no_new_privs("Name:\ta\nNoNewPrivs:\t1\n").unwrap(),
            Some(true)
        );
        assert_eq!(parse_no_new_privs("Name:\ta\n").unwrap(), None);
        assert!(parse_no_new_privs("NoNewPrivs:\tyes\n").is_err());
    }

    #[test]
    fn seccomp_lines_of_the_host_sample_and_of_a_filtered_task() {
        assert_eq!(parse_seccomp(HOST).unwrap(), (Some(0), Some(0)));
        let filtered =
            "NoNewPrivs:\t0\nSeccomp:\t2\nSeccomp_filters:\t3\nSpeculation_Store_Bypass:\tx\n";
        assert_eq!(parse_seccomp(filtered).unwrap(), (Some(2), Some(3)));
        // Before 5.9 only the mode is printed.
        assert_eq!(parse_seccomp("Seccomp:\t2\n").unwrap(), (Some(2), None));
        assert!(parse_seccomp("Seccomp:\ton\n").is_err());
    }

    #[test]
    fn ambient_is_optional_before_linux_4_3() {
        let old = "CapInh:\t0\nCapPrm:\tff\nCapEff:\tff\nCapBnd:\tff\n";
        assert_eq!(parse_cap_sets(old).unwrap().ambient, None);
    }

    #[test]
    fn missing_or_malformed_sets_are_errors() {
        let e = parse_cap_sets("Name:\tx\nCapInh:\t0\n").unwrap_err();
        assert!(e.to_string().contains("CapPrm"), "{e}");
        let e = parse_cap_sets("CapInh:\t0\nCapPrm:\tzz\nCapEff:\t0\nCapBnd:\t0\n").unwrap_err();
        assert!(e.to_string().contains("\"zz\""), "{e}");
    }

    #[test]
    fn has_cap_ignores_numbers_beyond_the_word() {
        assert!(has_cap(1 << 63, 63));
        assert!(!has_cap(u64::MAX, 64));
    }
}
