//! Reading the files `isoprobe merge` is given: each one a report (`isoprobe run --format
//! json`), a comparison (`isoprobe compare --format json`) or a kernel matrix (`isoprobe matrix
//! --format json`), each report in it becoming a column.

use super::{Column, MergeError};
use crate::compare::Comparison;
use crate::kmatrix::matrix::Matrix;
use crate::report::Report;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One command-line argument: `FILE`, or `MACHINE=FILE` to name the machine it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub machine: String,
    pub path: PathBuf,
}

impl Source {
    /// A path that exists as given is a path even if it holds `=`; otherwise text before the
    /// first `=` names the machine (a machine name has no `/`).
    pub fn parse(arg: &str) -> Source {
        let plain = Source {
            machine: String::new(),
            path: PathBuf::from(arg),
        };
        if Path::new(arg).exists() {
            return plain;
        }
        match arg.split_once('=') {
            Some((machine, path)) if !machine.contains('/') && !path.is_empty() => Source {
                machine: machine.to_string(),
                path: PathBuf::from(path),
            },
            _ => plain,
        }
    }
}

/// The columns of one file, in its order.
pub fn read(source: &Source) -> Result<Vec<Column>, MergeError> {
    let path = &source.path;
    let text = std::fs::read_to_string(path).map_err(|e| MergeError::Unreadable {
        path: path.clone(),
        why: e.to_string(),
    })?;
    let columns = parse(&text, &source.machine, path)?;
    if columns.is_empty() {
        return Err(MergeError::NoReports { path: path.clone() });
    }
    Ok(columns)
}

/// Parses `text` (the content of `path`) into columns of `machine`.
pub fn parse(text: &str, machine: &str, path: &Path) -> Result<Vec<Column>, MergeError> {
    let value: Value = serde_json::from_str(text).map_err(|e| MergeError::NotJson {
        path: path.to_path_buf(),
        why: e.to_string(),
    })?;
    let column = |report: Report, part: Option<String>| Column {
        machine: machine.to_string(),
        source: match part {
            Some(p) => format!("{} ({p})", path.display()),
            None => path.display().to_string(),
        },
        report,
    };
    // Told apart by the one top-level key each kind alone has.
    let kind = ["checks", "reports", "cells"]
        .into_iter()
        .find(|k| value.get(k).is_some());
    let wrong = |kind: &'static str, e: serde_path_to_error::Error<serde_json::Error>| {
        MergeError::WrongSchema {
            path: path.to_path_buf(),
            why: format!("not an isoprobe {kind}: at `{}`: {}", e.path(), e.inner()),
        }
    };
    match kind {
        Some("checks") => {
            let r: Report =
                serde_path_to_error::deserialize(value).map_err(|e| wrong("report", e))?;
            Ok(vec![column(r, None)])
        }
        Some("reports") => {
            let c: Comparison =
                serde_path_to_error::deserialize(value).map_err(|e| wrong("comparison", e))?;
            Ok(c.reports.into_iter().map(|r| column(r, None)).collect())
        }
        Some(_) => {
            let m: Matrix =
                serde_path_to_error::deserialize(value).map_err(|e| wrong("kernel matrix", e))?;
            // A cell that brought no report back has nothing to merge; the kernel matrix's own
            // output says why.
            Ok(m.cells
                .into_iter()
                .filter_map(|c| {
                    let part = format!("cell {}", c.column());
                    c.report.map(|r| column(r, Some(part)))
                })
                .collect())
        }
        None => Err(MergeError::WrongSchema {
            path: path.to_path_buf(),
            why: "not an isoprobe report: it has none of `checks` (a report), `reports` (a \
                  comparison) or `cells` (a kernel matrix)"
                .into(),
        }),
    }
}
