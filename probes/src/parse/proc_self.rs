//! Small readings of `/proc/<pid>/...` files: NSpid, the pid listing, mount points, cgroups.

use super::mountinfo::parse_mountinfo;
use super::ParseError;
use procfs_core::FromRead;
use procfs_core::ProcessCGroups;

/// The NSpid line of /proc/<pid>/status: the pid in each nested pid namespace, outermost first,
/// starting at the pid namespace of the procfs mount that was read (so a container's own /proc
/// shows only the inner part). The line exists since Linux 4.1: `None` on older kernels.
///
/// Scans for the one line instead of using `procfs_core::process::Status`, which insists on
/// some twenty unrelated fields (Uid, SigQ, FDSize...): a sandbox whose emulated status file
/// lacks one of them would lose this observation over a field nobody asked for.
pub fn parse_nspid(status: &str) -> Result<Option<Vec<i32>>, ParseError> {
    let mut saw_pid = false;
    for line in status.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key {
            "NSpid" => {
                let pids = value
                    .split_whitespace()
                    .map(|v| {
                        v.parse::<i32>().ok().filter(|p| *p > 0).ok_or_else(|| {
                            ParseError::new(format!("status NSpid: {v:?} is not a pid in {line:?}"))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if pids.is_empty() {
                    return Err(ParseError::new("status NSpid line holds no pid"));
                }
                return Ok(Some(pids));
            }
            "Pid" => saw_pid = true,
            _ => {}
        }
    }
    // Without this check any text at all would pass for the status of a pre-4.1 kernel.
    if saw_pid {
        Ok(None)
    } else {
        Err(ParseError::new(
            "not a /proc/<pid>/status text: it has neither an NSpid nor a Pid line",
        ))
    }
}

/// The numeric entry names of a /proc listing (the pids), sorted.
pub fn proc_pids<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<i32> {
    let mut pids: Vec<i32> = names
        .into_iter()
        // `str::parse` would also take "+1"; /proc names a pid with digits only.
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|n| n.parse().ok())
        .filter(|p| *p > 0)
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Mount points of a mountinfo text, in order, with the kernel's `\040`-style escapes undone.
pub fn mount_points(mountinfo: &str) -> Result<Vec<String>, ParseError> {
    Ok(parse_mountinfo(mountinfo)?
        .into_iter()
        .map(|m| m.mount_point.to_string_lossy().into_owned())
        .collect())
}

/// The cgroup path of `/proc/self/cgroup` text for a v1 controller ("cpu", or a named
/// hierarchy as "name=systemd") or for v2 (controller `None` -> the `0::` line).
///
/// A line that does not parse is skipped rather than failing the whole answer: one odd
/// hierarchy should not hide the path in another.
pub fn cgroup_path(proc_self_cgroup: &str, controller: Option<&str>) -> Option<String> {
    proc_self_cgroup
        .lines()
        .filter(|l| !l.trim().is_empty())
        // procfs-core parses whole files only; feeding it one line at a time is what lets a
        // bad line be skipped.
        .filter_map(|l| ProcessCGroups::from_read(l.as_bytes()).ok())
        .flat_map(|g| g.0)
        .find(|g| match controller {
            None => g.hierarchy == 0 && g.controllers.is_empty(),
            Some(c) => g.hierarchy != 0 && g.controllers.iter().any(|x| x == c),
        })
        .map(|g| g.pathname)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::host(include_str!("../../../fixtures/proc/status-host"), vec![3604])]
    #[case::one_pid_namespace(include_str!("../../../fixtures/proc/status-pidns"), vec![3644, 1])]
    #[case::two_pid_namespaces(
        include_str!("../../../fixtures/proc/status-pidns-nested"),
        vec![3637, 3, 1]
    )]
    fn nspid_of_real_samples(#[case] status: &str, #[case] want: Vec<i32>) {
        assert_eq!(parse_nspid(status).unwrap(), Some(want));
    }

    #[test]
    fn nspid_is_none_before_linux_4_1() {
        let old = "Name:\tbash\nState:\tS (sleeping)\nTgid:\t42\nPid:\t42\nPPid:\t1\n";
        assert_eq!(parse_nspid(old).unwrap(), None);
    }

    #[rstest]
    #[case::not_a_number("Pid:\t7\nNSpid:\t7\tx\n", "\"x\"")]
    #[case::negative("NSpid:\t-7\n", "\"-7\"")]
    #[case::empty_line("Pid:\t7\nNSpid:\t\n", "no pid")]
    #[case::garbage("hello\nworld", "not a /proc/<pid>/status")]
    #[case::empty("", "not a /proc/<pid>/status")]
    fn nspid_errors(#[case] status: &str, #[case] needle: &str) {
        let e = parse_nspid(status).unwrap_err();
        assert!(e.to_string().contains(needle), "{e}");
    }

    #[test]
    fn proc_pids_keeps_only_pids_sorted() {
        let names = [
            "self",
            "1",
            "thread-self",
            "42",
            "7",
            "sys",
            "+3",
            "-4",
            "0",
            "",
            "99999999999",
            "7",
        ];
        assert_eq!(proc_pids(names), vec![1, 7, 42]);
        assert!(proc_pids([]).is_empty());
    }

    #[test]
    fn mount_points_of_the_hybrid_sample() {
        let m = mount_points(include_str!("../../../fixtures/proc/mountinfo-hybrid")).unwrap();
        assert_eq!(m.first().map(String::as_str), Some("/proc"));
        assert_eq!(m.last().map(String::as_str), Some("/sys/fs/cgroup/unified"));
        assert_eq!(m.iter().filter(|p| *p == "/dev/pts").count(), 2);
    }

    #[test]
    fn mount_points_unescape_spaces() {
        let m = mount_points(include_str!("../../../fixtures/proc/mountinfo-v2")).unwrap();
        assert_eq!(m.last().map(String::as_str), Some("/media/alice/USB DISK"));
        assert!(m.contains(&"/sys/fs/cgroup".to_string()));
    }

    #[test]
    fn mount_points_reject_garbage() {
        let e = mount_points("22 27 0:21 / /proc rw - proc proc rw\nnot mountinfo\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[rstest]
    #[case::hybrid_cpu(include_str!("../../../fixtures/proc/cgroup-hybrid"), Some("cpu"), Some("/"))]
    #[case::hybrid_memory(
        include_str!("../../../fixtures/proc/cgroup-hybrid"),
        Some("memory"),
        Some("/process_api/0a9acd32a6ea182cb6cfe06030b8d6cc")
    )]
    #[case::hybrid_v2(include_str!("../../../fixtures/proc/cgroup-hybrid"), None, Some("/"))]
    #[case::hybrid_named(
        include_str!("../../../fixtures/proc/cgroup-hybrid"),
        Some("name=systemd"),
        Some("/")
    )]
    #[case::hybrid_no_rdma(include_str!("../../../fixtures/proc/cgroup-hybrid"), Some("rdma"), None)]
    #[case::v2(
        include_str!("../../../fixtures/proc/cgroup-v2"),
        None,
        Some("/user.slice/user-1000.slice/session-3.scope")
    )]
    #[case::v2_has_no_v1_cpu(include_str!("../../../fixtures/proc/cgroup-v2"), Some("cpu"), None)]
    #[case::v1_co_mounted_cpuacct(
        include_str!("../../../fixtures/proc/cgroup-v1-cpu-cpuacct"),
        Some("cpuacct"),
        Some("/user.slice")
    )]
    #[case::v1_has_no_zero_line(include_str!("../../../fixtures/proc/cgroup-v1-cpu-cpuacct"), None, None)]
    #[case::bad_line_skipped("x:cpu:/a\n\n3:cpu:/b\n", Some("cpu"), Some("/b"))]
    #[case::path_with_colon("0::/a:b\n", None, Some("/a:b"))]
    #[case::prefix_is_not_a_match("3:cpuacct:/a\n", Some("cpu"), None)]
    #[case::garbage("garbage", None, None)]
    fn cgroup_paths(
        #[case] text: &str,
        #[case] controller: Option<&str>,
        #[case] want: Option<&str>,
    ) {
        assert_eq!(cgroup_path(text, controller).as_deref(), want);
    }
}
