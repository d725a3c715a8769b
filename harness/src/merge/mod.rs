//! `isoprobe merge`: reports from several machines, kernels and runtimes in one matrix. Checks
//! (and features) are rows; each report is a column, headed by what tells it apart (machine,
//! kernel and cgroup mode, runtime); where a row differs between columns, each column's reason
//! is listed under the table.

mod input;
mod render;

pub use input::Source;
pub use render::{render_json, render_markdown, render_text};

use crate::report::Report;
use std::path::PathBuf;

/// One report and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// As named on the command line (`MACHINE=FILE`); empty when not named.
    pub machine: String,
    /// The file (and, for a kernel matrix, the cell) it was read from.
    pub source: String,
    pub report: Report,
}

impl Column {
    /// What a column must differ in from every other: machine, kernel, cgroup mode, runtime.
    fn key(&self) -> (&str, &str, &str, &str) {
        (
            &self.machine,
            &self.report.kernel.release,
            &self.report.cgroup_mode,
            &self.report.runtime.name,
        )
    }

    /// The three parts a heading may show: machine, `kernel (cgroup)`, runtime.
    fn parts(&self) -> [String; 3] {
        [
            self.machine.clone(),
            format!("{} {}", self.report.kernel.release, self.report.cgroup_mode),
            self.report.runtime.name.clone(),
        ]
    }
}

/// Input `isoprobe merge` refuses, before printing anything (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("merge needs at least one report file: isoprobe merge REPORT.json... (each written by `isoprobe run --format json --output FILE`)")]
    NoFiles,
    #[error("`{}`: {why}; give the path of a JSON report (isoprobe run --format json --output FILE)", .path.display())]
    Unreadable { path: PathBuf, why: String },
    #[error("`{}` is not JSON ({why}); give a report written by `isoprobe run --format json`, not the text, TAP or JUnit one", .path.display())]
    NotJson { path: PathBuf, why: String },
    #[error("`{}` is {why}; give a report written by `isoprobe run --format json` (or `compare`/`matrix --format json`)", .path.display())]
    WrongSchema { path: PathBuf, why: String },
    #[error("`{}` holds no report (a kernel matrix whose kernels all failed to report?); leave it out", .path.display())]
    NoReports { path: PathBuf },
    #[error("`{first}` and `{second}` are the same column ({column}); leave one out, or name the machines apart: MACHINE=FILE")]
    DuplicateColumn {
        /// Where the first and the second came from.
        first: String,
        second: String,
        /// Machine, kernel, cgroup mode and runtime, in words.
        column: String,
    },
}

/// The columns of every source, in order; two columns with the same machine, kernel, cgroup
/// mode and runtime are refused (which of them would the matrix show?).
pub fn merge(sources: &[Source]) -> Result<Vec<Column>, MergeError> {
    if sources.is_empty() {
        return Err(MergeError::NoFiles);
    }
    let mut columns: Vec<Column> = Vec::new();
    for s in sources {
        columns.extend(input::read(s)?);
    }
    check_duplicates(&columns)?;
    Ok(columns)
}

pub fn check_duplicates(columns: &[Column]) -> Result<(), MergeError> {
    for (i, a) in columns.iter().enumerate() {
        if let Some(b) = columns[..i].iter().find(|b| b.key() == a.key()) {
            let (machine, kernel, cgroup, runtime) = a.key();
            let machine = match machine {
                "" => "no machine named".to_string(),
                m => format!("machine `{m}`"),
            };
            return Err(MergeError::DuplicateColumn {
                first: b.source.clone(),
                second: a.source.clone(),
                column: format!("{machine}, kernel {kernel}, cgroup {cgroup}, runtime {runtime}"),
            });
        }
    }
    Ok(())
}

/// Each column's heading: only the parts that differ between columns, joined by ` / ` (with a
/// single column, its runtime); and the parts all columns share, for the line above the table.
pub fn headings(columns: &[Column]) -> (Vec<String>, Vec<String>) {
    let parts: Vec<[String; 3]> = columns.iter().map(Column::parts).collect();
    let varies = |i: usize| parts.iter().any(|p| p[i] != parts[0][i]);
    let shown: Vec<usize> = match (0..3).filter(|&i| varies(i)).collect::<Vec<_>>() {
        v if v.is_empty() => vec![2],
        v => v,
    };
    let heads = parts
        .iter()
        .map(|p| {
            shown
                .iter()
                .map(|&i| p[i].as_str())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" / ")
        })
        .collect();
    let names = ["machine", "kernel", "runtime"];
    let common = (0..3)
        .filter(|i| !shown.contains(i))
        .filter(|&i| parts.first().is_some_and(|p| !p[i].is_empty()))
        .map(|i| format!("{} {}", names[i], parts[0][i]))
        .collect();
    (heads, common)
}

#[cfg(test)]
mod tests;
