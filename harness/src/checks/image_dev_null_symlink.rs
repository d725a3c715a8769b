//! `image.dev-null-symlink`: an image whose `/dev/null` is a symlink cannot turn the runtime's
//! own use of `/dev/null` against the container's host (the class of CVE-2025-31133: runc
//! bind-mounted "/dev/null" over the masked paths and reopened stdio onto it without checking
//! what it was). The image's `/dev/null` points at a sysctl of the container's own network
//! namespace, and the configuration mounts no tmpfs on `/dev` (the OCI spec allows that), so a
//! runtime that follows it reaches that sysctl and nothing of the machine. The start must be
//! refused, or show inside: `/dev/null` the character device 1:3, no stdio descriptor on
//! procfs, no masked path bound to a procfs file.
//!
//! The agent reports through a file in a host scratch directory bound into the container, as
//! well as stdout: a hijacked stdout swallows its report (the agent's write fails there). The
//! hostile rootfs is a fresh one of the check's own in the scratch directory, and a plain
//! fresh rootfs is started first: a runtime that starts nothing "refuses" nothing.

use super::hostile_start::{self, first_line, refused};
use super::host_side::{self, setup};
use super::proc_sensitive_masked::masked_under_proc as masked;
use super::{Check, Control, Ctx, Layer, ShownBy, Verdict};
use crate::rootfs::FreshRootfs;
use crate::runtime::RunError;
use crate::vocabulary::{Bind, Isolation, Sabotage};
use isoprobe_probes::contract::{Called, DevNullArgs, DevNullOutcome, NodeSeen};
use isoprobe_probes::{AgentArgs, NsType};
use serde_json::{json, Map, Value};
use std::path::Path;

pub struct DevNullSymlink;

/// What every violation says.
const EVIDENCE: &str = "the image's /dev/null";
/// Where the image's `/dev/null` points: a sysctl of the container's own network namespace,
/// which a runtime that follows the link can at worst write garbage into (it refuses that).
pub const LINK_TARGET: &str = "/proc/sys/net/ipv4/ip_default_ttl";
/// The directory in the check's rootfs the report directory is bound on.
const REPORT_DIR: &str = "/isoprobe-report";
const REPORT_FILE: &str = "dev-null.json";
/// `statfs`'s `f_type` of procfs.
const PROC_SUPER_MAGIC: u64 = 0x9fa0;

impl Check for DevNullSymlink {
    fn id(&self) -> String {
        "image.dev-null-symlink".into()
    }
    fn description(&self) -> String {
        format!(
            "an image whose /dev/null is a symlink (to {LINK_TARGET} of the container's own \
             network namespace), with no tmpfs on /dev, is refused by the runtime or leaves \
             /dev/null the null device 1:3, no stdio descriptor on procfs and no masked path \
             bound to a procfs file"
        )
    }
    fn isolation(&self) -> Isolation {
        Isolation {
            masked_paths: masked(),
            dev_null: true,
            ..Isolation::base().with_ns(NsType::Net)
        }
    }
    fn control(&self) -> Control {
        Sabotage::DevNullFromImage.shown_by(EVIDENCE)
    }
    fn layer(&self) -> Layer {
        Layer::HostileInput
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let agent_path = ctx.rootfs.join(ctx.agent.trim_start_matches('/'));
        let plain = start(ctx, iso, &agent_path, false)?;
        let hostile = start(ctx, iso, &agent_path, true)?;
        Ok(judge(&plain, &hostile))
    }
}

type End = hostile_start::End<Ran>;

/// What a start that ran reported.
#[derive(Debug, Clone)]
struct Ran {
    outcome: Box<DevNullOutcome>,
    /// The report came from the file (`false`: only from stdout).
    from_file: bool,
    /// How the run failed although the agent wrote its report (a hijacked stdout makes
    /// the agent's own report write fail).
    failed: Option<String>,
}

