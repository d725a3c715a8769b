//! `merge` on the real reports in `fixtures/reports/` (the native spawner and runc on this
//! host, and the native spawner in the kernel matrix's 5.10 and 6.12 guests).

use super::input::parse;
use super::*;
use isoprobe_fixtures::path;

fn source(name: &str) -> Source {
    Source::parse(&path(&format!("reports/{name}")).display().to_string())
}

fn two_runtimes_two_kernels() -> Vec<Column> {
    merge(&[
        source("native-6.18.json"),
        source("runc-6.18.json"),
        source("native-5.10.json"),
        source("native-6.12.json"),
    ])
    .unwrap()
}

#[test]
fn two_runtimes_and_two_kernels_make_one_matrix() {
    let columns = two_runtimes_two_kernels();
    assert_eq!(columns.len(), 4);
    let text = render_text(&columns);
    let head = text.lines().nth(1).unwrap();
    for h in [
        "6.18.44-fc-v669 hybrid / native",
        "6.18.44-fc-v669 hybrid / runc",
        "5.10.0-46-cloud-amd64 v2 / native",
        "6.12.118+deb13-cloud-amd64 v2 / native",
    ] {
        assert!(head.contains(h), "{head}");
    }
    let row = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row {name}:\n{text}"))
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ")
    };
    // runc 1.1.5 lets the container open the host's /dev/net/tun; the native spawner does not.
    assert_eq!(
        row("dev.host-devices-denied"),
        "pass ✓ FAIL ✓ pass ✓ pass ✓"
    );
    assert_eq!(row("ns.time"), "pass ✓ skip · pass ✓ pass ✓");
    assert_eq!(row("pid.init-is-1"), "pass ✓ pass ✓ pass ✓ pass ✓");
    // The features that tell the kernels apart are rows too.
    assert_eq!(row("memory.peak"), "no no no yes");
    assert_eq!(row("mount_setattr"), "yes yes no yes");
}

#[test]
fn what_differs_gives_each_sides_reason_and_only_rows_that_differ() {
    let text = render_text(&two_runtimes_two_kernels());
    let differs = text
        .split("what differs:\n")
        .nth(1)
        .expect("a difference section");
    assert!(
        differs.contains(
            "  dev.host-devices-denied\n    6.18.44-fc-v669 hybrid / native, \
             5.10.0-46-cloud-amd64 v2 / native, 6.12.118+deb13-cloud-amd64 v2 / native: pass ✓: \
             nodes for the host's devices were refused"
        ),
        "{differs}"
    );
    assert!(
        differs.contains("6.18.44-fc-v669 hybrid / runc: FAIL ✓: opened the host device net/tun"),
        "{differs}"
    );
    assert!(
        !differs.contains("pid.init-is-1"),
        "a row that is the same everywhere has nothing to explain"
    );
}

#[test]
fn markdown_and_json_carry_the_same_matrix() {
    let columns = two_runtimes_two_kernels();
    let md = render_markdown(&columns);
    assert!(
        md.contains("| `dev.host-devices-denied` | pass ✓ | FAIL ✓ | pass ✓ | pass ✓ |"),
        "{md}"
    );
    assert!(md.contains("- `dev.host-devices-denied`\n"), "{md}");
    let json: serde_json::Value = serde_json::from_str(&render_json(&columns)).unwrap();
    assert_eq!(json["columns"].as_array().unwrap().len(), 4);
    assert_eq!(json["columns"][1]["runtime"]["name"], "runc");
    let dev = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "dev.host-devices-denied")
        .unwrap();
    assert_eq!(dev["differs"], true);
    assert_eq!(dev["cells"][1], "FAIL ✓");
    assert!(dev["reasons"][1].as_str().unwrap().contains("net/tun"));
    let pid = &json["checks"][0];
    assert_eq!(
        (pid["id"].as_str(), &pid["differs"]),
        (Some("pid.init-is-1"), &false.into())
    );
    assert!(json["features"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["name"] == "landlock ABI" && f["cells"][2] == "-"));
}

