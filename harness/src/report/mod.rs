//! The report and its renderings. The JSON rendering is the stable interface (its shape is
//! `harness/schema/report.schema.json`); text, TAP and JUnit are views of the same data for people
//! and CI systems.

pub mod feature_rows;
pub mod junit;
pub mod matrix_cell;
pub mod model;
pub mod table;
pub mod tap;
pub mod text;

#[cfg(test)]
pub(crate) mod sample;

pub use matrix_cell::{cell, check_ids};
pub use model::*;
pub use table::Table;

use std::borrow::Cow;

/// How `isoprobe` writes its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per check, for a person at a terminal.
    Text,
    /// The full report, as documented by `schema/report.schema.json`.
    Json,
    /// TAP version 13, one test point per check and per negative control.
    Tap,
    /// JUnit XML, for CI systems that show test results.
    Junit,
}

/// Renders `report` in `format`; `color` only affects `Format::Text`. The result ends with a
/// newline.
pub fn render(report: &Report, format: Format, color: bool) -> String {
    match format {
        Format::Text => text::render_text(report, color),
        Format::Json => {
            // Every map key in the model is a string, so serialization has no way to fail.
            let mut out = serde_json::to_string_pretty(report).expect("a Report always serializes");
            out.push('\n');
            out
        }
        Format::Tap => tap::render_tap(report),
        Format::Junit => junit::render_junit(report),
    }
}

