//! Builds the static agent and hands its path to the harness, which embeds it.
//!
//! The agent must be statically linked (it runs in a rootfs that holds nothing but itself), and
//! `+crt-static` cannot be applied to this workspace's own build (proc-macro crates cannot be
//! static). So the agent is built by a nested cargo with an explicit `--target`, which keeps the
//! flag off host artifacts, into its own target directory, which keeps the two builds from
//! waiting on each other's lock.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.parent().unwrap().to_path_buf();
    for p in [
        "probes/src",
        "probes/Cargo.toml",
        "Cargo.lock",
        "Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(p).display());
    }
    println!("cargo:rerun-if-env-changed=ISOPROBE_AGENT_BIN");
    git_commit(&workspace);

    // Escape hatch for packagers who build the agent themselves.
    if let Ok(prebuilt) = env::var("ISOPROBE_AGENT_BIN") {
        println!("cargo:rustc-env=ISOPROBE_AGENT_BIN={prebuilt}");
        return;
    }

    let target = env::var("TARGET").unwrap();
    let target_dir = agent_target_dir(&workspace);
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args([
            "build",
            "--release",
            "-p",
            "isoprobe-probes",
            "--bin",
            "isoprobe-agent",
        ])
        .arg("--target")
        .arg(&target)
        .arg("--target-dir")
        .arg(&target_dir);
    // The outer build's settings (clippy's wrapper, coverage flags, a jobserver) must not leak
    // into the agent's build.
    for var in [
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("CARGO_ENCODED_RUSTFLAGS", "-Ctarget-feature=+crt-static");
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo to build the static agent: {e}"));
    if !status.success() {
        panic!("building the static isoprobe-agent failed ({status}); see the output above");
    }
    let bin = target_dir
        .join(&target)
        .join("release")
        .join("isoprobe-agent");
    assert!(bin.is_file(), "agent not found at {}", bin.display());
    println!("cargo:rustc-env=ISOPROBE_AGENT_BIN={}", bin.display());
}

/// `ISOPROBE_GIT_COMMIT` for `isoprobe --version`: the commit checked out, or `unknown` without
/// git (a crate unpacked from a tarball). Not marked dirty: edits to the work tree do not rerun
/// this script, so such a mark would go stale.
fn git_commit(workspace: &Path) {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(workspace)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]);
    // Rerun when HEAD moves: a commit or a checkout changes one of these files. Only files
    // that exist: cargo reruns a script on every build for one that does not.
    let reference = git(&["symbolic-ref", "-q", "HEAD"]);
    for file in ["HEAD", "packed-refs"]
        .into_iter()
        .chain(reference.as_deref())
    {
        if let Some(p) = git(&["rev-parse", "--git-path", file]) {
            let p = workspace.join(p);
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
    let text = commit.unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=ISOPROBE_GIT_COMMIT={text}");
}

/// `<target>/agent-build`, next to the outer build's own directories, so that `cargo clean`
/// removes it and every profile shares one agent build.
fn agent_target_dir(workspace: &Path) -> PathBuf {
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    // OUT_DIR is <target>/[<triple>/]<profile>/build/<pkg>-<hash>/out
    out_dir
        .ancestors()
        .find(|a| a.join("CACHEDIR.TAG").is_file())
        .map(|t| t.join("agent-build"))
        .unwrap_or_else(|| workspace.join("target").join("agent-build"))
}
