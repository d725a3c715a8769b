//! The merged matrix as text, markdown and JSON. The table is the comparison's
//! (`report::matrix_cell::check_table`) with the kernel matrix's feature rows below it.

use super::{headings, Column};
use crate::report::matrix_cell::{cell, check_ids, check_table, LEGEND};
use crate::report::{feature_rows, single_line, ControlStatus, Report, Table};
use serde_json::{json, Value};

/// A check whose cells are not all the same, with each column's cell and why.
struct Difference {
    id: String,
    /// (column heading, cell, reason) per column.
    columns: Vec<(String, String, String)>,
}

impl Difference {
    /// Columns with the same cell and reason together: (headings, cell, reason), in the order
    /// of their first column.
    fn grouped(&self) -> Vec<(Vec<&str>, &str, &str)> {
        let mut groups: Vec<(Vec<&str>, &str, &str)> = Vec::new();
        for (h, cell, why) in &self.columns {
            match groups.iter_mut().find(|g| g.1 == cell && g.2 == why) {
                Some(g) => g.0.push(h),
                None => groups.push((vec![h], cell, why)),
            }
        }
        groups
    }
}

/// Why `report` shows `id` as it does: the check's reason, and its control's when the control
/// did not show the check can fail.
fn why(report: &Report, id: &str) -> String {
    let Some(c) = report.checks.iter().find(|c| c.id == id) else {
        return "not in this report".into();
    };
    let mut s = single_line(&c.reason).into_owned();
    if let Some(n) = &c.negative_control {
        if n.status != ControlStatus::Detected {
            s += &format!(
                "; control ({}): {}",
                single_line(&n.sabotage),
                single_line(&n.reason)
            );
        }
    }
    s
}

fn differences(columns: &[Column], heads: &[String]) -> Vec<Difference> {
    check_ids(columns.iter().map(|c| &c.report))
        .into_iter()
        .filter_map(|id| {
            let cells: Vec<String> = columns.iter().map(|c| cell(&c.report, &id)).collect();
            if cells.iter().all(|c| c == &cells[0]) {
                return None;
            }
            let per_column = heads
                .iter()
                .zip(cells)
                .zip(columns)
                .map(|((h, cell), c)| (h.clone(), cell, why(&c.report, &id)))
                .collect();
            Some(Difference {
                id,
                columns: per_column,
            })
        })
        .collect()
}

fn table(columns: &[Column], heads: &[String], id_label: impl Fn(&str) -> String) -> Table {
    let pairs: Vec<(String, &Report)> = heads
        .iter()
        .cloned()
        .zip(columns.iter().map(|c| &c.report))
        .collect();
    let mut t = check_table("check", &pairs, id_label);
    for row in features(columns) {
        t.push(row);
    }
    t
}

/// The feature rows, when any report carries an inventory.
fn features(columns: &[Column]) -> Vec<Vec<String>> {
    let inventories: Vec<Option<&Value>> =
        columns.iter().map(|c| c.report.features.as_ref()).collect();
    if inventories.iter().all(Option::is_none) {
        return Vec::new();
    }
    feature_rows::rows(&inventories)
}

fn title(columns: &[Column], common: &[String]) -> String {
    let mut s = format!("isoprobe merge of {} report(s)", columns.len());
    if !common.is_empty() {
        s += &format!(", all on {}", common.join(", "));
    }
    s
}

/// `heading: runtime V, kernel R (cgroup M), isoprobe V, from FILE`.
fn column_line(heading: &str, c: &Column) -> String {
    let r = &c.report;
    format!(
        "{heading}: {} {}, kernel {} (cgroup {}), isoprobe {}, from {}",
        single_line(&r.runtime.name),
        single_line(&r.runtime.version),
        single_line(&r.kernel.release),
        single_line(&r.cgroup_mode),
        single_line(&r.isoprobe_version),
        c.source
    )
}

pub fn render_text(columns: &[Column]) -> String {
    let (heads, common) = headings(columns);
    let mut s = title(columns, &common) + "\n";
    s += &table(columns, &heads, str::to_string).text();
    s += &format!("{LEGEND}\n");
    for (h, c) in heads.iter().zip(columns) {
        s += &column_line(h, c);
        s.push('\n');
    }
    let diffs = differences(columns, &heads);
    if !diffs.is_empty() {
        s += "what differs:\n";
        for d in diffs {
            s += &format!("  {}\n", d.id);
            for (heads, cell, why) in d.grouped() {
                s += &format!("    {}: {cell}: {why}\n", heads.join(", "));
            }
        }
    }
    s
}

pub fn render_markdown(columns: &[Column]) -> String {
    let (heads, common) = headings(columns);
    let cell = |s: &str| s.replace('|', "\\|");
    let heads_md: Vec<String> = heads.iter().map(|h| cell(h)).collect();
    let mut s = format!("{}\n\n", title(columns, &common));
    s += &table(columns, &heads_md, |id| format!("`{id}`")).markdown();
    s += &format!("\n{LEGEND}.\n\n");
    for (h, c) in heads.iter().zip(columns) {
        s += &format!("- {}\n", cell(&column_line(h, c)));
    }
    let diffs = differences(columns, &heads);
    if !diffs.is_empty() {
        s += "\nWhat differs:\n\n";
        for d in diffs {
            s += &format!("- `{}`\n", d.id);
            for (heads, c, why) in d.grouped() {
                s += &format!("  - {}: {}: {}\n", cell(&heads.join(", ")), c, cell(why));
            }
        }
    }
    s
}

pub fn render_json(columns: &[Column]) -> String {
    let (heads, _) = headings(columns);
    let diffs = differences(columns, &heads);
    let cols: Vec<Value> = heads
        .iter()
        .zip(columns)
        .map(|(h, c)| {
            json!({
                "heading": h,
                "machine": c.machine,
                "source": c.source,
                "isoprobe_version": c.report.isoprobe_version,
                "kernel": c.report.kernel,
                "cgroup_mode": c.report.cgroup_mode,
                "runtime": c.report.runtime,
            })
        })
        .collect();
    let checks: Vec<Value> = check_ids(columns.iter().map(|c| &c.report))
        .into_iter()
        .map(|id| {
            let cells: Vec<String> = columns.iter().map(|c| cell(&c.report, &id)).collect();
            let diff = diffs.iter().find(|d| d.id == id);
            let mut row = json!({ "id": id, "cells": cells, "differs": diff.is_some() });
            if let Some(d) = diff {
                row["reasons"] = d.columns.iter().map(|(_, _, why)| why.clone()).collect();
            }
            row
        })
        .collect();
    let features: Vec<Value> = features(columns)
        .into_iter()
        .map(|mut row| {
            let name = row.remove(0);
            json!({ "name": name, "cells": row })
        })
        .collect();
    let out = json!({ "columns": cols, "checks": checks, "features": features });
    // A `Value` has only string keys, so this cannot fail.
    serde_json::to_string_pretty(&out).expect("a JSON value always serializes") + "\n"
}
