//! Which ids the user namespace of a rootless run maps: the user's own id as root, and, when
//! `/etc/subuid` and `/etc/subgid` give the user ranges and newuidmap/newgidmap are there, those
//! ranges as ids 1 and up. Decided by a pure function; written by `super::enter`.

use isoprobe_probes::parse::SubIdRange;
use serde::{Deserialize, Serialize};

/// The uid or gid side of the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Side {
    /// The user's own id outside, root inside.
    pub own: u32,
    /// Subordinate ids outside, mapped from id 1 inside.
    pub range: Option<SubIdRange>,
}

impl Side {
    /// The `uid_map`/`gid_map` text.
    pub fn map_text(&self) -> String {
        let mut s = format!("0 {} 1\n", self.own);
        if let Some(r) = self.range {
            s.push_str(&format!("1 {} {}\n", r.start, r.count));
        }
        s
    }

    /// How many ids inside, from 0, are mapped.
    pub fn ids_inside(&self) -> u64 {
        1 + self.range.map_or(0, |r| u64::from(r.count))
    }

    /// newuidmap/newgidmap's arguments after the pid: `inside outside count` triples.
    pub fn helper_args(&self) -> Vec<String> {
        let mut v = vec!["0".into(), self.own.to_string(), "1".into()];
        if let Some(r) = self.range {
            v.extend(["1".into(), r.start.to_string(), r.count.to_string()]);
        }
        v
    }
}

/// The whole mapping of a rootless run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    pub uid: Side,
    pub gid: Side,
}

impl Mapping {
    /// Ranges are written by the setuid helpers; a single mapping by the process itself.
    pub fn uses_helpers(&self) -> bool {
        self.uid.range.is_some()
    }

    pub fn kind(&self) -> &'static str {
        if self.uses_helpers() {
            crate::report::Rootless::RANGES
        } else {
            crate::report::Rootless::SINGLE
        }
    }
}

/// What the machine offers a user: their ids, the texts of `/etc/subuid` and `/etc/subgid`
/// (empty when missing) and whether both setuid helpers are installed.
pub struct Offer<'a> {
    pub name: &'a str,
    pub uid: u32,
    pub gid: u32,
    pub subuid: &'a str,
    pub subgid: &'a str,
    pub helpers: bool,
}

/// Ranges only when the user has both a uid and a gid range and the helpers to write them:
/// half a range would map uids the container could switch to without the groups to match.
pub fn choose(offer: &Offer) -> Mapping {
    use isoprobe_probes::parse::subid_range;
    let ranges = offer
        .helpers
        .then(|| {
            Some((
                subid_range(offer.subuid, offer.name, offer.uid)?,
                subid_range(offer.subgid, offer.name, offer.uid)?,
            ))
        })
        .flatten();
    Mapping {
        uid: Side {
            own: offer.uid,
            range: ranges.map(|r| r.0),
        },
        gid: Side {
            own: offer.gid,
            range: ranges.map(|r| r.1),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        isoprobe_fixtures::text(name).unwrap()
    }

    fn offer<'a>(name: &'a str, subuid: &'a str, subgid: &'a str, helpers: bool) -> Offer<'a> {
        Offer {
            name,
            uid: 65534,
            gid: 65534,
            subuid,
            subgid,
            helpers,
        }
    }

    #[test]
    fn without_a_range_the_own_id_is_root_alone() {
        let m = choose(&offer("nobody", "", "", true));
        assert_eq!(m.kind(), "single");
        assert_eq!(m.uid.map_text(), "0 65534 1\n");
        assert_eq!(m.gid.ids_inside(), 1);
        assert_eq!(m.uid.helper_args(), ["0", "65534", "1"]);
    }

    #[test]
    fn ranges_of_both_files_follow_root() {
        let (u, g) = (fixture("etc/subuid"), fixture("etc/subgid"));
        let m = choose(&offer("nobody", &u, &g, true));
        assert!(m.uses_helpers());
        assert_eq!(m.uid.map_text(), "0 65534 1\n1 296608 65536\n");
        assert_eq!(m.gid.map_text(), "0 65534 1\n1 300000 1000\n");
        assert_eq!(m.uid.ids_inside(), 65537);
        assert_eq!(
            m.gid.helper_args(),
            ["0", "65534", "1", "1", "300000", "1000"]
        );
    }

    #[test]
    fn no_helpers_or_half_a_range_is_a_single_mapping() {
        let (u, g) = (fixture("etc/subuid"), fixture("etc/subgid"));
        assert_eq!(choose(&offer("nobody", &u, &g, false)).kind(), "single");
        // carol has no usable subuid line; dave's is empty.
        assert_eq!(choose(&offer("carol", &u, &g, true)).kind(), "single");
        assert_eq!(choose(&offer("nobody", &u, "", true)).kind(), "single");
    }
}
