//! The two ways a person meets the record: `isoprobe clean`, and the sweep at the start of
//! every run.

use super::{base_dir, begin, sweep, RunRecord};
use crate::error::{exit, HarnessError};

/// `isoprobe clean`: 0 when everything dead runs left is gone, 1 when something could not be
/// removed (it stays recorded for the next try).
pub fn clean_command(json: bool) -> i32 {
    let report = sweep();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else if report.items.is_empty() {
        println!("nothing to clean");
    } else {
        report.items.iter().for_each(|r| println!("{r}"));
    }
    if report.failed() > 0 {
        exit::FAIL
    } else {
        exit::PASS
    }
}

/// What every run does first: clean up after dead runs (one line on stderr when there was
/// something), then record what this one makes.
pub fn start_of_run() -> Result<RunRecord, HarnessError> {
    let swept = sweep();
    if !swept.items.is_empty() {
        let failed = swept.failed();
        let also = if failed > 0 {
            format!(", {failed} could not be removed")
        } else {
            String::new()
        };
        eprintln!(
            "isoprobe: removed {} thing(s) left by runs that died{also}; `isoprobe clean` \
             says what",
            swept.items.len() - failed
        );
    }
    begin().map_err(|e| {
        HarnessError::Setup(format!(
            "cannot keep the record of what this run creates in `{}`: {e}",
            base_dir().display()
        ))
    })
}
