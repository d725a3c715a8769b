//! `proc.sensitive-masked`: the paths the OCI runtime spec's default configuration masks show
//! nothing inside the container. The agent counts what each path shows (a file's first bytes,
//! a directory's entries; never the content), and the host looks at the same paths in its own
//! view: a path the host does not have, or that is empty there too, says nothing about
//! masking ("absent is not masked") and is recorded, not counted.
//!
//! The container gets a network namespace and a fresh read-only sysfs, so that
//! `/sys/firmware` is there to be masked.

use super::host_side;
use super::{Check, Control, Ctx, ShownBy, Verdict};
use crate::runtime::RunError;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::agent::tries::look;
use isoprobe_probes::contract::{Called, MaskedArgs, MaskedOutcome, PathSeen, Seen};
use isoprobe_probes::{AgentArgs, NsType};
use serde_json::{json, Map, Value};
use std::path::Path;

pub struct SensitiveMasked;

use crate::vocabulary::MASKED_PATHS as MASKED;

/// The masked paths under /proc: what a check needs that mounts no sysfs.
pub fn masked_under_proc() -> Vec<String> {
    MASKED
        .iter()
        .filter(|p| p.starts_with("/proc/"))
        .map(|p| p.to_string())
        .collect()
}

impl Check for SensitiveMasked {
    fn id(&self) -> String {
        "proc.sensitive-masked".into()
    }
    fn description(&self) -> String {
        "the paths the OCI default configuration masks (/proc/kcore, /proc/keys, \
         /proc/timer_list, /sys/firmware, ...) show nothing inside where the host sees content"
            .into()
    }
    fn isolation(&self) -> Isolation {
        Isolation {
            mount_sys: true,
            masked_paths: MASKED.map(String::from).to_vec(),
            ..Isolation::base().with_ns(NsType::Net)
        }
    }
    fn control(&self) -> Control {
        Sabotage::NoMasking.shown_by("content readable inside")
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        // This thread is in the stand-in host: its /proc and /sys are the machine's kernel's.
        let host: Vec<PathSeen> = MASKED
            .iter()
            .map(|p| PathSeen {
                path: p.to_string(),
                seen: look(Path::new(p)),
            })
            .collect();
        let paths = MASKED.map(String::from).to_vec();
        let out = ctx.run(iso, AgentArgs::trying(MaskedArgs { paths }))?;
        Ok(host_side::tried(&out).map_or_else(|v| v, |p| judge(&host, p)))
    }
}

/// A view of one path in a few words, sizes only.
fn described(seen: &Called<Seen>) -> String {
    match seen {
        Called::Done(Seen::File { bytes }) => format!("file, {bytes} bytes read"),
        Called::Done(Seen::Dir { entries }) => format!("directory, {entries} entries"),
        Called::Failed(e) => format!(
            "{} at {}",
            e.errno.as_deref().unwrap_or(&e.error),
            e.step.as_deref().unwrap_or("?")
        ),
    }
}