#[test]
fn a_kernel_matrix_gives_a_column_per_cell_and_shared_parts_head_the_table() {
    let columns = merge(&[source("matrix-5.10-6.12.json")]).unwrap();
    assert_eq!(columns.len(), 2);
    assert!(columns[0]
        .source
        .ends_with("matrix-5.10-6.12.json (cell 5.10 v2)"));
    let (heads, common) = headings(&columns);
    assert_eq!(
        heads,
        ["5.10.0-46-cloud-amd64 v2", "6.12.118+deb13-cloud-amd64 v2"]
    );
    assert_eq!(common, ["runtime native"]);
    assert!(
        render_text(&columns).starts_with("isoprobe merge of 2 report(s), all on runtime native\n")
    );
}

#[test]
fn a_comparison_gives_a_column_per_runtime() {
    let read = |n: &str| -> Report {
        serde_json::from_str(&isoprobe_fixtures::text(&format!("reports/{n}")).unwrap()).unwrap()
    };
    let cmp = crate::compare::Comparison {
        isoprobe_version: "0.1.0".into(),
        kernel: read("native-6.18.json").kernel,
        cgroup_mode: "hybrid".into(),
        duration_ms: 1,
        reports: vec![read("native-6.18.json"), read("runc-6.18.json")],
    };
    let text = serde_json::to_string(&cmp).unwrap();
    let columns = parse(&text, "ci-1", std::path::Path::new("cmp.json")).unwrap();
    let (heads, common) = headings(&columns);
    assert_eq!(heads, ["native", "runc"]);
    assert_eq!(common, ["machine ci-1", "kernel 6.18.44-fc-v669 hybrid"]);
}

#[test]
fn the_same_report_twice_is_refused_unless_its_machines_are_named_apart() {
    let file = path("reports/runc-6.18.json").display().to_string();
    let e = merge(&[Source::parse(&file), Source::parse(&file)]).unwrap_err();
    assert!(matches!(e, MergeError::DuplicateColumn { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("no machine named, kernel 6.18.44-fc-v669, cgroup hybrid, runtime runc"),
        "{text}"
    );
    assert!(text.contains("MACHINE=FILE"), "{text}");

    let named = merge(&[
        Source::parse(&format!("ci-a={file}")),
        Source::parse(&format!("ci-b={file}")),
    ])
    .unwrap();
    let (heads, common) = headings(&named);
    assert_eq!(heads, ["ci-a", "ci-b"]);
    assert_eq!(common, ["kernel 6.18.44-fc-v669 hybrid", "runtime runc"]);
    assert!(!render_text(&named).contains("what differs"));
}

#[test]
fn bad_files_say_which_and_why() {
    let missing = merge(&[Source::parse("/nonexistent/report.json")]).unwrap_err();
    assert!(
        matches!(missing, MergeError::Unreadable { .. }),
        "{missing}"
    );
    assert!(missing.to_string().contains("/nonexistent/report.json"));

    let not_json = merge(&[Source::parse(
        &path("proc/mountinfo-hybrid").display().to_string(),
    )])
    .unwrap_err();
    assert!(matches!(not_json, MergeError::NotJson { .. }), "{not_json}");

    let p = std::path::Path::new("r.json");
    let e = parse(r#"{"name": "x"}"#, "", p).unwrap_err();
    assert!(e.to_string().contains("none of `checks`"), "{e}");
    let mut report: serde_json::Value =
        serde_json::from_str(&isoprobe_fixtures::text("reports/runc-6.18.json").unwrap()).unwrap();
    report["checks"][3]["status"] = "maybe".into();
    let e = parse(&report.to_string(), "", p).unwrap_err();
    assert!(matches!(e, MergeError::WrongSchema { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("at `checks[3].status`: unknown variant `maybe`"),
        "{e}"
    );

    assert_eq!(merge(&[]).unwrap_err(), MergeError::NoFiles);
}

#[test]
fn a_machine_is_named_before_an_equals_sign_unless_the_path_exists() {
    assert_eq!(
        Source::parse("ci-1=out/report.json"),
        Source {
            machine: "ci-1".into(),
            path: "out/report.json".into()
        }
    );
    assert_eq!(Source::parse("dir/a=b.json").machine, "");
    let existing = path("reports/native-6.18.json").display().to_string();
    assert_eq!(Source::parse(&existing).machine, "");
}
