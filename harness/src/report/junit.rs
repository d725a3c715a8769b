//! JUnit XML, the format CI systems show as test results. Each check is a `<testcase>`, and each
//! negative control that ran is one too, so a control that missed shows up as a failure.

use std::borrow::Cow;
use std::io;

use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;

use super::model::{CheckResult, ControlResult, ControlStatus, Report, Status};
use super::{compact_json, single_line, CONTROL_EXPECTED};

/// Renders `report` as a JUnit XML document with one `<testsuite>`.
pub fn render_junit(report: &Report) -> String {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    write_document(&mut writer, report).expect("writing XML into a Vec cannot fail");
    let mut out = String::from_utf8(writer.into_inner()).expect("all written text was UTF-8");
    out.push('\n');
    out
}

enum Outcome<'a> {
    Passed,
    Failed { message: String, body: String },
    Skipped { message: &'a str },
}

struct Case<'a> {
    name: Cow<'a, str>,
    duration_ms: u64,
    outcome: Outcome<'a>,
}

fn check_case(check: &CheckResult) -> Case<'_> {
    let outcome = match check.status {
        Status::Pass => Outcome::Passed,
        Status::Skip => Outcome::Skipped {
            message: &check.reason,
        },
        Status::Fail => Outcome::Failed {
            message: check.reason.clone(),
            body: format!(
                "expected: {}\nobserved: {}",
                compact_json(&check.expected),
                compact_json(&check.observed)
            ),
        },
    };
    Case {
        name: Cow::Borrowed(&check.id),
        duration_ms: check.duration_ms,
        outcome,
    }
}

fn control_case<'a>(check: &'a CheckResult, control: &'a ControlResult) -> Case<'a> {
    let outcome = match control.status {
        ControlStatus::Detected => Outcome::Passed,
        ControlStatus::Skip => Outcome::Skipped {
            message: &control.reason,
        },
        // The reason already starts with "could not be tested: ".
        ControlStatus::Inconclusive => Outcome::Failed {
            message: format!(
                "negative control inconclusive: with \"{}\" the check proves nothing: {}",
                control.sabotage, control.reason
            ),
            body: format!(
                "sabotage: {}\nexpected: {CONTROL_EXPECTED}\nobserved: {}",
                control.sabotage,
                compact_json(&control.observed)
            ),
        },
        ControlStatus::Missed => Outcome::Failed {
            message: format!(
                "negative control missed: with \"{}\" the check still passed: {}",
                control.sabotage, control.reason
            ),
            body: format!(
                "sabotage: {}\nexpected: {CONTROL_EXPECTED}\nobserved: {}",
                control.sabotage,
                compact_json(&control.observed)
            ),
        },
    };
    Case {
        name: Cow::Owned(format!("{} negative control", check.id)),
        // The model times the check as a whole; controls have no duration of their own.
        duration_ms: 0,
        outcome,
    }
}

fn write_document(w: &mut Writer<Vec<u8>>, report: &Report) -> io::Result<()> {
    let cases: Vec<Case> = report
        .checks
        .iter()
        .flat_map(|check| {
            let control = check
                .negative_control
                .as_ref()
                .map(|control| control_case(check, control));
            std::iter::once(check_case(check)).chain(control)
        })
        .collect();

    // Counted from the cases written, so the attributes always agree with the body.
    let tests = cases.len().to_string();
    let failures = cases
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Failed { .. }))
        .count()
        .to_string();
    let skipped = cases
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Skipped { .. }))
        .count()
        .to_string();
    let time = seconds(report.checks.iter().map(|c| c.duration_ms).sum());
    let classname = xml_text(&format!("isoprobe.{}", report.runtime.name)).into_owned();

    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let totals = [
        ("tests", tests.as_str()),
        ("failures", failures.as_str()),
        ("errors", "0"),
        ("skipped", skipped.as_str()),
        ("time", time.as_str()),
    ];
    w.create_element("testsuites")
        .with_attribute(("name", "isoprobe"))
        .with_attributes(totals)
        .write_inner_content(|w| {
            w.create_element("testsuite")
                .with_attribute(("name", "isoprobe"))
                .with_attributes(totals)
                .write_inner_content(|w| {
                    write_properties(w, report)?;
                    for case in &cases {
                        write_case(w, &classname, case)?;
                    }
                    Ok(())
                })?;
            Ok(())
        })?;
    Ok(())
}