/// Reasons and sabotage descriptions come partly from what a probe saw inside the container, so
/// they may hold newlines or terminal escapes. Line-oriented formats must not let those break a
/// line or restyle the reader's terminal: whitespace breaks become spaces and other control
/// characters are shown escaped.
pub(crate) fn single_line(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => out.extend(c.escape_debug()),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// What ran where: `isoprobe V, kernel R, cgroup M, runtime N V` (and `, rootless (...)` for a
/// rootless run), the first line of the text and TAP renderings.
pub(crate) fn run_line(report: &Report) -> String {
    let rootless = report
        .rootless
        .as_ref()
        .map(|r| format!(", {}", r.describe()))
        .unwrap_or_default();
    format!(
        "isoprobe {}, kernel {}, cgroup {}, runtime {} {}{}",
        single_line(&report.isoprobe_version),
        single_line(&report.kernel.release),
        single_line(&report.cgroup_mode),
        single_line(&report.runtime.name),
        single_line(&report.runtime.version),
        single_line(&rootless),
    )
}

/// Compact JSON for `expected`/`observed` in diagnostics.
pub(crate) fn compact_json(value: &serde_json::Value) -> String {
    // A `Value` has only string keys, so this cannot fail.
    serde_json::to_string(value).expect("a JSON value always serializes")
}

/// Counts of negative controls by outcome, over the controls that ran.
/// What a negative control must show, as TAP and JUnit state it: a control counts only when
/// its judge found the property it sabotaged broken.
pub(crate) const CONTROL_EXPECTED: &str = "the sabotaged property is found violated";

pub(crate) fn control_counts(report: &Report) -> (usize, usize, usize) {
    let detected = report
        .checks
        .iter()
        .filter_map(|c| c.negative_control.as_ref())
        .filter(|n| n.status == ControlStatus::Detected)
        .count();
    (
        detected,
        report.missed_controls(),
        report.skipped_controls(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const SCHEMA: &str = include_str!("../../schema/report.schema.json");

    fn validator() -> jsonschema::Validator {
        let schema: Value = serde_json::from_str(SCHEMA).expect("schema is JSON");
        jsonschema::validator_for(&schema).expect("schema compiles")
    }

    fn sample_json() -> Value {
        let rendered = render(&sample::report(), Format::Json, false);
        serde_json::from_str(&rendered).expect("JSON rendering parses")
    }

    fn errors(instance: &Value) -> Vec<String> {
        validator()
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect()
    }

    #[test]
    fn schema_is_a_valid_2020_12_schema() {
        let schema: Value = serde_json::from_str(SCHEMA).unwrap();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        if let Err(e) = jsonschema::meta::validate(&schema) {
            panic!(
                "schema does not match its meta-schema: {e} at {}",
                e.instance_path
            );
        }
    }

    #[test]
    fn json_rendering_of_sample_matches_schema() {
        let instance = sample_json();
        assert_eq!(errors(&instance), Vec::<String>::new());
    }

    #[test]
    fn json_rendering_round_trips_and_ends_with_newline() {
        let rendered = render(&sample::report(), Format::Json, false);
        assert!(rendered.ends_with("}\n"));
        let back: Report = serde_json::from_str(&rendered).unwrap();
        assert_eq!(back, sample::report());
    }

    fn rootless_sample() -> Report {
        Report {
            rootless: Some(Rootless {
                uid: 65534,
                gid: 65534,
                mapping: "single".into(),
                uid_map: "0 65534 1".into(),
                gid_map: "0 65534 1".into(),
                uids_inside: 1,
                gids_inside: 1,
            }),
            ..sample::report()
        }
    }

    #[test]
    fn a_rootless_run_says_so_in_every_format_and_matches_the_schema() {
        let r = rootless_sample();
        let marker = "rootless (uid 65534, single mapping 0 65534 1)";
        for format in [Format::Text, Format::Tap, Format::Junit] {
            let out = render(&r, format, false);
            assert!(out.contains(marker), "{format:?}: {out}");
        }
        assert!(render(&r, Format::Junit, false).contains("name=\"rootless\""));
        let json: Value = serde_json::from_str(&render(&r, Format::Json, false)).unwrap();
        assert_eq!(json["rootless"]["mapping"], "single");
        assert_eq!(errors(&json), Vec::<String>::new());
        // A run as root says nothing of it.
        assert!(sample_json().get("rootless").is_none());
        assert!(!render(&sample::report(), Format::Text, false).contains("rootless"));
        let mut bad = json;
        bad["rootless"]["mapping"] = json!("some");
        assert!(!validator().is_valid(&bad));
    }

    #[test]
    fn schema_rejects_missing_summary() {
        let mut instance = sample_json();
        instance.as_object_mut().unwrap().remove("summary");
        assert!(!validator().is_valid(&instance));
    }

    #[test]
    fn schema_rejects_unknown_status() {
        let mut instance = sample_json();
        instance["checks"][0]["status"] = json!("maybe");
        assert!(!validator().is_valid(&instance));
    }

    #[test]
    fn schema_rejects_unknown_control_status_and_cgroup_mode() {
        let mut instance = sample_json();
        instance["checks"][0]["negative_control"]["status"] = json!("pass");
        assert!(!validator().is_valid(&instance));

        let mut instance = sample_json();
        instance["cgroup_mode"] = json!("v3");
        assert!(!validator().is_valid(&instance));
    }

    #[test]
    fn schema_rejects_negative_duration_and_extra_check_fields() {
        let mut instance = sample_json();
        instance["checks"][0]["duration_ms"] = json!(-1);
        assert!(!validator().is_valid(&instance));

        let mut instance = sample_json();
        instance["checks"][0]["stdout"] = json!("");
        assert!(!validator().is_valid(&instance));
    }

    #[test]
    fn schema_accepts_new_top_level_sections_and_any_observed_value() {
        let mut instance = sample_json();
        instance["features"] = json!({"seccomp": true});
        instance["checks"][0]["observed"] = json!([null, 1.5, "x", {"nested": [true]}]);
        assert_eq!(errors(&instance), Vec::<String>::new());
    }

    #[test]
    fn single_line_flattens_breaks_and_escapes_controls() {
        assert!(matches!(single_line("plain"), Cow::Borrowed("plain")));
        assert_eq!(single_line("a\r\nb\nc\td"), "a b c d");
        assert_eq!(single_line("red \x1b[31m"), "red \\u{1b}[31m");
    }

    #[test]
    fn an_inconclusive_check_and_control_match_the_schema_and_round_trip() {
        let report = sample::report_with_inconclusive();
        let rendered = render(&report, Format::Json, false);
        let instance: Value = serde_json::from_str(&rendered).unwrap();
        assert_eq!(errors(&instance), Vec::<String>::new());
        assert_eq!(instance["checks"][5]["status"], "fail");
        assert_eq!(
            instance["checks"][5]["negative_control"]["status"],
            "inconclusive"
        );
        let back: Report = serde_json::from_str(&rendered).unwrap();
        assert_eq!(back, report);
    }
}
