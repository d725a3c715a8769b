//! `/etc/subuid` and `/etc/subgid`: the subordinate id ranges newuidmap and newgidmap may map
//! for a user (`subuid(5)`).

/// A range of subordinate ids a user owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SubIdRange {
    pub start: u32,
    pub count: u32,
}

impl SubIdRange {
    /// The last id of the range (the range is never empty).
    pub fn end(&self) -> u32 {
        self.start.saturating_add(self.count - 1)
    }
}

/// The first usable range of a `subuid`/`subgid` text for the user named `name` whose id is
/// `id`. Lines are `owner:start:count`; the owner is a name or a number, as newuidmap accepts
/// both. Comments, blank, malformed and empty ranges are passed over as newuidmap does, so
/// that isoprobe never asks it for a range it would refuse.
pub fn subid_range(text: &str, name: &str, id: u32) -> Option<SubIdRange> {
    let id_text = id.to_string();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split(':');
            let (owner, start, count) = (f.next()?, f.next()?, f.next()?);
            if f.next().is_some() || (owner != name && owner != id_text) {
                return None;
            }
            let range = SubIdRange {
                start: start.trim().parse().ok()?,
                count: count.trim().parse().ok()?,
            };
            (range.count > 0 && range.start.checked_add(range.count - 1).is_some()).then_some(range)
        })
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBUID: &str = include_str!("../../../fixtures/etc/subuid");
    const SUBGID: &str = include_str!("../../../fixtures/etc/subgid");

    #[test]
    fn a_user_is_found_by_name_or_by_number() {
        assert_eq!(
            subid_range(SUBUID, "alice", 1000),
            Some(SubIdRange {
                start: 100_000,
                count: 65_536
            })
        );
        // Owner written as the uid.
        assert_eq!(
            subid_range(SUBUID, "erin", 1001),
            Some(SubIdRange {
                start: 231_072,
                count: 65_536
            })
        );
        assert_eq!(
            subid_range(SUBGID, "nobody", 65534),
            Some(SubIdRange {
                start: 300_000,
                count: 1000
            })
        );
    }

    #[test]
    fn the_first_of_several_ranges_is_taken() {
        let r = subid_range(SUBUID, "nobody", 65534).unwrap();
        assert_eq!((r.start, r.end()), (296_608, 362_143));
    }

    #[test]
    fn malformed_and_empty_ranges_are_passed_over() {
        assert_eq!(subid_range(SUBUID, "carol", 1002), None);
        assert_eq!(subid_range(SUBUID, "dave", 1003), None);
        assert_eq!(subid_range(SUBUID, "broken-line-without-fields", 7), None);
        assert_eq!(subid_range(SUBUID, "mallory", 4242), None);
        assert_eq!(subid_range("", "alice", 1000), None);
        // A range that would run past the last id is refused.
        assert_eq!(subid_range("alice:4294967295:2\n", "alice", 1000), None);
        // A fourth field is not the format.
        assert_eq!(subid_range("alice:1:2:3\n", "alice", 1000), None);
    }

    #[test]
    fn a_comment_names_nobody() {
        assert_eq!(subid_range("#alice:1:2\n", "#alice", 1), None);
    }
}
