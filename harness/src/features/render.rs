//! `isoprobe features` as text: one line per item, each tried feature with how it was tried.

use super::Features;
use crate::report::{single_line, Table};
use std::fmt::Write as _;

/// The controller a cgroup2 file belongs to, `None` for core files (present in every non-root
/// cgroup, whatever is delegated).
pub(crate) fn controller_of(file: &str) -> Option<&str> {
    if file.starts_with("cgroup.") || matches!(file, "cpu.stat" | "cpu.stat.local") {
        return None;
    }
    file.split('.').next()
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(",")
    }
}

pub fn render_text(f: &Features) -> String {
    let mut out = String::new();
    let ns: Vec<String> = f
        .namespaces
        .iter()
        .map(|(t, present)| format!("{t} {}", yes_no(*present)))
        .collect();
    let _ = writeln!(out, "namespaces: {}", ns.join(", "));
    let max: Vec<String> = f
        .max_namespaces
        .iter()
        .map(|(t, n)| match n {
            Some(n) => format!("{t} {n}"),
            None => format!("{t} -"),
        })
        .collect();
    let _ = writeln!(out, "max namespaces: {}", max.join(", "));

    let c = &f.cgroup;
    let _ = writeln!(out, "cgroup: {}", single_line(&c.mode));
    let _ = writeln!(out, "  kernel controllers: {}", list(&c.kernel_controllers));
    let _ = writeln!(out, "  v1 controllers: {}", list(&c.v1_controllers));
    let _ = writeln!(out, "  v2 controllers: {}", list(&c.v2_controllers));
    match &c.v2_files_skipped {
        Some(why) => {
            let _ = writeln!(out, "  v2 files: not probed ({})", single_line(why));
        }
        None => {
            let _ = writeln!(
                out,
                "  controllers enabled for the probe cgroup: {}",
                list(&c.v2_probe_controllers)
            );
            let files: Vec<String> = c
                .v2_files
                .iter()
                .map(|(name, present)| {
                    let delegated = controller_of(name)
                        .is_none_or(|ctl| c.v2_probe_controllers.iter().any(|p| p == ctl));
                    let word = match (present, delegated) {
                        (true, _) => "yes",
                        (false, true) => "no",
                        (false, false) => "not delegated",
                    };
                    format!("{name} {word}")
                })
                .collect();
            let _ = writeln!(out, "  v2 files: {}", files.join(", "));
        }
    }

    // "yes" stays three wide even when every entry is "no", so the `how` column never moves.
    let mut syscalls = Table::without_head().min_width(1, 3);
    for (name, e) in f.syscalls.entries() {
        syscalls.push([
            name.to_string(),
            yes_no(e.available).to_string(),
            single_line(&e.how).into_owned(),
        ]);
    }
    out.push_str(&syscalls.text());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_files_have_no_controller() {
        assert_eq!(controller_of("cgroup.kill"), None);
        assert_eq!(controller_of("cpu.stat.local"), None);
        assert_eq!(controller_of("cpu.max.burst"), Some("cpu"));
        assert_eq!(controller_of("memory.zswap.max"), Some("memory"));
        assert_eq!(controller_of("pids.events.local"), Some("pids"));
    }
}
