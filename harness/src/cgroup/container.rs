//! The container's own cgroups: one `isoprobe-...` directory under the caller's cgroup in each
//! hierarchy a limit needs (one in all on v2), limits written, the child added, statistics read
//! after it exits, and every directory removed on drop.

use super::{locate, CgroupError, CgroupVersion, ControllerLocation};
use crate::backoff::{Backoff, Budget};
use crate::record::{self, Item, Noted};
use crate::vocabulary::{CgroupLimits, CgroupSample, HostStepError, StatError};
use isoprobe_probes::parse::{flat_keyed_value, parse_cpu_stat};
use std::fs;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// How long a just-emptied cgroup may stay busy: about a second in all.
const RMDIR_BUSY: Backoff = Backoff::doubling(Duration::from_millis(1), Duration::from_millis(200));

#[derive(Debug)]
struct CgroupDir {
    path: PathBuf,
    version: CgroupVersion,
    controllers: Vec<&'static str>,
}

/// All the cgroups of one container, removed on drop.
#[derive(Debug)]
pub struct ContainerCgroups {
    groups: Vec<CgroupDir>,
    limits: CgroupLimits,
    /// Each group's entry in the run's record, in the order of `groups`.
    noted: Vec<Option<Noted>>,
}

impl ContainerCgroups {
    /// Creates the cgroups named `name` and writes the limits. Fails when a needed controller
    /// is not available to us, or a step on the new cgroups fails (no cgroup is left behind
    /// then).
    pub fn create(name: &str, limits: CgroupLimits) -> Result<ContainerCgroups, CgroupError> {
        let dirs = dirs_for(name, limits)?;
        let mut me = ContainerCgroups {
            groups: Vec::new(),
            limits,
            noted: Vec::new(),
        };
        for dir in dirs {
            let noted = record::note(Item::Cgroup {
                path: dir.path.clone(),
            });
            if let Err(e) = fs::create_dir(&dir.path) {
                noted.done();
                return Err(HostStepError::new("mkdir", &dir.path, e).into());
            }
            me.groups.push(dir);
            me.noted.push(Some(noted));
        }
        me.apply_limits()?;
        Ok(me)
    }

    fn group(&self, controller: &str) -> Option<&CgroupDir> {
        self.groups
            .iter()
            .find(|g| g.controllers.contains(&controller))
    }

    fn apply_limits(&self) -> Result<(), HostStepError> {
        let l = self.limits;
        if let (Some(q), Some(g)) = (l.cpu_quota, self.group("cpu")) {
            match g.version {
                CgroupVersion::V1 => {
                    // The period first: a quota larger than the old period would be refused.
                    g.write("cpu.cfs_period_us", &q.period_us.to_string())?;
                    g.write("cpu.cfs_quota_us", &q.quota_us.to_string())?;
                }
                CgroupVersion::V2 => {
                    g.write("cpu.max", &format!("{} {}", q.quota_us, q.period_us))?
                }
            }
        }
        if let (Some(n), Some(g)) = (l.pids_max, self.group("pids")) {
            g.write("pids.max", &n.to_string())?;
        }
        if let (Some(b), Some(g)) = (l.memory_max, self.group("memory")) {
            match g.version {
                CgroupVersion::V1 => g.write("memory.limit_in_bytes", &b.to_string())?,
                CgroupVersion::V2 => {
                    g.write("memory.max", &b.to_string())?;
                    // Without swap off the limit, v2 would page out instead of killing.
                    let _ = g.write("memory.swap.max", "0");
                }
            }
        }
        Ok(())
    }

    pub fn paths(&self) -> Vec<PathBuf> {
        self.groups.iter().map(|g| g.path.clone()).collect()
    }

    /// The one directory, when all the container's cgroups are one cgroup v2 directory: a
    /// child can then be created inside it (`clone3` with `CLONE_INTO_CGROUP`).
    pub fn single_v2_dir(&self) -> Option<&std::path::Path> {
        match self.groups.as_slice() {
            [g] if g.version == CgroupVersion::V2 => Some(&g.path),
            _ => None,
        }
    }

    /// Each group's join file, open for the child to join by itself.
    pub fn open_join_files(&self) -> Result<Vec<std::os::fd::OwnedFd>, HostStepError> {
        self.groups
            .iter()
            .map(|g| super::open_join_file(&g.path, &g.version))
            .collect()
    }

    pub fn sample(&self) -> CgroupSample {
        sample_dirs(&self.groups, self.limits)
    }
}

/// The controllers a container with `limits` is placed in: cpu always (its usage is sampled),
/// pids and memory when those limits are set.
fn controllers_for(limits: CgroupLimits) -> Vec<&'static str> {
    let mut needed = vec!["cpu"];
    if limits.pids_max.is_some() {
        needed.push("pids");
    }
    if limits.memory_max.is_some() {
        needed.push("memory");
    }
    needed
}

/// Where the cgroups named `name` of a container with `limits` are (or go): under the caller's
/// own cgroup in the cpu hierarchy, and in the pids and memory ones when those limits are set.
/// A runtime given the relative cgroups path `name` puts the container there too.
fn dirs_for(name: &str, limits: CgroupLimits) -> Result<Vec<CgroupDir>, CgroupError> {
    let needed = controllers_for(limits);
    let mut dirs: Vec<CgroupDir> = Vec::new();
    for c in needed {
        let loc: ControllerLocation = locate(c)?;
        let path = loc.caller_dir().join(name);
        place(&mut dirs, path, &loc.version, c);
    }
    Ok(dirs)
}

