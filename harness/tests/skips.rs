//! Every skip of every test goes through `isoprobe::testing::skip` (defined once in
//! `isoprobe-probes`), the one place that honours ISOPROBE_REQUIRE_ALL. A test that prints its
//! own "SKIP" line and returns would pass unnoticed in CI; this finds one in the sources.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, found);
        } else if p.extension().is_some_and(|x| x == "rs") {
            found.push(p);
        }
    }
}

#[test]
fn no_test_prints_its_own_skip() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let the_helper = workspace.join("probes/src/testing.rs");
    let mut files = Vec::new();
    for dir in ["harness/src", "harness/tests", "probes/src"] {
        rust_files(&workspace.join(dir), &mut files);
    }
    let own_print =
        regex::Regex::new(r#"(print|println|eprint|eprintln|write|writeln)!\(.*"SKIP"#).unwrap();
    let mut found = Vec::new();
    for f in files.iter().filter(|f| **f != the_helper) {
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            if own_print.is_match(line) {
                found.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "skip through isoprobe::testing::skip (or require_root!) instead:\n{}",
        found.join("\n")
    );
}
