//! Every parser of this folder on arbitrary text and on the samples of `fixtures/` broken in
//! the ways a kernel, a sandbox's emulated /proc or a truncated read could break them: each
//! returns a value or an error, never a panic. The case count is bounded so that CI stays fast.

use super::cgroup_layout::parse_layout;
use super::mountinfo::parse_mountinfo;
use super::*;
use proptest::prelude::*;

/// Every sample a parser of this folder is tested on.
const SAMPLES: &[&str] = &[
    "proc/cgroup-hybrid",
    "proc/cgroup-v1-cpu-cpuacct",
    "proc/cgroup-v2",
    "proc/cgroups-guest-hugetlb-disabled",
    "proc/cgroups-hybrid",
    "proc/cmdline-conmon",
    "proc/cmdline-no-v1-named",
    "proc/cmdline-vm",
    "proc/filesystems",
    "proc/mountinfo-devnull-hijack",
    "proc/mountinfo-hybrid",
    "proc/mountinfo-proc-link",
    "proc/mountinfo-readonly-proc",
    "proc/mountinfo-v1-cpu-cpuacct",
    "proc/mountinfo-v2",
    "proc/net-dev",
    "proc/stat-sleeping",
    "proc/stat-zombie",
    "proc/status-host",
    "proc/status-kthread",
    "proc/status-pidns",
    "proc/status-pidns-nested",
    "cgroup/cgroup.controllers-hybrid-unified",
    "cgroup/cgroup.controllers-v2-root",
    "cgroup/cgroup.controllers-v2-session",
    "cgroup/cpu.cfs_period_us",
    "cgroup/cpu.cfs_quota_us-20pct",
    "cgroup/cpu.cfs_quota_us-unlimited",
    "cgroup/cpu.max-20pct",
    "cgroup/cpu.max-unlimited",
    "cgroup/cpu.stat-v1",
    "cgroup/cpu.stat-v1-throttled",
    "cgroup/cpu.stat-v2",
    "cgroup/cpu.stat-v2-no-cpu-controller",
    "cgroup/memory.events-v2-oom",
    "cgroup/memory.oom_control-v1",
    "cgroup/pids.events-refused",
    "etc/subgid",
    "etc/subuid",
];

fn sample(i: usize) -> String {
    let name = SAMPLES[i % SAMPLES.len()];
    isoprobe_fixtures::text(name).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// Pieces that sit at the edges of what the parsers accept: numbers past every integer type,
/// signs, separators, the words the files use.
fn edge_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("18446744073709551616".to_string()),
        Just("-1".to_string()),
        Just("max".to_string()),
        Just(" - ".to_string()),
        Just("\n".to_string()),
        Just(":".to_string()),
        Just("0::/".to_string()),
        Just("cgroup2".to_string()),
        Just("\u{0}".to_string()),
        Just("é".to_string()),
        "[ -~]{0,12}",
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| format!("{n:x}")),
    ]
}

/// One edit of a text, at a position given as a fraction of its length so that it lands
/// anywhere in a sample of any size.
#[derive(Debug, Clone)]
enum Edit {
    Insert(u16, String),
    Delete(u16, u8),
    /// Replaces a whole line.
    Line(u16, String),
    DuplicateLine(u16),
    Truncate(u16),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<u16>(), edge_piece()).prop_map(|(a, p)| Edit::Insert(a, p)),
        (any::<u16>(), any::<u8>()).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<u16>(), edge_piece()).prop_map(|(a, p)| Edit::Line(a, p)),
        any::<u16>().prop_map(Edit::DuplicateLine),
        any::<u16>().prop_map(Edit::Truncate),
    ]
}

