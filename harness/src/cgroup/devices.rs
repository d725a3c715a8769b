//! The container's device cgroup: an `isoprobe-...` cgroup under the caller's own that allows
//! only the standard devices. On v1, in the devices hierarchy: `a` written to `devices.deny`,
//! then one `devices.allow` line per rule. Without a v1 devices hierarchy (a pure v2 host), in
//! the v2 hierarchy with a device program attached ([`super::device_bpf`]). Removed on drop.

use super::device_bpf;
use super::{detect_layout, locate, CgroupError, CgroupVersion};
use crate::record::{self, Item, Noted};
use crate::vocabulary::{HostStepError, PTMX, PTY_SLAVE_MAJOR, STANDARD_DEVICES};
use std::fs;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Char,
    Block,
}

/// A device (or, with `None`, every major or minor) allowed read, write and mknod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRule {
    pub kind: DeviceKind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
}

impl DeviceRule {
    pub fn char(major: u32, minor: Option<u32>) -> DeviceRule {
        DeviceRule {
            kind: DeviceKind::Char,
            major: Some(major),
            minor,
        }
    }

    /// The rule as a v1 `devices.allow` line (`c 1:3 rwm`, `c 136:* rwm`).
    pub fn v1_line(&self) -> String {
        let n = |v: Option<u32>| v.map_or("*".to_string(), |v| v.to_string());
        let kind = match self.kind {
            DeviceKind::Char => 'c',
            DeviceKind::Block => 'b',
        };
        format!("{kind} {}:{} rwm", n(self.major), n(self.minor))
    }
}

/// The standard devices, `/dev/pts/ptmx` and the pty slaves: what runc and crun allow by
/// default, without the `console` and the extras.
pub fn standard_rules() -> Vec<DeviceRule> {
    let mut v: Vec<DeviceRule> = STANDARD_DEVICES
        .iter()
        .map(|d| DeviceRule::char(d.major, Some(d.minor)))
        .collect();
    v.push(DeviceRule::char(PTMX.0, Some(PTMX.1)));
    v.push(DeviceRule::char(PTY_SLAVE_MAJOR, None));
    v
}

/// A device cgroup of ours, removed on drop.
#[derive(Debug)]
pub struct DeviceCgroup {
    path: PathBuf,
    version: CgroupVersion,
    noted: Option<Noted>,
}

impl DeviceCgroup {
    /// Creates the cgroup `name` allowing only `rules`: in the v1 devices hierarchy where
    /// there is one, else on v2.
    pub fn create(name: &str, rules: &[DeviceRule]) -> Result<DeviceCgroup, CgroupError> {
        match locate("devices") {
            Ok(l) if l.version == CgroupVersion::V1 => {
                Self::create_at(l.caller_dir().join(name), CgroupVersion::V1, rules)
            }
            v1 => match v2_caller_dir()? {
                Some(d) => Self::create_at(d.join(name), CgroupVersion::V2, rules),
                None => Err(v1.err().map_or_else(no_devices, CgroupError::from)),
            },
        }
    }

    /// The v2 way even where v1 has a devices hierarchy (a hybrid host runs both checks, so the
    /// program is tried there too).
    pub fn create_v2(name: &str, rules: &[DeviceRule]) -> Result<DeviceCgroup, CgroupError> {
        match v2_caller_dir()? {
            Some(d) => Self::create_at(d.join(name), CgroupVersion::V2, rules),
            None => Err(no_devices()),
        }
    }

    fn create_at(
        dir: PathBuf,
        version: CgroupVersion,
        rules: &[DeviceRule],
    ) -> Result<DeviceCgroup, CgroupError> {
        let noted = record::note(Item::Cgroup { path: dir.clone() });
        if let Err(e) = fs::create_dir(&dir) {
            noted.done();
            return Err(HostStepError::new("mkdir", &dir, e).into());
        }
        let me = DeviceCgroup {
            path: dir,
            version,
            noted: Some(noted),
        };
        match me.version {
            CgroupVersion::V1 => {
                me.write("devices.deny", "a")?;
                for r in rules {
                    me.write("devices.allow", &r.v1_line())?;
                }
            }
            CgroupVersion::V2 => me.attach_program(rules)?,
        }
        Ok(me)
    }

    fn write(&self, file: &str, value: &str) -> Result<(), HostStepError> {
        let p = self.path.join(file);
        fs::write(&p, value).map_err(|e| HostStepError::new("write a device rule to", p, e))
    }