/// Starts the agent in a fresh rootfs of the check's own, whose `/dev/null` is the hostile
/// link when `hostile`, with a report directory bound in.
fn start(ctx: &Ctx, iso: &Isolation, agent: &Path, hostile: bool) -> Result<End, RunError> {
    let rootfs = FreshRootfs::build_from(agent, Some(ctx.scratch))
        .map_err(|e| setup("build the check's rootfs", ctx.scratch, e))?;
    let report_in = rootfs.path().join(&REPORT_DIR[1..]);
    std::fs::create_dir(&report_in).map_err(|e| setup("create the report mount point", &report_in, e))?;
    if hostile {
        let link = rootfs.path().join("dev/null");
        std::os::unix::fs::symlink(LINK_TARGET, &link)
            .map_err(|e| setup("create the hostile /dev/null", &link, e))?;
    }
    let report = tempfile::Builder::new()
        .prefix("isoprobe-devnull-report-")
        .tempdir_in(ctx.scratch)
        .map_err(|e| setup("create the report directory", ctx.scratch, e))?;
    let mut asked = iso.clone();
    asked.binds.push(Bind {
        source: report.path().to_path_buf(),
        target: REPORT_DIR.into(),
    });
    let own = ctx.on_own_rootfs(rootfs.path());
    let args = AgentArgs::trying(DevNullArgs {
        report: format!("{REPORT_DIR}/{REPORT_FILE}"),
        masked: masked(),
    });
    let ran = own.run(&asked, args);
    Ok(ended(ran, &report.path().join(REPORT_FILE)))
}

fn ended(ran: Result<crate::runtime::RunOutcome, RunError>, file: &Path) -> End {
    if let Ok(bytes) = std::fs::read(file) {
        return match serde_json::from_slice::<DevNullOutcome>(&bytes) {
            Ok(o) => End::Ran(Ran {
                outcome: Box::new(o),
                from_file: true,
                failed: ran.err().map(|e| first_line(&e.to_string())),
            }),
            Err(e) => End::NotTried(format!("the report file is not a dev_null outcome: {e}")),
        };
    }
    match ran {
        Ok(out) => match host_side::tried::<DevNullOutcome>(&out) {
            Ok(o) => End::Ran(Ran {
                outcome: Box::new(o.clone()),
                from_file: false,
                failed: None,
            }),
            Err(v) => End::NotTried(v.reason),
        },
        Err(e) if refused(&e) => End::Refused(first_line(&e.to_string())),
        Err(e) => End::NotTried(format!("the start failed: {}", first_line(&e.to_string()))),
    }
}

fn describe(n: &NodeSeen) -> String {
    let mut s = n.kind.clone();
    if let Some(d) = &n.number {
        s += &format!(" {}:{}", d.major, d.minor);
    }
    if let Some(t) = &n.target {
        s += &format!(" -> {t}");
    }
    if n.fs_magic == PROC_SUPER_MAGIC {
        s += " on procfs";
    }
    s
}

fn is_null(n: &NodeSeen) -> bool {
    n.kind == "char" && n.number.as_ref().is_some_and(|d| (d.major, d.minor) == (1, 3))
}

