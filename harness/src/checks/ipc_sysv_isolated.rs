//! `ipc.sysv-isolated`: a SysV shared-memory segment and a POSIX message queue the host made
//! are invisible inside, and the ones the container makes do not appear on the host.
//!
//! Every object either side could have made in the host's namespace is listed in a [`HostIpc`]
//! guard before the container starts, so a failed or sabotaged run leaves nothing behind.

use super::host_side;
use super::{Check, Ctx, Verdict, Control, ShownBy};
use crate::runtime::RunError;
use crate::vocabulary::HostStepError;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::contract::{Called, IpcArgs, IpcOutcome};
use isoprobe_probes::{AgentArgs, NsType};
use nix::errno::Errno;
use serde_json::{json, Value};
use std::ffi::CString;

pub struct IpcSysvIsolated;

const SEGMENT_SIZE: usize = 4096;
/// Random keys and names collide with existing ones rarely; a few draws make it never.
const DRAWS: usize = 8;

fn random_u32() -> u32 {
    u32::from_ne_bytes(crate::random::bytes())
}

/// A positive key, never IPC_PRIVATE (0).
fn random_key() -> libc::key_t {
    (random_u32() % (i32::MAX as u32 - 1)) as libc::key_t + 1
}

/// Decimal only, so that the snapshot's digit scrubbing makes it stable.
fn random_name() -> String {
    format!("/isoprobe-{}-{}", std::process::id(), random_u32())
}

fn host_err(step: &'static str, what: &str, e: Errno) -> RunError {
    HostStepError::errno(step, what, e).into()
}

fn cname(name: &str) -> CString {
    // Names come from `random_name`: no NUL inside.
    CString::new(name).unwrap_or_default()
}

/// The id of the segment with `key` in this process's ipc namespace.
fn shm_lookup(key: libc::key_t) -> Result<i32, Errno> {
    // SAFETY: plain system call.
    Errno::result(unsafe { libc::shmget(key, 0, 0) })
}

fn mq_open(name: &str, flags: libc::c_int) -> Result<(), Errno> {
    let c = cname(name);
    let mode: libc::mode_t = 0o600;
    // SAFETY: a valid C string; a null attribute pointer asks for the defaults.
    let q = unsafe {
        libc::mq_open(
            c.as_ptr(),
            flags,
            mode,
            std::ptr::null_mut::<libc::mq_attr>(),
        )
    };
    Errno::result(q)?;
    // SAFETY: a descriptor mq_open just returned.
    unsafe { libc::mq_close(q) };
    Ok(())
}

/// Objects in the host's ipc namespace that this check made or may find made for it; all
/// removed on drop.
#[derive(Default)]
struct HostIpc {
    keys: Vec<libc::key_t>,
    names: Vec<String>,
}

impl HostIpc {
    /// A new segment under a fresh random key.
    fn create_segment(&mut self) -> Result<libc::key_t, RunError> {
        for _ in 0..DRAWS {
            let key = random_key();
            let flags = libc::IPC_CREAT | libc::IPC_EXCL | 0o600;
            // SAFETY: plain system call.
            match Errno::result(unsafe { libc::shmget(key, SEGMENT_SIZE, flags) }) {
                Ok(_) => {
                    self.keys.push(key);
                    return Ok(key);
                }
                Err(Errno::EEXIST) => continue,
                Err(e) => return Err(host_err("shmget(IPC_CREAT)", "host segment", e)),
            }
        }
        Err(host_err("shmget(IPC_CREAT)", "host segment", Errno::EEXIST))
    }

    /// A new queue under a fresh random name.
    fn create_queue(&mut self) -> Result<String, RunError> {
        for _ in 0..DRAWS {
            let name = random_name();
            match mq_open(&name, libc::O_RDWR | libc::O_CREAT | libc::O_EXCL) {
                Ok(()) => {
                    self.names.push(name.clone());
                    return Ok(name);
                }
                Err(Errno::EEXIST) => continue,
                Err(e) => return Err(host_err("mq_open(O_CREAT)", "host queue", e)),
            }
        }
        Err(host_err("mq_open(O_CREAT)", "host queue", Errno::EEXIST))
    }

    /// A key no segment has yet, reserved for the container to use (and for us to remove).
    fn reserve_key(&mut self) -> libc::key_t {
        let key = (0..DRAWS)
            .map(|_| random_key())
            .find(|k| shm_lookup(*k) == Err(Errno::ENOENT))
            .unwrap_or_else(random_key);
        self.keys.push(key);
        key
    }

    fn reserve_name(&mut self) -> String {
        let name = (0..DRAWS)
            .map(|_| random_name())
            .find(|n| mq_open(n, libc::O_RDONLY) == Err(Errno::ENOENT))
            .unwrap_or_else(random_name);
        self.names.push(name.clone());
        name
    }
}