/// The environment the verdicts hold for: the same checks can pass on one kernel and fail on
/// another, so a CI result without it is hard to interpret.
fn write_properties(w: &mut Writer<Vec<u8>>, report: &Report) -> io::Result<()> {
    let properties = [
        ("isoprobe_version", &report.isoprobe_version),
        ("kernel.release", &report.kernel.release),
        ("kernel.version", &report.kernel.version),
        ("cgroup_mode", &report.cgroup_mode),
        ("runtime.name", &report.runtime.name),
        ("runtime.version", &report.runtime.version),
    ];
    let rootless = report.rootless.as_ref().map(|r| r.describe());
    let rootless = rootless.as_ref().map(|d| ("rootless", d));
    w.create_element("properties").write_inner_content(|w| {
        for (name, value) in properties.into_iter().chain(rootless) {
            w.create_element("property")
                .with_attribute(("name", name))
                .with_attribute(("value", attr_text(value).as_ref()))
                .write_empty()?;
        }
        Ok(())
    })?;
    Ok(())
}

fn write_case(w: &mut Writer<Vec<u8>>, classname: &str, case: &Case) -> io::Result<()> {
    let name = attr_text(&case.name);
    let time = seconds(case.duration_ms);
    let element = w
        .create_element("testcase")
        .with_attribute(("classname", classname))
        .with_attribute(("name", name.as_ref()))
        .with_attribute(("time", time.as_str()));
    match &case.outcome {
        Outcome::Passed => {
            element.write_empty()?;
        }
        Outcome::Skipped { message } => {
            element.write_inner_content(|w| {
                w.create_element("skipped")
                    .with_attribute(("message", attr_text(message).as_ref()))
                    .write_empty()?;
                Ok(())
            })?;
        }
        Outcome::Failed { message, body } => {
            element.write_inner_content(|w| {
                w.create_element("failure")
                    .with_attribute(("message", attr_text(message).as_ref()))
                    .write_text_content(BytesText::new(&xml_text(body)))?;
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// Milliseconds as decimal seconds, computed in integers so `1500` is exactly `1.500`.
fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// Attribute values are normalized by XML readers (a newline becomes a space), so flatten them
/// here, visibly, rather than leave it to each reader.
fn attr_text(s: &str) -> Cow<'_, str> {
    match single_line(s) {
        Cow::Borrowed(s) => xml_text(s),
        Cow::Owned(s) => Cow::Owned(xml_text(&s).into_owned()),
    }
}

/// quick-xml escapes markup but passes every character through, and a document containing a
/// character XML 1.0 forbids (most C0 controls, U+FFFE, U+FFFF) is rejected whole by parsers.
/// Probe output can contain such characters, so they become U+FFFD.
fn xml_text(s: &str) -> Cow<'_, str> {
    let allowed = |c: char| {
        matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
    };
    if s.chars().all(allowed) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(
            s.chars()
                .map(|c| if allowed(c) { c } else { '\u{FFFD}' })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample;
    use quick_xml::events::attributes::Attribute;
    use quick_xml::Reader;

    /// One element as a JUnit consumer reads it: escaping undone, whitespace-only text dropped.
    struct Element {
        name: String,
        attrs: Vec<(String, String)>,
        text: String,
    }

    impl Element {
        fn attr(&self, key: &str) -> &str {
            self.attrs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("no attribute {key} on <{}>", self.name))
        }
    }

    /// Parses `xml` back, so the tests check what a consumer would read rather than raw bytes.
    fn elements(xml: &str) -> Vec<Element> {
        let mut reader = Reader::from_str(xml);
        let mut found: Vec<Element> = Vec::new();
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(e) | Event::Empty(e) => {
                    let attrs = e
                        .attributes()
                        .map(|a| {
                            let a: Attribute = a.expect("well-formed attribute");
                            (
                                String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                                a.unescape_value().unwrap().into_owned(),
                            )
                        })
                        .collect();
                    let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                    found.push(Element {
                        name,
                        attrs,
                        text: String::new(),
                    });
                }
                Event::Text(t) => {
                    let text = t.unescape().unwrap();
                    if !text.trim().is_empty() {
                        found.last_mut().unwrap().text.push_str(&text);
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        found
    }

    fn named<'a>(els: &'a [Element], name: &str) -> Vec<&'a Element> {
        els.iter().filter(|e| e.name == name).collect()
    }

    #[test]
    fn suite_counts_checks_and_controls() {
        let xml = render_junit(&sample::report());
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites"));
        assert!(xml.contains(
            "<testsuite name=\"isoprobe\" tests=\"9\" failures=\"2\" errors=\"0\" skipped=\"2\" time=\"1.855\">"
        ));
        assert!(xml.ends_with("</testsuites>\n"));
        let els = elements(&xml);
        assert_eq!(named(&els, "testsuites").len(), 1);
        let suites = named(&els, "testsuite");
        assert_eq!(suites.len(), 1);
        assert_eq!(suites[0].attr("tests"), "9");
        assert_eq!(suites[0].attr("failures"), "2");
        assert_eq!(suites[0].attr("skipped"), "2");
        assert_eq!(named(&els, "testcase").len(), 9);
        assert_eq!(named(&els, "failure").len(), 2);
        assert_eq!(named(&els, "skipped").len(), 2);
    }

    #[test]
    fn testcases_are_named_and_timed() {
        let els = elements(&render_junit(&sample::report()));
        let cases = named(&els, "testcase");
        assert_eq!(cases.len(), 9);
        assert!(cases.iter().all(|c| c.attr("classname") == "isoprobe.runc"));
        assert_eq!(cases[0].attr("name"), "pid.isolated");
        assert_eq!(cases[0].attr("time"), "0.012");
        assert_eq!(cases[1].attr("name"), "pid.isolated negative control");
        assert_eq!(cases[4].attr("name"), "cgroup.memory-limit");
        assert_eq!(cases[4].attr("time"), "1.500");
        assert_eq!(cases[8].attr("name"), "uts.hostname");
    }

    #[test]
    fn failure_and_skip_carry_escaped_messages() {
        let xml = render_junit(&sample::report());
        // The raw document must escape what the reader gets back unescaped.
        assert!(xml.contains("message=\"/proc/kcore is readable: &lt;&amp;&quot;&gt; leaked\""));
        assert!(!xml.contains("<&\">"));

        let els = elements(&xml);
        let failures = named(&els, "failure");
        assert_eq!(
            failures[0].attr("message"),
            r#"/proc/kcore is readable: <&"> leaked"#
        );
        assert_eq!(
            failures[0].text,
            "expected: {\"readable\":false}\nobserved: {\"note\":\"<&\\\">\",\"path\":\"/proc/kcore\",\"readable\":true}"
        );
        assert!(failures[1].attr("message").starts_with(
            "negative control missed: with \"remove the memory limit\" the check still passed"
        ));
        assert!(failures[1]
            .text
            .contains("observed: {\"peak_bytes\":67100000}"));

        let skips = named(&els, "skipped");
        assert_eq!(skips[0].attr("message"), "runtime has no user namespaces");
        assert_eq!(skips[1].attr("message"), "check was skipped");
    }

    #[test]
    fn environment_is_recorded_as_properties() {
        let els = elements(&render_junit(&sample::report()));
        let props: Vec<(&str, &str)> = named(&els, "property")
            .into_iter()
            .map(|e| (e.attr("name"), e.attr("value")))
            .collect();
        assert!(props.contains(&("kernel.release", "6.8.0-45-generic")));
        assert!(props.contains(&("cgroup_mode", "v2")));
        assert!(props.contains(&("runtime.version", "1.1.12")));
    }

    #[test]
    fn characters_xml_forbids_are_replaced() {
        let mut report = sample::report();
        report.checks[1].reason = "bell\x07 and nul\0".into();
        report.checks[1].observed = serde_json::json!("del\u{7f} fffe\u{FFFE}");
        let xml = render_junit(&report);
        assert!(!xml.contains('\u{7}') && !xml.contains('\0') && !xml.contains('\u{FFFE}'));
        let els = elements(&xml);
        let failure = named(&els, "failure")[0];
        assert_eq!(failure.attr("message"), "bell\\u{7} and nul\\0");
        assert!(failure.text.contains("fffe\u{FFFD}"));
    }

    #[test]
    fn an_inconclusive_control_is_a_failure_that_says_why_once() {
        let xml = render_junit(&sample::report_with_inconclusive());
        let els = elements(&xml);
        assert_eq!(named(&els, "testcase").len(), 11);
        let failures = named(&els, "failure");
        assert_eq!(failures.len(), 4);
        assert_eq!(
            failures[2].attr("message"),
            "could not be tested: the container made no connect attempt"
        );
        assert_eq!(
            failures[3].attr("message"),
            "negative control inconclusive: with \"share the host's net namespace\" the check \
             proves nothing: could not be tested: the container could not list its interfaces"
        );
        assert!(failures[3]
            .text
            .contains("expected: the sabotaged property is found violated"));
    }
}
