//! A cgroup of our own in the cpu hierarchy, removed when dropped.

use super::{CgroupVersion, ControllerLocation};
use crate::spawner::CpuQuota;
use isoprobe_probes::parse::{parse_cpu_stat, CpuStat};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug)]
pub struct CpuCgroup {
    path: PathBuf,
    version: CgroupVersion,
}

impl CpuCgroup {
    /// Creates `<caller's cgroup>/<name>` in the hierarchy of `loc`.
    pub fn create(loc: &ControllerLocation, name: &str) -> io::Result<CpuCgroup> {
        let path = loc.caller_dir().join(name);
        fs::create_dir(&path).map_err(|e| with_path(e, "mkdir", &path))?;
        Ok(CpuCgroup {
            path,
            version: loc.version.clone(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn set_quota(&self, q: CpuQuota) -> io::Result<()> {
        match self.version {
            CgroupVersion::V1 => {
                // The period first: a quota larger than the old period would be refused.
                self.write("cpu.cfs_period_us", &q.period_us.to_string())?;
                self.write("cpu.cfs_quota_us", &q.quota_us.to_string())
            }
            CgroupVersion::V2 => self.write("cpu.max", &format!("{} {}", q.quota_us, q.period_us)),
        }
    }

    pub fn add_pid(&self, pid: i32) -> io::Result<()> {
        self.write("cgroup.procs", &pid.to_string())
    }

    pub fn stat(&self) -> io::Result<CpuStat> {
        let p = self.path.join("cpu.stat");
        let text = fs::read_to_string(&p).map_err(|e| with_path(e, "read", &p))?;
        parse_cpu_stat(&text).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", p.display()))
        })
    }

    fn write(&self, file: &str, value: &str) -> io::Result<()> {
        let p = self.path.join(file);
        fs::write(&p, value).map_err(|e| with_path(e, &format!("write `{value}` to"), &p))
    }

    /// Removes the cgroup. A cgroup whose last task was just reaped can still be busy for a
    /// moment, so EBUSY is retried for a while.
    pub fn remove(&mut self) -> io::Result<()> {
        let mut delay = Duration::from_millis(1);
        for _ in 0..12 {
            match fs::remove_dir(&self.path) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_millis(200));
                }
                Err(e) => return Err(with_path(e, "rmdir", &self.path)),
            }
        }
        Err(with_path(
            io::Error::from_raw_os_error(libc::EBUSY),
            "rmdir",
            &self.path,
        ))
    }
}

impl Drop for CpuCgroup {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            eprintln!("isoprobe: warning: could not remove cgroup: {e}");
        }
    }
}

fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}