impl Drop for HostIpc {
    fn drop(&mut self) {
        for key in &self.keys {
            if let Ok(id) = shm_lookup(*key) {
                // SAFETY: IPC_RMID takes no buffer.
                unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
            }
        }
        for name in &self.names {
            let c = cname(name);
            // SAFETY: a valid C string.
            unsafe { libc::mq_unlink(c.as_ptr()) };
        }
    }
}

/// What the agent's lookup of a host object shows: nothing when it correctly found nothing,
/// a violation when it found it, and untested when it failed otherwise (the lookup never
/// said whether the object was there).
fn lookup_finding<T: serde::Serialize>(what: &str, v: &Called<T>) -> Option<Finding> {
    match v {
        Called::Done(_) => Some(Finding::Violation(format!(
            "the container sees the host's {what}"
        ))),
        Called::Failed(e) if e.errno_is("ENOENT") => None,
        Called::Failed(e) => Some(Finding::Untested(format!(
            "the container's lookup of the host's {what} failed otherwise: {}",
            host_side::shown(e)
        ))),
    }
}

/// One finding of this judge, sorted.
#[derive(Debug, PartialEq)]
enum Finding {
    Violation(String),
    Untested(String),
}

/// `done` (found or created) or the errno of the failure.
fn outcome<T>(v: &Called<T>, done: &str) -> Value {
    match v {
        Called::Done(_) => json!(done),
        Called::Failed(e) => e
            .errno
            .as_ref()
            .map_or_else(|| host_side::shown(e), |n| json!(n)),
    }
}

impl Check for IpcSysvIsolated {
    fn id(&self) -> String {
        "ipc.sysv-isolated".into()
    }
    fn description(&self) -> String {
        "a SysV shared-memory segment and a POSIX message queue made by the host are invisible \
         inside, and the ones made inside do not appear on the host"
            .into()
    }
    fn control(&self) -> Control {
        Sabotage::DropNamespace(NsType::Ipc).shown_by("sees the host's")
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let mut host = HostIpc::default();
        let key = host.create_segment()?;
        let name = host.create_queue()?;
        let own_key = host.reserve_key();
        let own_name = host.reserve_name();
        let args = IpcArgs {
            key,
            name,
            own_key,
            own_name: own_name.clone(),
        };
        let out = ctx.run(iso, AgentArgs::trying(args))?;
        let own_shm_on_host = shm_lookup(own_key).is_ok();
        let own_mq_on_host = mq_open(&own_name, libc::O_RDONLY).is_ok();
        drop(host);

        let p = match host_side::tried::<IpcOutcome>(&out) {
            Ok(p) => p,
            Err(v) => return Ok(v),
        };
        Ok(judge(p, own_shm_on_host, own_mq_on_host))
    }
}

