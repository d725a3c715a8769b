//! `isoprobe matrix --kernel PATH`: a kernel image given by path is booted as it is, and the
//! exit status is what `git bisect run` reads: 0 every check passed (a Debian kernel from the
//! cache, copied elsewhere), 125 the kernel could not be tested (a truncated copy of it: the
//! firmware loads it and it never starts), 2 not a kernel at all (refused before any boot).

mod common;

use assert_cmd::Command;
use isoprobe::kmatrix::kernels;
use serial_test::serial;
use std::path::PathBuf;

fn isoprobe() -> Command {
    Command::cargo_bin("isoprobe").unwrap()
}

#[test]
fn a_file_that_is_not_a_kernel_exits_2_before_anything_boots() {
    let t = tempfile::tempdir().unwrap();
    let notes = t.path().join("bzImage");
    std::fs::write(&notes, "a text file, not a kernel\n".repeat(64)).unwrap();
    let out = isoprobe()
        .args(["matrix", "--kernel"])
        .arg(&notes)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("is not a kernel image") && err.contains("HdrS"),
        "{err}"
    );
    assert!(err.contains(&notes.display().to_string()), "{err}");
    let out = isoprobe()
        .args(["matrix", "--kernel", "/nonexistent/bzImage"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read it"));
}

/// A Debian kernel from the cache (fetched once if need be), or why there is none.
fn debian_kernel() -> Result<PathBuf, String> {
    if std::process::Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .is_err()
    {
        return Err("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)".into());
    }
    let quiet = |_: &str| {};
    let specs = kernels::known(false, &quiet).map_err(|e| format!("no kernel list: {e}"))?;
    // The oldest: the quickest to boot under TCG.
    let k = specs.first().ok_or("the kernel list is empty")?;
    kernels::fetch(k, &quiet)
        .map(|f| f.vmlinuz)
        .map_err(|e| format!("kernel {} could not be fetched: {e}", k.name))
}

#[test]
#[serial(machine)]
fn a_debian_kernel_by_path_passes_and_a_truncated_copy_cannot_be_tested() {
    require_root!("a_debian_kernel_by_path_passes_and_a_truncated_copy_cannot_be_tested");
    let cached = match debian_kernel() {
        Ok(p) => p,
        Err(why) => {
            common::skip("matrix --kernel", &why);
            return;
        }
    };
    let t = tempfile::tempdir().unwrap();
    let own = t.path().join("bzImage");
    std::fs::copy(&cached, &own).unwrap();
    let out = isoprobe()
        .args(["matrix", "--boot-timeout", "400", "--kernel"])
        .arg(&own)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    common::say(&stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("`pid.init-is-1`"), "{stdout}");

    let bytes = std::fs::read(&own).unwrap();
    let truncated = t.path().join("bzImage-truncated");
    std::fs::write(&truncated, &bytes[..bytes.len() / 4]).unwrap();
    let out = isoprobe()
        .args(["matrix", "--boot-timeout", "120", "--kernel"])
        .arg(&truncated)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(125), "{stdout}\n{stderr}");
    assert!(stdout.contains("did not start"), "{stdout}");
    assert!(stderr.contains("could not be tested"), "{stderr}");
}

/// A matrix SIGKILLed while its guest boots: QEMU dies with it (it would otherwise run the
/// guest to its end, or for ever if it hangs), and what the run made (its work directory with
/// the initramfs) is in its record, which `isoprobe clean` sweeps.
#[test]
#[serial(machine)]
fn a_killed_matrix_takes_its_guest_along_and_leaves_the_rest_to_clean() {
    const NAME: &str = "a_killed_matrix_takes_its_guest_along_and_leaves_the_rest_to_clean";
    require_root!(NAME);
    let cached = match debian_kernel() {
        Ok(p) => p,
        Err(why) => {
            common::skip(NAME, &why);
            return;
        }
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut run = std::process::Command::new(assert_cmd::cargo::cargo_bin("isoprobe"))
        .args(["matrix", "--kernel"])
        .arg(&cached)
        .env("TMPDIR", tmp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = run.id();
    let started = std::time::Instant::now();
    let qemu = loop {
        if let Some(q) = child_named(pid, "qemu-system-x86") {
            break q;
        }
        assert!(
            run.try_wait().unwrap().is_none(),
            "the matrix ended before its guest was seen"
        );
        assert!(started.elapsed().as_secs() < 60, "no guest within 60 s");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    run.kill().unwrap();
    run.wait().unwrap();
    let killed = std::time::Instant::now();
    while !common::has_ended(qemu) && killed.elapsed().as_secs() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        common::has_ended(qemu),
        "QEMU {qemu} outlived the killed matrix {pid}"
    );
    let clean = std::process::Command::new(assert_cmd::cargo::cargo_bin("isoprobe"))
        .arg("clean")
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&clean.stdout);
    assert!(clean.status.success(), "{said}");
    let work = format!("isoprobe-matrix-{pid}-");
    assert!(
        said.contains(&work),
        "clean did not name the work directory: {said}"
    );
    let left: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, Vec::<String>::new());
}

/// A child of `parent` whose command name is `comm`.
fn child_named(parent: u32, comm: &str) -> Option<u32> {
    common::children_of(parent)
        .iter()
        .find(|dir| std::fs::read_to_string(dir.join("comm")).is_ok_and(|c| c.trim_end() == comm))
        .and_then(|dir| common::pid_of(dir))
}
