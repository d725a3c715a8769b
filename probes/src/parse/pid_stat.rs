//! `/proc/<pid>/stat`: the few fields that tell whether a process is the one a record names and
//! whether it still runs.

use super::ParseError;

/// What `isoprobe clean` needs of a process: its state, its parent and when it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PidStat {
    /// `R`, `S`, `D`, `Z` (ended, not reaped yet), `X`, ...
    pub state: char,
    pub ppid: u32,
    /// Clock ticks since boot (field 22): with the pid, names one process for good.
    pub start_time: u64,
}

impl PidStat {
    /// Whether anything of the process still runs: a zombie has ended and holds nothing but its
    /// entry until its parent (or init) reaps it.
    pub fn running(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Parses one `/proc/<pid>/stat` line. The command name in parentheses may hold spaces and
/// parentheses itself, so the fields are counted from the last `)`.
///
/// Not `procfs_core::process::Stat`: it wants some forty fields where three are needed, and it
/// slices the text around the parentheses unchecked, so a torn or cut-short read (a line that
/// ends at `)`, or starts with `(`) panics instead of failing, which the property tests forbid.
pub fn parse_pid_stat(text: &str) -> Result<PidStat, ParseError> {
    let close = text
        .rfind(')')
        .ok_or_else(|| ParseError::new("stat: no `)` closing the command name"))?;
    let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // After the name: state (field 3), ppid (4), ..., starttime (22).
    let field = |n: usize, what: &str| {
        fields
            .get(n - 3)
            .copied()
            .ok_or_else(|| ParseError::new(format!("stat: no {what} (field {n})")))
    };
    let state = field(3, "state")?;
    let mut chars = state.chars();
    let (Some(state_char), None) = (chars.next(), chars.next()) else {
        return Err(ParseError::new(format!(
            "stat: state {state:?} is not one letter"
        )));
    };
    let number = |n: usize, what: &str| -> Result<u64, ParseError> {
        let v = field(n, what)?;
        v.parse()
            .map_err(|_| ParseError::new(format!("stat: {what} {v:?} is not a number")))
    };
    let ppid = u32::try_from(number(4, "ppid")?)
        .map_err(|_| ParseError::new("stat: ppid is out of range"))?;
    Ok(PidStat {
        state: state_char,
        ppid,
        start_time: number(22, "start time")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::sleeping(include_str!("../../../fixtures/proc/stat-sleeping"), 'S', 11612, 4_269_774, true)]
    #[case::zombie_named_with_parentheses(
        include_str!("../../../fixtures/proc/stat-zombie"),
        'Z',
        11618,
        4_269_790,
        false
    )]
    fn real_samples(
        #[case] text: &str,
        #[case] state: char,
        #[case] ppid: u32,
        #[case] start_time: u64,
        #[case] running: bool,
    ) {
        let s = parse_pid_stat(text).unwrap();
        assert_eq!((s.state, s.ppid, s.start_time), (state, ppid, start_time));
        assert_eq!(s.running(), running);
    }

    #[rstest]
    #[case::empty("", "no `)`")]
    #[case::cut_short("7 (sh) S 1 7", "start time")]
    #[case::two_letter_state("7 (sh) SS 1", "not one letter")]
    #[case::bad_ppid("7 (sh) S x", "ppid \"x\"")]
    fn errors(#[case] text: &str, #[case] needle: &str) {
        let e = parse_pid_stat(text).unwrap_err();
        assert!(e.to_string().contains(needle), "{e}");
    }
}
