//! `masked`: what the paths a runtime should mask show. A file's first bytes are read and
//! counted, a directory's entries counted; nothing read is kept, so no key or kernel memory
//! reaches a report. The host looks at the same paths with [`look`] to tell "masked" from
//! "absent" or "empty anyway".

use crate::contract::{CallError, Called, MaskedArgs, MaskedOutcome, PathSeen, Seen};
use std::io::Read;
use std::path::Path;

/// Enough to tell content from none; /proc/kcore is read no further than this either.
const MAX_READ: u64 = 64;
/// Bounds the listing of a directory that is not masked.
const MAX_ENTRIES: u64 = 4096;

pub fn run(args: &MaskedArgs) -> MaskedOutcome {
    MaskedOutcome {
        paths: args
            .paths
            .iter()
            .map(|p| PathSeen {
                path: p.clone(),
                seen: look(Path::new(p)),
            })
            .collect(),
    }
}

/// How much of `path` can be read: a directory's entry count, anything else's first bytes
/// counted; a failure names its step (`stat`, `open`, `read`, `readdir`).
pub fn look(path: &Path) -> Called<Seen> {
    let failed = |e: std::io::Error, step: &str| Called::Failed(CallError::from_io(&e).at(step));
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return failed(e, "stat"),
    };
    if meta.is_dir() {
        return match std::fs::read_dir(path) {
            Ok(entries) => {
                let mut n = 0;
                for e in entries.take(MAX_ENTRIES as usize) {
                    if let Err(e) = e {
                        return failed(e, "readdir");
                    }
                    n += 1;
                }
                Called::Done(Seen::Dir { entries: n })
            }
            Err(e) => failed(e, "readdir"),
        };
    }
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return failed(e, "open"),
    };
    let mut buf = Vec::with_capacity(MAX_READ as usize);
    match file.take(MAX_READ).read_to_end(&mut buf) {
        Ok(n) => Called::Done(Seen::File { bytes: n as u64 }),
        Err(e) => failed(e, "read"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_without_keeping() {
        assert_eq!(
            look(Path::new("/proc/self/status")),
            Called::Done(Seen::File { bytes: MAX_READ })
        );
        assert_eq!(
            look(Path::new("/dev/null")),
            Called::Done(Seen::File { bytes: 0 })
        );
        match look(Path::new("/proc/self/fd")) {
            Called::Done(Seen::Dir { entries }) => assert!(entries >= 3, "{entries}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_missing_path_fails_at_stat_with_enoent() {
        let seen = look(Path::new("/proc/isoprobe-none"));
        assert_eq!(seen.errno(), Some("ENOENT"));
        assert_eq!(seen.failed().unwrap().step.as_deref(), Some("stat"));
    }

    #[test]
    fn seen_says_whether_anything_was_read() {
        assert!(Seen::File { bytes: 1 }.has_content());
        assert!(!Seen::File { bytes: 0 }.has_content());
        assert!(Seen::Dir { entries: 3 }.has_content());
        assert!(!Seen::Dir { entries: 0 }.has_content());
        let json = serde_json::to_value(Called::Done(Seen::Dir { entries: 3 })).unwrap();
        assert_eq!(json, serde_json::json!({"kind": "dir", "entries": 3}));
    }
}