    fn attach_program(&self, rules: &[DeviceRule]) -> Result<(), HostStepError> {
        let bpf_step = |e: device_bpf::BpfError| HostStepError {
            advice: "",
            ..HostStepError::new(
                "restrict devices on",
                &self.path,
                std::io::Error::other(e.to_string()),
            )
        };
        let prog = device_bpf::load(rules).map_err(bpf_step)?;
        let dir: OwnedFd = fs::File::open(&self.path)
            .map_err(|e| HostStepError::new("open", &self.path, e))?
            .into();
        device_bpf::attach(&prog, &dir).map_err(bpf_step)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Its join file, open for the child to join by itself.
    pub fn open_join_file(&self) -> Result<OwnedFd, HostStepError> {
        super::open_join_file(&self.path, &self.version)
    }

    pub fn add_pid(&self, pid: i32) -> Result<(), HostStepError> {
        let procs = self.path.join("cgroup.procs");
        fs::write(&procs, pid.to_string())
            .map_err(|e| HostStepError::new("join the device cgroup", procs, e))
    }
}

fn no_devices() -> CgroupError {
    CgroupError::Host(HostStepError::new(
        "find a devices hierarchy (v1) or a cgroup2 mount (v2) for",
        "/sys/fs/cgroup",
        std::io::Error::from_raw_os_error(libc::ENOENT),
    ))
}

/// The caller's own cgroup in the v2 hierarchy, if one is mounted.
fn v2_caller_dir() -> Result<Option<PathBuf>, CgroupError> {
    let layout = detect_layout()?;
    let own = super::leaf::own_cgroup_text()?;
    Ok(layout.v2_mount.and_then(|m| {
        isoprobe_probes::parse::cgroup_path(&own, None).map(|p| m.join(p.trim_start_matches('/')))
    }))
}

impl Drop for DeviceCgroup {
    fn drop(&mut self) {
        // A cgroup whose last task was just reaped can stay busy for a moment.
        for _ in 0..50 {
            match fs::remove_dir(&self.path) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    eprintln!(
                        "isoprobe: warning: could not remove cgroup {}: {e}",
                        self.path.display()
                    );
                    return;
                }
                _ => {
                    self.noted.take().into_iter().for_each(Noted::done);
                    return;
                }
            }
        }
        eprintln!(
            "isoprobe: warning: cgroup {} stayed busy",
            self.path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// mknod of `number` (a character device) in `dir` by a child in `cg`: its errno, 0 for
    /// success.
    fn mknod_in(cg: &DeviceCgroup, dir: &std::path::Path, number: (u32, u32)) -> i32 {
        let path = std::ffi::CString::new(
            dir.join(format!("n-{}-{}", number.0, number.1))
                .into_os_string()
                .into_encoded_bytes(),
        )
        .unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        // SAFETY: the child only makes system calls, then exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => unsafe {
                let mut b = [0u8; 1];
                libc::read(
                    std::os::fd::AsRawFd::as_raw_fd(&r),
                    b.as_mut_ptr().cast(),
                    1,
                );
                let rc = libc::mknod(
                    path.as_ptr(),
                    libc::S_IFCHR | 0o600,
                    libc::makedev(number.0, number.1),
                );
                libc::_exit(if rc == 0 {
                    0
                } else {
                    *libc::__errno_location()
                })
            },
            nix::unistd::ForkResult::Parent { child } => {
                drop(r);
                cg.add_pid(child.as_raw()).unwrap();
                nix::unistd::write(&w, b"g").unwrap();
                match nix::sys::wait::waitpid(child, None).unwrap() {
                    nix::sys::wait::WaitStatus::Exited(_, code) => code,
                    other => panic!("{other:?}"),
                }
            }
        }
    }

    type Create = fn(&str, &[DeviceRule]) -> Result<DeviceCgroup, CgroupError>;

    #[test]
    #[serial_test::serial(machine)]
    fn both_ways_refuse_what_the_rules_leave_out() {
        crate::require_root!("both_ways_refuse_what_the_rules_leave_out");
        let rules = standard_rules();
        let ways: [(&str, Create); 2] = [
            ("create", DeviceCgroup::create),
            ("v2", DeviceCgroup::create_v2),
        ];
        for (way, create) in ways {
            let dir = tempfile::tempdir().unwrap();
            let name = super::super::unique_name("devtest");
            let cg = match create(&name, &rules) {
                Ok(cg) => cg,
                Err(e) => {
                    crate::testing::skip(
                        "both_ways_refuse_what_the_rules_leave_out",
                        &format!("{way}: {e}"),
                    );
                    continue;
                }
            };
            assert_eq!(
                mknod_in(&cg, dir.path(), (1, 3)),
                0,
                "{way}: null is allowed"
            );
            assert_eq!(
                mknod_in(&cg, dir.path(), (10, 232)),
                libc::EPERM,
                "{way}: kvm is not"
            );
            let path = cg.path().to_path_buf();
            drop(cg);
            assert!(!path.exists(), "{way}: removed on drop");
        }
    }

    #[test]
    fn the_standard_rules_as_v1_lines() {
        let lines: Vec<String> = standard_rules().iter().map(DeviceRule::v1_line).collect();
        assert_eq!(
            lines,
            [
                "c 1:3 rwm",
                "c 1:5 rwm",
                "c 1:7 rwm",
                "c 1:8 rwm",
                "c 1:9 rwm",
                "c 5:0 rwm",
                "c 5:2 rwm",
                "c 136:* rwm"
            ]
        );
    }
}