/// Holds when the hostile start was refused, or ran with `/dev/null` the null device, no
/// stdio descriptor on procfs and no masked path bound to a procfs file. The plain start must
/// have run and reported through the file, or neither a refusal nor a clean run says anything.
fn judge(plain: &End, hostile: &End) -> Verdict {
    let (mut violations, mut untested) = (Vec::new(), Vec::new());
    let mut observed = Map::new();
    if plain.plain(&mut untested).is_some_and(|r| !r.from_file) {
        untested.push(
            "on a plain start the agent's report file did not reach the host, so a hijacked \
             stdout could not be told from a silent one"
                .to_string(),
        );
    }
    let holds = match hostile.hostile(&mut observed, &mut untested) {
        Err(holds) => holds,
        Ok(Ran {
            outcome,
            from_file,
            failed,
        }) => {
            let o = outcome.as_ref();
            let via = if *from_file { "the report file" } else { "stdout only" };
            observed.insert("report".into(), Value::String(via.into()));
            if let Some(f) = failed {
                observed.insert("run failed".into(), Value::String(f.clone()));
            }
            match &o.dev_null {
                Called::Done(n) if is_null(n) => {}
                Called::Done(n) => violations.push(format!(
                    "`/dev/null` inside is {}, not the null device 1:3: {EVIDENCE} was kept",
                    describe(n)
                )),
                Called::Failed(e) => untested.push(format!(
                    "`/dev/null` could not be looked at inside: {}",
                    e.error
                )),
            }
            observed.insert("/dev/null".into(), Value::String(shown(&o.dev_null, describe)));
            for s in &o.stdio {
                let name = ["stdin", "stdout", "stderr"].get(s.fd as usize).unwrap_or(&"fd");
                let path = s.path.done().cloned().unwrap_or_default();
                if let Called::Done(n) = &s.seen {
                    if n.fs_magic == PROC_SUPER_MAGIC {
                        violations.push(format!(
                            "{name} (fd {}) is the procfs file `{path}`: reopened through \
                             {EVIDENCE}",
                            s.fd
                        ));
                    }
                }
                observed.insert(
                    format!("fd {}", s.fd),
                    Value::String(format!("{} ({path})", shown(&s.seen, describe))),
                );
            }
            if o.stdio.len() != 3 {
                untested.push(format!("the agent reported {} stdio descriptors", o.stdio.len()));
            }
            for m in &o.masked {
                let p = &m.path;
                let mount = match &m.mount {
                    Called::Done(Some(at)) if at.fs_type == "proc" => {
                        violations.push(format!(
                            "`{p}` is bound to the procfs file `{}`: masked with {EVIDENCE}",
                            at.root
                        ));
                        format!("bound to proc:{}", at.root)
                    }
                    Called::Done(Some(at)) => format!("{}:{} on it", at.fs_type, at.root),
                    Called::Done(None) => "nothing mounted on it".into(),
                    Called::Failed(e) => {
                        untested.push(format!("the mounts on `{p}` were not seen: {}", e.error));
                        "mounts not seen".into()
                    }
                };
                observed.insert(
                    p.clone(),
                    Value::String(format!("{}; {mount}", shown(&m.seen, describe))),
                );
            }
            if o.masked.is_empty() {
                untested.push("the agent reported no masked path".into());
            }
            format!(
                "it ran with /dev/null the null device, no stdio descriptor on procfs and no \
                 masked path bound to a procfs file (reported through {via})"
            )
        }
    };
    Verdict::judge(
        violations,
        untested,
        &holds,
        json!({"the hostile start": "refused, or /dev/null char 1:3, no stdio descriptor on \
               procfs, no masked path bound to a procfs file"}),
        Value::Object(observed),
    )
}

