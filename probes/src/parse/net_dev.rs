//! `/proc/self/net/dev`: the network interfaces of the reader's network namespace.

use super::ParseError;

/// One interface and its traffic counters.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NetDev {
    pub name: String,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
}

/// Sixteen counters per line: eight receive, then eight transmit.
const COUNTERS: usize = 16;

/// Parses the file in the kernel's order. The two header lines (the ones with `|`) are skipped
/// whatever their wording; every other non-blank line must be `name: 16 counters`. The split
/// is on the first `:` because interface names cannot contain one, and very old kernels glued
/// large counters to it (`eth0:123456`).
pub fn parse_net_dev(text: &str) -> Result<Vec<NetDev>, ParseError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.contains('|') && !l.trim().is_empty())
        .map(|(i, l)| parse_line(i + 1, l))
        .collect()
}

fn parse_line(n: usize, line: &str) -> Result<NetDev, ParseError> {
    let bad = |why: &str| ParseError::new(format!("net/dev line {n}: {why}: {line:?}"));
    let (name, rest) = line.split_once(':').ok_or_else(|| bad("no `name:`"))?;
    let name = name.trim();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(bad("no interface name"));
    }
    let counters: Vec<u64> = rest
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| bad("a counter is not a number"))?;
    if counters.len() != COUNTERS {
        return Err(bad(&format!(
            "{} counters instead of {COUNTERS}",
            counters.len()
        )));
    }
    Ok(NetDev {
        name: name.to_string(),
        rx_bytes: counters[0],
        rx_packets: counters[1],
        tx_bytes: counters[8],
        tx_packets: counters[9],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn parses_this_hosts_file() {
        let devs = parse_net_dev(include_str!("../../../fixtures/proc/net-dev")).unwrap();
        let names: Vec<&str> = devs.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["lo", "ifb0", "ifb1", "eth0"]);
        assert_eq!(
            devs[3],
            NetDev {
                name: "eth0".into(),
                rx_bytes: 46_381_052,
                rx_packets: 3483,
                tx_bytes: 320_442,
                tx_packets: 3012,
            }
        );
    }

    #[test]
    fn a_fresh_namespace_has_only_lo() {
        let text = "Inter-|   Receive |  Transmit\n face |bytes packets|bytes packets\n    \
                    lo: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        let devs = parse_net_dev(text).unwrap();
        assert_eq!(devs.len(), 1);
        assert_eq!(devs[0].name, "lo");
    }

    #[test]
    fn counters_glued_to_the_colon_and_no_headers() {
        let devs = parse_net_dev("eth0:123 4 0 0 0 0 0 0 56 7 0 0 0 0 0 0").unwrap();
        assert_eq!((devs[0].rx_bytes, devs[0].tx_packets), (123, 7));
    }

    #[test]
    fn empty_text_has_no_interfaces() {
        assert_eq!(parse_net_dev(""), Ok(vec![]));
    }

    #[rstest]
    #[case::no_colon("lo 1 2 3", "no `name:`")]
    #[case::no_name(" : 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0", "no interface name")]
    #[case::too_few("lo: 1 2 3", "3 counters instead of 16")]
    #[case::too_many("lo: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0", "17 counters")]
    #[case::not_a_number("lo: 0 0 0 x 0 0 0 0 0 0 0 0 0 0 0 0", "not a number")]
    #[case::negative("lo: -1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0", "not a number")]
    #[case::garbage("<html>", "line 1")]
    fn errors(#[case] text: &str, #[case] needle: &str) {
        let e = parse_net_dev(text).unwrap_err();
        assert!(e.to_string().contains(needle), "{e}");
    }
}