/// The byte offset of the char boundary nearest below `at` (a fraction of 65536) of `text`.
fn boundary(text: &str, at: u16) -> usize {
    let mut i = text.len() * usize::from(at) / 65536;
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(mut text: String, edits: &[Edit]) -> String {
    for e in edits {
        match e {
            Edit::Insert(at, piece) => {
                let i = boundary(&text, *at);
                text.insert_str(i, piece);
            }
            Edit::Delete(at, n) => {
                let i = boundary(&text, *at);
                let mut j = (i + usize::from(*n)).min(text.len());
                while !text.is_char_boundary(j) {
                    j -= 1;
                }
                text.replace_range(i..j, "");
            }
            Edit::Line(at, _) | Edit::DuplicateLine(at) if text.lines().count() > 0 => {
                let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
                let n = lines.len() * usize::from(*at) / 65536;
                match e {
                    Edit::Line(..) => lines[n] = piece_of(e),
                    _ => lines.insert(n, lines[n].clone()),
                }
                text = lines.join("\n");
            }
            Edit::Truncate(at) => {
                let i = boundary(&text, *at);
                text.truncate(i);
            }
            _ => {}
        }
    }
    text
}

fn piece_of(e: &Edit) -> String {
    match e {
        Edit::Line(_, p) => p.clone(),
        _ => String::new(),
    }
}

/// Every parser of this folder on `text`; the two-input ones with `other` as the second.
fn every_parser(text: &str, other: &str) {
    let _ = parse_mountinfo(text);
    if let Ok(layout) = parse_layout(text) {
        for c in ["cpu", "memory", "pids", "", other] {
            for found in [
                layout.locate(c, other, Some(other)),
                layout.locate(c, other, None),
                layout.locate(c, text, Some(text)),
            ]
            .into_iter()
            .flatten()
            {
                let _ = found.caller_dir();
            }
        }
    }
    let _ = parse_cpu_max(text);
    let _ = parse_cfs_quota(text, other);
    let _ = parse_cfs_quota(other, text);
    let _ = parse_cpu_stat(text);
    let _ = lists_filesystem(text, other);
    let _ = boot_disables_named_cgroup_v1(text);
    let _ = cmdline_names(text.as_bytes(), other.as_bytes());
    let _ = controller_list(text);
    let _ = sysctl_number(text);
    let _ = flat_keyed_value(text, other);
    let _ = flat_keyed_value(text, "oom_kill");
    let _ = parse_net_dev(text);
    let _ = parse_cap_sets(text);
    let _ = parse_no_new_privs(text);
    let _ = enabled_controllers(text);
    let _ = enabled_kernel_controllers(text);
    let _ = parse_nspid(text);
    let _ = parse_pid_stat(text);
    let _ = proc_pids(text.split_whitespace());
    let _ = mount_points(text);
    let _ = mount_covering(text, other);
    let _ = mount_covering(text, "/proc/sys/kernel/core_pattern");
    let _ = cgroup_path(text, None);
    let _ = cgroup_path(text, Some(other));
    let _ = cgroup_path(text, Some("cpu"));
    for (name, id) in [(other, 0), ("nobody", 65534), (text, u32::MAX)] {
        if let Some(r) = subid_range(text, name, id) {
            assert!(
                r.count > 0 && r.start.checked_add(r.count - 1).is_some(),
                "{r:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}", other in "\\PC{0,40}") {
        every_parser(&text, &other);
    }

    #[test]
    fn arbitrary_lines_of_proc_shape_never_panic(
        lines in proptest::collection::vec(
            proptest::collection::vec(edge_piece(), 0..12).prop_map(|w| w.join(" ")),
            0..12,
        ),
        other in edge_piece(),
    ) {
        every_parser(&lines.join("\n"), &other);
    }

    #[test]
    fn broken_samples_never_panic(
        i in 0usize..SAMPLES.len(),
        j in 0usize..SAMPLES.len(),
        edits in proptest::collection::vec(edit(), 1..6),
    ) {
        let text = apply(sample(i), &edits);
        every_parser(&text, &sample(j));
        every_parser(&sample(j), &text);
    }

    #[test]
    fn caps_outside_the_set_are_never_held(set in any::<u64>(), cap in 64u32..) {
        prop_assert!(!has_cap(set, cap));
    }
}

#[test]
fn the_samples_listed_are_every_sample() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let mut on_disk: Vec<String> = ["proc", "cgroup", "etc"]
        .iter()
        .flat_map(|sub| {
            std::fs::read_dir(dir.join(sub))
                .unwrap()
                .map(move |e| format!("{sub}/{}", e.unwrap().file_name().to_string_lossy()))
        })
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = SAMPLES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        listed, on_disk,
        "a sample without a fuzz case, or one listed twice"
    );
}
