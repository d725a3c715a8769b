//! `proc.sensitive-readonly`: the parts of /proc the OCI default configuration makes read-only
//! (`/proc/sys`, `/proc/sysrq-trigger`, `/proc/irq`, `/proc/bus`, `/proc/fs`) cannot be opened
//! for writing inside. The host picks one file under each (under /proc/sys the host-wide
//! `kernel/core_pattern`), from its own view of the same kernel; the agent opens each with
//! O_WRONLY and closes it without writing, so nothing changes whether the open works or not,
//! and names the mount each file is on. The open decides; the mount's `ro` flag is shown
//! beside it.

use super::host_side;
use super::{Check, Control, Ctx, Requirement, ShownBy, Verdict};
use crate::runtime::RunError;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::contract::{Called, ReadonlyArgs, ReadonlyOutcome, WriteOpen};
use isoprobe_probes::AgentArgs;
use serde_json::{json, Map, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub struct SensitiveReadonly;

use crate::vocabulary::READONLY_PATHS as READONLY;

/// The file tried under /proc/sys: host-wide even in a network namespace, and the one a
/// container would most like to write.
const CORE_PATTERN: &str = "/proc/sys/kernel/core_pattern";
/// How deep below a read-only directory a file is looked for (`/proc/bus/pci/00/00.0`).
const MAX_DEPTH: usize = 3;
/// Bounds the directories listed while looking.
const MAX_LISTED: usize = 64;

impl Check for SensitiveReadonly {
    fn id(&self) -> String {
        "proc.sensitive-readonly".into()
    }
    fn description(&self) -> String {
        "/proc/sys (with kernel/core_pattern), /proc/sysrq-trigger, /proc/irq, /proc/bus and \
         /proc/fs cannot be opened for writing inside (EROFS or EACCES); nothing is written"
            .into()
    }
    fn isolation(&self) -> Isolation {
        Isolation {
            readonly_paths: READONLY.map(String::from).to_vec(),
            ..Isolation::base()
        }
    }
    fn control(&self) -> Control {
        Sabotage::NoReadonlyPaths.shown_by("opened for writing")
    }
    fn requirements(&self) -> Vec<Requirement> {
        let mut r = Requirement::implied(&self.isolation(), self.sabotage());
        // In a user namespace these files stay the machine root's, whom it does not map: a
        // write is refused with or without read-only paths, and the control could not fail.
        r.push(Requirement::MachineRoot(
            "a control that can fail (in a user namespace /proc's files stay the machine \
             root's and refuse writes even when not read-only)",
        ));
        r
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        // This thread is in the stand-in host: its /proc is the machine kernel's.
        let targets: Vec<(&str, Option<String>)> =
            READONLY.iter().map(|r| (*r, target(Path::new(r)))).collect();
        let paths: Vec<String> = targets.iter().filter_map(|(_, t)| t.clone()).collect();
        let out = ctx.run(iso, AgentArgs::trying(ReadonlyArgs { paths }))?;
        Ok(host_side::tried(&out).map_or_else(|v| v, |p| judge(&targets, p)))
    }
}

/// The file to open for `root`: core_pattern for /proc/sys, the path itself when it is a file,
/// else the shallowest file below it, one with an owner-write bit first (what the kernel lets
/// root write to when nothing is read-only); `None` when the host has none.
fn target(root: &Path) -> Option<String> {
    if root == Path::new("/proc/sys") {
        return Path::new(CORE_PATTERN)
            .exists()
            .then(|| CORE_PATTERN.to_string());
    }
    let meta = std::fs::metadata(root).ok()?;
    if !meta.is_dir() {
        return Some(root.display().to_string());
    }
    let (mut level, mut listed, mut any) = (vec![root.to_path_buf()], 0, None);
    for _ in 0..MAX_DEPTH {
        let mut dirs = Vec::new();
        let mut files = Vec::new();
        for d in level.iter().take(MAX_LISTED.saturating_sub(listed)) {
            listed += 1;
            let Ok(entries) = std::fs::read_dir(d) else {
                continue;
            };
            for e in entries.flatten() {
                match e.metadata() {
                    Ok(m) if m.is_dir() => dirs.push(e.path()),
                    Ok(m) if m.is_file() => files.push((e.path(), m.permissions().mode())),
                    _ => {}
                }
            }
        }
        files.sort();
        dirs.sort();
        if let Some((p, _)) = files.iter().find(|(_, mode)| mode & 0o200 != 0) {
            return Some(p.display().to_string());
        }
        any = any.or_else(|| files.first().map(|(p, _)| p.clone()));
        level = dirs;
    }
    any.map(|p: PathBuf| p.display().to_string())
}

/// Holds when every file tried was refused with EROFS or EACCES. An open that worked is the
/// violation; a file missing inside, or another errno, was not tested; a read-only path the
/// host has no file under is recorded only. Nothing tried at all is inconclusive.
fn judge(targets: &[(&str, Option<String>)], p: &ReadonlyOutcome) -> Verdict {
    let (mut violations, mut untested) = (Vec::new(), Vec::new());
    let mut observed = Map::new();
    let mut tried = Vec::new();
    for (root, target) in targets {
        let Some(path) = target else {
            observed.insert(
                root.to_string(),
                Value::String("absent on this kernel (no file under it): not counted".into()),
            );
            continue;
        };
        tried.push(path.as_str());
        let Some(o) = p.opens.iter().find(|o| &o.path == path) else {
            untested.push(format!("the agent did not report `{path}`"));
            continue;
        };
        let mount = mount_shown(o);
        let open = match &o.open {
            Called::Done(_) => {
                violations.push(format!("`{path}` opened for writing ({mount})"));
                "opened for writing".to_string()
            }
            Called::Failed(e) => {
                let errno = e.errno.clone().unwrap_or_else(|| e.error.clone());
                if !(e.errno_is("EROFS") || e.errno_is("EACCES")) {
                    untested.push(format!(
                        "`{path}` gave {errno}, not EROFS or EACCES ({mount})"
                    ));
                }
                errno
            }
        };
        observed.insert(path.clone(), Value::String(format!("{open}; {mount}")));
    }
    if tried.is_empty() {
        untested.push("the host has no file under any of the read-only paths".into());
    }
    Verdict::judge(
        violations,
        untested,
        &format!(
            "all {} files were refused for writing (EROFS or EACCES)",
            tried.len()
        ),
        json!({"refused_for_writing": tried}),
        Value::Object(observed),
    )
}

/// The mount a file is on, as supporting evidence.
fn mount_shown(o: &WriteOpen) -> String {
    match &o.mount {
        Called::Done(c) => format!(
            "on `{}`, {}",
            c.mount_point,
            if c.read_only { "ro" } else { "rw" }
        ),
        Called::Failed(e) => format!("mount unknown: {}", e.error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use isoprobe_probes::contract::{CallError, Done, MountCover};
    use nix::errno::Errno;

    fn targets() -> Vec<(&'static str, Option<String>)> {
        vec![
            ("/proc/sys", Some(CORE_PATTERN.into())),
            ("/proc/sysrq-trigger", None),
            ("/proc/irq", Some("/proc/irq/default_smp_affinity".into())),
        ]
    }

    fn open(path: &str, open: Called<Done>, point: &str, read_only: bool) -> WriteOpen {
        WriteOpen {
            path: path.into(),
            open,
            mount: Called::Done(MountCover {
                mount_point: point.into(),
                read_only,
            }),
        }
    }

    fn refused(e: Errno) -> Called<Done> {
        Called::Failed(CallError::from_errno(e))
    }

    fn read_only() -> ReadonlyOutcome {
        ReadonlyOutcome {
            opens: vec![
                open(CORE_PATTERN, refused(Errno::EROFS), "/proc/sys", true),
                open(
                    "/proc/irq/default_smp_affinity",
                    refused(Errno::EACCES),
                    "/proc/irq",
                    true,
                ),
            ],
        }
    }

    #[test]
    fn holds_when_every_open_is_refused() {
        let v = judge(&targets(), &read_only());
        v.assert_holds();
        assert!(v.reason.contains("all 2 files"), "{}", v.reason);
        assert_eq!(v.observed[CORE_PATTERN], "EROFS; on `/proc/sys`, ro");
        assert_eq!(
            v.observed["/proc/sysrq-trigger"],
            "absent on this kernel (no file under it): not counted"
        );
    }

    #[test]
    fn an_open_for_writing_is_a_violation_with_its_mount() {
        let mut p = read_only();
        p.opens[0] = open(CORE_PATTERN, Called::Done(Done::Ok), "/proc", false);
        judge(&targets(), &p).assert_violated(
            "`/proc/sys/kernel/core_pattern` opened for writing (on `/proc`, rw)",
        );
    }

    #[test]
    fn missing_inside_another_errno_or_nothing_tried_is_untested() {
        let mut p = read_only();
        p.opens[1] = open(
            "/proc/irq/default_smp_affinity",
            refused(Errno::ENOENT),
            "/proc",
            false,
        );
        judge(&targets(), &p).assert_inconclusive("gave ENOENT, not EROFS or EACCES");
        let mut p = read_only();
        p.opens[0].open = refused(Errno::EPERM);
        judge(&targets(), &p).assert_inconclusive("gave EPERM");
        let p = ReadonlyOutcome {
            opens: read_only().opens[..1].to_vec(),
        };
        judge(&targets(), &p).assert_inconclusive("did not report `/proc/irq/");
        judge(&[("/proc/fs", None)], &read_only())
            .assert_inconclusive("no file under any of the read-only paths");
    }

    #[test]
    fn the_target_is_the_shallowest_writable_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("a/b")).unwrap();
        for (f, mode) in [("a/ro", 0o444), ("a/b/rw", 0o644), ("z", 0o444)] {
            std::fs::write(d.join(f), "").unwrap();
            std::fs::set_permissions(d.join(f), std::fs::Permissions::from_mode(mode)).unwrap();
        }
        assert_eq!(target(d), Some(d.join("a/b/rw").display().to_string()));
        std::fs::remove_file(d.join("a/b/rw")).unwrap();
        assert_eq!(target(d), Some(d.join("z").display().to_string()));
        assert_eq!(target(&d.join("none")), None);
        assert_eq!(
            target(&d.join("z")),
            Some(d.join("z").display().to_string())
        );
    }
}