/// Holds when the container found neither host object, made its own, and neither of its own
/// appeared on the host (`own_*_on_host`, as the host looked them up after the run).
fn judge(p: &IpcOutcome, own_shm_on_host: bool, own_mq_on_host: bool) -> Verdict {
    let (mut violations, mut untested) = (Vec::new(), Vec::new());
    for f in [
        lookup_finding("shared-memory segment", &p.shm),
        lookup_finding("message queue", &p.mq),
    ]
    .into_iter()
    .flatten()
    {
        match f {
            Finding::Violation(v) => violations.push(v),
            Finding::Untested(u) => untested.push(u),
        }
    }
    // The container's own objects prove its lookups worked in a namespace of its own;
    // without them an ENOENT proves nothing.
    for (what, e) in [
        ("segment", p.own_shm.failed()),
        ("queue", p.own_mq.failed()),
    ] {
        if let Some(e) = e {
            untested.push(format!(
                "the container could not create its own {what}: {}",
                host_side::shown(e)
            ));
        }
    }
    if own_shm_on_host {
        violations.push("the container's segment appeared on the host".into());
    }
    if own_mq_on_host {
        violations.push("the container's message queue appeared on the host".into());
    }
    Verdict::judge(
        violations,
        untested,
        "the host's segment and queue are invisible inside; the container's stay inside",
        json!({
            "inside": {"host_shm": "ENOENT", "host_mq": "ENOENT", "own_shm": "created", "own_mq": "created"},
            "on_host": {"container_shm": false, "container_mq": false},
        }),
        json!({
            "inside": {
                "host_shm": outcome(&p.shm, "found"),
                "host_mq": outcome(&p.mq, "found"),
                "own_shm": outcome(&p.own_shm, "created"),
                "own_mq": outcome(&p.own_mq, "created"),
            },
            "on_host": {"container_shm": own_shm_on_host, "container_mq": own_mq_on_host},
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::fake::{self, FnRuntime};
    use isoprobe_probes::contract::{CallError, Done, Segment, Try};
    use std::sync::Mutex;
    use std::time::Duration;

    fn ipc_args(job: &crate::runtime::Job) -> IpcArgs {
        match &job.args.tries[0] {
            Try::Ipc(a) => a.clone(),
            other => panic!("not an ipc try: {other:?}"),
        }
    }

    #[test]
    #[serial_test::serial(machine)]
    fn every_host_object_is_removed_when_the_run_fails() {
        crate::require_root!("every_host_object_is_removed_when_the_run_fails");
        // In a stand-in host, like every check the engine runs: the objects made "on the host"
        // are the stand-in's, never the machine's.
        crate::standin::in_a_stand_in(|| {
            let given = Mutex::new(None::<IpcArgs>);
            // Acts like a container without an ipc namespace that dies before it reports: it makes
            // its own objects in the host's namespace, then the run fails.
            let rt = FnRuntime::new("leak-then-fail", |job| {
                let a = ipc_args(job);
                // SAFETY: plain system call.
                assert!(unsafe { libc::shmget(a.own_key, 4096, libc::IPC_CREAT | 0o600) } >= 0);
                mq_open(&a.own_name, libc::O_RDONLY | libc::O_CREAT).unwrap();
                *given.lock().unwrap() = Some(a);
                Err(fake::agent_failed())
            });
            let dir = std::env::temp_dir();
            let ctx = Ctx {
                runtime: &rt,
                rootfs: &dir,
                agent: "/isoprobe-agent",
                scratch: &dir,
                timeout: Duration::from_secs(1),
            };
            let check = IpcSysvIsolated;
            assert!(check.run(&ctx, &check.isolation()).is_err());
            let a = given
                .lock()
                .unwrap()
                .clone()
                .expect("the run was asked for");
            for k in [a.key, a.own_key] {
                assert_eq!(shm_lookup(k), Err(Errno::ENOENT), "{k} left");
            }
            for n in [&a.name, &a.own_name] {
                assert_eq!(mq_open(n, libc::O_RDONLY), Err(Errno::ENOENT), "{n} left");
            }
        
        });
    }

    #[test]
    fn lookups_pass_only_on_enoent() {
        let failed = |e| Called::<Segment>::Failed(CallError::from_errno(e));
        assert_eq!(lookup_finding("x", &failed(Errno::ENOENT)), None);
        assert_eq!(
            lookup_finding("x", &Called::Done(Segment { id: 1 })),
            Some(Finding::Violation("the container sees the host's x".into()))
        );
        assert!(matches!(
            lookup_finding("x", &failed(Errno::ENOSYS)),
            Some(Finding::Untested(_))
        ));
        assert!(matches!(
            lookup_finding("x", &Called::<Segment>::Failed(CallError::text("x"))),
            Some(Finding::Untested(_))
        ));
        assert_eq!(outcome(&failed(Errno::ENOENT), "found"), json!("ENOENT"));
        assert_eq!(
            outcome(&Called::Done(Segment { id: 1 }), "found"),
            json!("found")
        );
    }

    fn isolated() -> IpcOutcome {
        IpcOutcome {
            shm: Called::Failed(CallError::from_errno(Errno::ENOENT)),
            mq: Called::Failed(CallError::from_errno(Errno::ENOENT)),
            own_shm: Called::Done(Segment { id: 3 }),
            own_mq: Called::Done(Done::Ok),
        }
    }

    #[test]
    fn the_judge_sorts_what_crossed_from_what_was_not_tried() {
        judge(&isolated(), false, false).assert_holds();
        let shared = IpcOutcome {
            shm: Called::Done(Segment { id: 1 }),
            mq: Called::Done(Done::Ok),
            ..isolated()
        };
        judge(&shared, false, false).assert_violated("sees the host's shared-memory segment");
        judge(&isolated(), true, false).assert_violated("segment appeared on the host");
        judge(&isolated(), false, true).assert_violated("message queue appeared on the host");
        let no_own = IpcOutcome {
            own_mq: Called::Failed(CallError::from_errno(Errno::ENOSPC)),
            ..isolated()
        };
        judge(&no_own, false, false).assert_inconclusive("could not create its own queue");
        let odd = IpcOutcome {
            shm: Called::Failed(CallError::from_errno(Errno::EACCES)),
            ..isolated()
        };
        judge(&odd, false, false).assert_inconclusive("failed otherwise");
    }

    #[test]
    fn names_and_keys_are_valid_for_the_kernel() {
        for _ in 0..100 {
            assert!(random_key() > 0);
        }
        let n = random_name();
        assert!(n.starts_with('/') && !n[1..].contains('/') && n.len() < 255);
        assert!(n
            .chars()
            .skip(1)
            .all(|c| c.is_ascii_digit() || c == '-' || c.is_ascii_lowercase()));
    }
}