fn shown<T>(c: &Called<T>, f: impl Fn(&T) -> String) -> String {
    match c {
        Called::Done(v) => f(v),
        Called::Failed(e) => e.errno.clone().unwrap_or_else(|| e.error.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use isoprobe_probes::contract::{CallError, DevNumber, MaskSeen, MountAt, StdioSeen};
    use nix::errno::Errno;

    fn node(kind: &str, number: Option<(u32, u32)>, target: Option<&str>, magic: u64) -> NodeSeen {
        NodeSeen {
            kind: kind.into(),
            number: number.map(|(major, minor)| DevNumber { major, minor }),
            target: target.map(String::from),
            fs_magic: magic,
        }
    }

    const TMPFS: u64 = 0x0102_1994;
    const PIPEFS: u64 = 0x5049_5045;

    fn null() -> NodeSeen {
        node("char", Some((1, 3)), None, TMPFS)
    }

    fn stdio(fd: u32, seen: NodeSeen, path: &str) -> StdioSeen {
        StdioSeen {
            fd,
            seen: Called::Done(seen),
            path: Called::Done(path.into()),
        }
    }

    fn mask(path: &str, seen: NodeSeen, mount: Option<(&str, &str)>) -> MaskSeen {
        MaskSeen {
            path: path.into(),
            seen: Called::Done(seen),
            mount: Called::Done(mount.map(|(fs_type, root)| MountAt {
                fs_type: fs_type.into(),
                root: root.into(),
            })),
        }
    }

    /// What an honest runtime shows: the null device, pipes, masks of the null device.
    fn clean() -> DevNullOutcome {
        DevNullOutcome {
            dev_null: Called::Done(null()),
            stdio: vec![
                stdio(0, null(), "/dev/null"),
                stdio(1, node("fifo", None, None, PIPEFS), "pipe:[7]"),
                stdio(2, node("fifo", None, None, PIPEFS), "pipe:[8]"),
            ],
            masked: vec![
                mask("/proc/keys", null(), Some(("devtmpfs", "/null"))),
                mask("/proc/kcore", null(), None),
            ],
        }
    }

    /// What runc 1.1.5 showed here.
    fn hijacked() -> DevNullOutcome {
        let ttl = || node("file", None, None, PROC_SUPER_MAGIC);
        DevNullOutcome {
            dev_null: Called::Done(node("link", None, Some(LINK_TARGET), TMPFS)),
            stdio: vec![
                stdio(0, null(), "/dev/null"),
                stdio(1, ttl(), LINK_TARGET),
                stdio(2, ttl(), LINK_TARGET),
            ],
            masked: vec![mask(
                "/proc/keys",
                ttl(),
                Some(("proc", "/sys/net/ipv4/ip_default_ttl")),
            )],
        }
    }

    fn ran(o: DevNullOutcome, from_file: bool) -> End {
        End::Ran(Ran {
            outcome: Box::new(o),
            from_file,
            failed: None,
        })
    }

    #[test]
    fn a_refusal_or_a_clean_run_holds() {
        let v = judge(&ran(clean(), true), &End::Refused("crun: bad /dev/null".into()));
        v.assert_holds();
        assert_eq!(v.reason, "refused: crun: bad /dev/null");
        let v = judge(&ran(clean(), true), &ran(clean(), true));
        v.assert_holds();
        assert!(v.reason.contains("through the report file"), "{}", v.reason);
        assert_eq!(v.observed["/proc/kcore"], "char 1:3; nothing mounted on it");
    }

    #[test]
    fn a_kept_link_hijacked_stdio_and_procfs_masks_are_violations() {
        let mut o = hijacked();
        let v = judge(
            &ran(clean(), true),
            &End::Ran(Ran {
                outcome: Box::new(o.clone()),
                from_file: true,
                failed: Some("the agent exited with Code(3)".into()),
            }),
        );
        v.assert_violated("`/dev/null` inside is link -> /proc/sys/net/ipv4/ip_default_ttl");
        v.assert_violated("stdout (fd 1) is the procfs file `/proc/sys/net/ipv4/ip_default_ttl`");
        v.assert_violated("`/proc/keys` is bound to the procfs file `/sys/net/ipv4/ip_default_ttl`");
        assert!(!v.reason.contains("stdin"), "{}", v.reason);
        assert_eq!(v.observed["run failed"], "the agent exited with Code(3)");
        // Every violation names the evidence on its own.
        for part in v.reason.split("; ") {
            assert!(part.contains(EVIDENCE), "{part}");
        }
        // Each alone is enough.
        o.stdio = clean().stdio;
        o.masked = clean().masked;
        judge(&ran(clean(), true), &ran(o, true)).assert_violated(EVIDENCE);
    }

    #[test]
    fn a_plain_start_that_fails_or_loses_its_report_leaves_it_untested() {
        let refused = End::Refused("x".into());
        judge(&refused, &refused).assert_inconclusive("refused a plain start too");
        judge(&ran(clean(), false), &refused).assert_inconclusive("report file did not reach");
        judge(&End::NotTried("no outcome".into()), &ran(clean(), true))
            .assert_inconclusive("the plain start: no outcome");
        // The violation still wins.
        judge(&refused, &ran(hijacked(), true)).assert_violated(EVIDENCE);
    }

    #[test]
    fn what_could_not_be_looked_at_is_untested() {
        let mut o = clean();
        o.dev_null = Called::Failed(CallError::from_errno(Errno::EACCES));
        judge(&ran(clean(), true), &ran(o, true)).assert_inconclusive("`/dev/null` could not be");
        let mut o = clean();
        o.masked[0].mount = Called::Failed(CallError::text("no mountinfo"));
        judge(&ran(clean(), true), &ran(o, true)).assert_inconclusive("no mountinfo");
        let mut o = clean();
        o.masked.clear();
        judge(&ran(clean(), true), &ran(o, true)).assert_inconclusive("no masked path");
    }

    #[test]
    fn the_check_asks_for_a_null_device_masks_and_a_network_namespace() {
        let iso = DevNullSymlink.isolation();
        assert!(iso.dev_null && !iso.devices.standard_dev());
        assert!(iso.namespaces.contains(&NsType::Net));
        assert!(iso.masked_paths.contains(&"/proc/keys".to_string()));
        assert!(iso.masked_paths.iter().all(|p| p.starts_with("/proc/")));
        assert_eq!(DevNullSymlink.layer(), Layer::HostileInput);
    }
}