/// Holds when every path with content on the host shows none inside: an empty file or
/// directory, or a read refused with EACCES/EPERM. Content inside is a violation; a path
/// missing inside (ENOENT) or failing otherwise was not tested. Paths the host lacks or sees
/// empty are recorded only; if no path has content on the host nothing could be tested.
fn judge(host: &[PathSeen], inside: &MaskedOutcome) -> Verdict {
    let (mut violations, mut untested) = (Vec::new(), Vec::new());
    let mut observed = Map::new();
    let mut present = Vec::new();
    for h in host {
        let p = h.path.as_str();
        let on_host = match &h.seen {
            Called::Done(s) if s.has_content() => None,
            Called::Done(_) => Some("empty on the host too: nothing to mask".to_string()),
            Called::Failed(e) if e.errno_is("ENOENT") => {
                Some("absent on this kernel: not counted".to_string())
            }
            other => Some(format!(
                "not readable on the host ({}): not counted",
                described(other)
            )),
        };
        if let Some(note) = on_host {
            observed.insert(p.to_string(), Value::String(note));
            continue;
        }
        present.push(p);
        let Some(seen) = inside.paths.iter().find(|s| s.path == p).map(|s| &s.seen) else {
            untested.push(format!("the agent did not report `{p}`"));
            continue;
        };
        let shown = described(seen);
        match seen {
            Called::Done(s) if s.has_content() => {
                violations.push(format!("`{p}`: content readable inside ({shown})"))
            }
            Called::Done(_) => {}
            Called::Failed(e) if e.errno_is("EACCES") || e.errno_is("EPERM") => {}
            Called::Failed(_) => untested.push(format!(
                "`{p}` has content on the host but gave {shown} inside, so its masking was \
                 not seen"
            )),
        }
        observed.insert(
            p.to_string(),
            Value::String(format!("host: {}; inside: {shown}", described(&h.seen))),
        );
    }
    if present.is_empty() {
        untested.push("none of the masked paths shows content on the host".into());
    }
    Verdict::judge(
        violations,
        untested,
        &format!(
            "all {} paths with content on the host show nothing inside",
            present.len()
        ),
        json!({"nothing_readable_inside": present}),
        Value::Object(observed),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use isoprobe_probes::contract::CallError;
    use nix::errno::Errno;

    fn seen(path: &str, s: Called<Seen>) -> PathSeen {
        PathSeen {
            path: path.into(),
            seen: s,
        }
    }

    fn failed(e: Errno, step: &str) -> Called<Seen> {
        Called::Failed(CallError::from_errno(e).at(step))
    }

    fn file(bytes: u64) -> Called<Seen> {
        Called::Done(Seen::File { bytes })
    }

    fn dir(entries: u64) -> Called<Seen> {
        Called::Done(Seen::Dir { entries })
    }

    /// What this project's machines show: no kcore, an empty /proc/acpi, content in
    /// timer_list and /sys/firmware.
    fn host() -> Vec<PathSeen> {
        vec![
            seen("/proc/kcore", failed(Errno::ENOENT, "stat")),
            seen("/proc/acpi", dir(0)),
            seen("/proc/timer_list", file(64)),
            seen("/sys/firmware", dir(2)),
        ]
    }

    fn inside(paths: Vec<PathSeen>) -> MaskedOutcome {
        MaskedOutcome { paths }
    }

    fn masked() -> MaskedOutcome {
        inside(vec![
            seen("/proc/kcore", failed(Errno::ENOENT, "stat")),
            seen("/proc/acpi", dir(0)),
            seen("/proc/timer_list", file(0)),
            seen("/sys/firmware", dir(0)),
        ])
    }

    #[test]
    fn holds_when_what_the_host_sees_is_empty_inside() {
        let v = judge(&host(), &masked());
        v.assert_holds();
        assert!(v.reason.contains("all 2 paths"), "{}", v.reason);
        assert_eq!(
            v.observed["/proc/kcore"],
            "absent on this kernel: not counted"
        );
        assert_eq!(
            v.observed["/proc/acpi"],
            "empty on the host too: nothing to mask"
        );
        assert_eq!(
            v.observed["/proc/timer_list"],
            "host: file, 64 bytes read; inside: file, 0 bytes read"
        );
    }

    #[test]
    fn a_refused_read_is_masked_too() {
        let mut o = masked();
        o.paths[2] = seen("/proc/timer_list", failed(Errno::EACCES, "open"));
        judge(&host(), &o).assert_holds();
    }

    #[test]
    fn content_inside_is_a_violation_naming_the_path_and_size() {
        let mut o = masked();
        o.paths[2] = seen("/proc/timer_list", file(64));
        o.paths[3] = seen("/sys/firmware", dir(2));
        let v = judge(&host(), &o);
        v.assert_violated("`/proc/timer_list`: content readable inside (file, 64 bytes read)");
        v.assert_violated("`/sys/firmware`: content readable inside (directory, 2 entries)");
    }

    #[test]
    fn absent_inside_or_an_odd_error_is_not_masked_but_untested() {
        let mut o = masked();
        o.paths[3] = seen("/sys/firmware", failed(Errno::ENOENT, "stat"));
        judge(&host(), &o).assert_inconclusive("`/sys/firmware` has content on the host but gave ENOENT at stat");
        let mut o = masked();
        o.paths[2] = seen("/proc/timer_list", failed(Errno::EIO, "read"));
        judge(&host(), &o).assert_inconclusive("gave EIO at read");
        let o = inside(masked().paths[..2].to_vec());
        judge(&host(), &o).assert_inconclusive("did not report `/proc/timer_list`");
    }

    #[test]
    fn nothing_to_test_when_the_host_shows_nothing() {
        let host = vec![
            seen("/proc/kcore", failed(Errno::ENOENT, "stat")),
            seen("/proc/acpi", dir(0)),
            seen("/proc/keys", failed(Errno::EACCES, "open")),
        ];
        let v = judge(&host, &masked());
        v.assert_inconclusive("none of the masked paths shows content on the host");
        assert_eq!(
            v.observed["/proc/keys"],
            "not readable on the host (EACCES at open): not counted"
        );
    }
}
