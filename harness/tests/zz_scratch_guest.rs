use isoprobe::kmatrix::{initramfs, qemu, GuestCgroup};
use std::path::Path;
use std::time::Duration;
#[test]
fn scratch() {
    let k = std::env::var("K").unwrap();
    let mode = if std::env::var("MODE").as_deref() == Ok("v1") {
        GuestCgroup::V1
    } else {
        GuestCgroup::V2
    };
    let extra: Vec<String> = std::env::var("EXTRA")
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let init = dir.path().join("i.cpio");
    initramfs::build(&init, Path::new(env!("CARGO_BIN_EXE_isoprobe"))).unwrap();
    let b = qemu::boot_with(Path::new(&k), &init, mode, &extra, Duration::from_secs(900)).unwrap();
    std::fs::write("/tmp/kg/console.txt", &b.console).unwrap();
    if let Some(r) = &b.report {
        std::fs::write(
            "/tmp/kg/report.json",
            serde_json::to_string_pretty(r).unwrap(),
        )
        .unwrap();
    }
    eprintln!("{:?} {:?} {:?}", b.outcome, b.elapsed, b.guest_info);
}