/// Adds controller `c` at `path`: on v2 (or co-mounted v1 controllers) one directory serves
/// several controllers.
fn place(dirs: &mut Vec<CgroupDir>, path: PathBuf, version: &CgroupVersion, c: &'static str) {
    match dirs.iter_mut().find(|d| d.path == path) {
        Some(d) => d.controllers.push(c),
        None => dirs.push(CgroupDir {
            path,
            version: version.clone(),
            controllers: vec![c],
        }),
    }
}

/// Reads the statistics of the cgroups a process is in, from its `/proc/<pid>/cgroup` lines
/// as the host read them (an engine's container: where it is, read rather than computed).
pub fn sample_cgroups_of(
    lines: &[String],
    limits: CgroupLimits,
) -> Result<CgroupSample, CgroupError> {
    let text = lines.join("\n");
    let needed = controllers_for(limits);
    let mut dirs: Vec<CgroupDir> = Vec::new();
    let mut cpuacct = None;
    for c in needed.iter().copied().chain(["cpuacct"]) {
        let Ok(loc) = locate(c) else {
            // Only cpuacct is optional (cgroup v2 has none).
            if c == "cpuacct" {
                continue;
            }
            return Err(locate(c).unwrap_err());
        };
        let controller = (loc.version == CgroupVersion::V1).then_some(c);
        let Some(at) = isoprobe_probes::parse::cgroup_path(&text, controller) else {
            continue;
        };
        let path = loc.mount_point.join(at.trim_start_matches('/'));
        if c == "cpuacct" {
            cpuacct = (loc.version == CgroupVersion::V1).then_some(path);
            continue;
        }
        place(&mut dirs, path, &loc.version, c);
    }
    let mut sample = sample_dirs(&dirs, limits);
    if dirs.iter().any(|d| d.version == CgroupVersion::V1) {
        sample.cpu_usage_usec = cpuacct
            .and_then(|p| fs::read_to_string(p.join("cpuacct.usage")).ok())
            .and_then(|t| t.trim().parse::<u64>().ok())
            .map(|ns| ns / 1000);
    }
    Ok(sample)
}

/// Reads the statistics of cgroups a runtime made from the relative cgroups path `name`
/// (before the runtime removes them).
pub fn sample_runtime_cgroups(
    name: &str,
    limits: CgroupLimits,
) -> Result<CgroupSample, CgroupError> {
    let dirs = dirs_for(name, limits)?;
    let mut sample = sample_dirs(&dirs, limits);
    let cpu_on_v1 = dirs
        .iter()
        .any(|d| d.controllers.contains(&"cpu") && d.version == CgroupVersion::V1);
    if cpu_on_v1 {
        sample.cpu_usage_usec = locate("cpuacct")
            .ok()
            .filter(|l| l.version == CgroupVersion::V1)
            .and_then(|l| fs::read_to_string(l.caller_dir().join(name).join("cpuacct.usage")).ok())
            .and_then(|t| t.trim().parse::<u64>().ok())
            .map(|ns| ns / 1000);
    }
    Ok(sample)
}

fn sample_dirs(groups: &[CgroupDir], limits: CgroupLimits) -> CgroupSample {
    let group = |c: &str| groups.iter().find(|g| g.controllers.contains(&c));
    let cpu_stat = match group("cpu") {
        Some(g) => g.stat_text("cpu.stat").and_then(|t| {
            parse_cpu_stat(&t).map_err(|e| StatError::Parse {
                path: g.path.join("cpu.stat"),
                reason: e.to_string(),
            })
        }),
        None => Err(StatError::NoCgroup("cpu")),
    };
    let keyed = |controller: &str, file: &'static str, key: &'static str| {
        group(controller).map(|g| {
            g.stat_text(file).and_then(|t| {
                flat_keyed_value(&t, key)
                    .map_err(|e| StatError::Malformed {
                        reason: e.to_string(),
                    })?
                    .ok_or_else(|| StatError::NoKey {
                        dir: g.path.clone(),
                        file,
                        key,
                    })
            })
        })
    };
    let oom_file = match group("memory").map(|g| &g.version) {
        Some(CgroupVersion::V2) => "memory.events",
        _ => "memory.oom_control",
    };
    CgroupSample {
        paths: groups.iter().map(|g| g.path.clone()).collect(),
        limits,
        cpu_stat,
        pids_refused: limits.pids_max.and(keyed("pids", "pids.events", "max")),
        oom_kills: limits.memory_max.and(keyed("memory", oom_file, "oom_kill")),
        cpu_usage_usec: None,
    }
}

impl CgroupDir {
    fn write(&self, file: &str, value: &str) -> Result<(), HostStepError> {
        let p = self.path.join(file);
        fs::write(&p, value).map_err(|e| HostStepError::new("write a limit to", p, e))
    }

    fn stat_text(&self, file: &str) -> Result<String, StatError> {
        let path = self.path.join(file);
        fs::read_to_string(&path).map_err(|e| StatError::Read {
            path,
            reason: e.to_string(),
        })
    }

    /// A cgroup whose last task was just reaped can still be busy for a moment, so EBUSY is
    /// retried for a while.
    fn remove(&self) -> Result<(), HostStepError> {
        let removed = RMDIR_BUSY.retry(Budget::Tries(12), || match fs::remove_dir(&self.path) {
            Ok(()) => Some(Ok(())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Some(Ok(())),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => None,
            Err(e) => Some(Err(e)),
        });
        removed
            .unwrap_or_else(|| Err(io::Error::from_raw_os_error(libc::EBUSY)))
            .map_err(|e| HostStepError::new("rmdir", &self.path, e))
    }
}

impl Drop for ContainerCgroups {
    fn drop(&mut self) {
        for (g, noted) in self.groups.iter().zip(self.noted.iter_mut()) {
            match g.remove() {
                Ok(()) => noted.take().into_iter().for_each(Noted::done),
                Err(e) => eprintln!("isoprobe: warning: could not remove cgroup: {e}"),
            }
        }
    }
}
