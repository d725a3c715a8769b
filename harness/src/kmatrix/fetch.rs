//! Fetching a kernel: its package downloaded through the suite's private apt (cached: a second
//! fetch downloads nothing), unpacked with `dpkg-deb -x`, and only its vmlinuz kept.

use super::apt::{self, PrivateApt, Stanza};
use super::cache::{self, cache_dir, find_deb, is_nonempty_file, vmlinuz_path, DirLock};
use super::catalogue::{self, KernelSpec};
use super::error::{IoStep, KernelError, ToolError};
use std::path::{Path, PathBuf};
use std::time::Instant;

pub struct KernelFiles {
    pub vmlinuz: PathBuf,
    pub release: String,
}

/// Downloads (cached: a second call downloads nothing) and extracts only the vmlinuz of `k`.
pub fn fetch(k: &KernelSpec, progress: &dyn Fn(&str)) -> Result<KernelFiles, KernelError> {
    let vmlinuz = vmlinuz_path(k);
    let files = || KernelFiles {
        vmlinuz: vmlinuz.clone(),
        release: k.release.clone(),
    };
    let kdir = vmlinuz.parent().unwrap_or(Path::new(".")).to_path_buf();
    cache::create_dir(&kdir)?;
    // Parallel matrix jobs may fetch the same kernel: one downloads, the others then find it.
    let _lock = DirLock::take(&kdir.join(".lock"))?;
    if is_nonempty_file(&vmlinuz) {
        progress(&format!("{}: cached {}", k.name, vmlinuz.display()));
        return Ok(files());
    }
    let debs = cache_dir().join("debs");
    cache::create_dir(&debs)?;
    let deb = match find_deb(&debs, &k.package, &k.version) {
        Some(d) => {
            progress(&format!("{}: cached {}", k.name, d.display()));
            d
        }
        None => download(k, &debs, progress)?,
    };
    let t = Instant::now();
    progress(&format!(
        "{}: extracting the vmlinuz of {}",
        k.name, k.release
    ));
    extract_vmlinuz(&deb, &k.release, &vmlinuz)?;
    progress(&format!(
        "{}: {} ({:.1} MB) extracted in {:.1} s",
        k.name,
        vmlinuz.display(),
        cache::file_mb(&vmlinuz),
        t.elapsed().as_secs_f64()
    ));
    Ok(files())
}

fn download(k: &KernelSpec, debs: &Path, progress: &dyn Fn(&str)) -> Result<PathBuf, KernelError> {
    let (apt, _lock) = catalogue::apt_of(k, progress)?;
    let result = download_with(&apt, k, debs, progress);
    apt.drop_binary_cache();
    result
}

fn download_with(
    apt: &PrivateApt,
    k: &KernelSpec,
    debs: &Path,
    progress: &dyn Fn(&str),
) -> Result<PathBuf, KernelError> {
    let stale = || KernelError::NotInIndex {
        name: k.name.clone(),
        package: k.package.clone(),
        version: k.version.clone(),
    };
    let has_version = |recs: Vec<Stanza>| {
        recs.into_iter()
            .find(|r| r.get("Version") == Some(k.version.as_str()))
    };
    let rec = match has_version(apt.records(&k.package).unwrap_or_default()) {
        Some(r) => r,
        None => {
            progress(&format!(
                "{}: the lists of {} do not have {} {}: updating them",
                k.name, k.suite, k.package, k.version
            ));
            apt.update()?;
            has_version(apt.records(&k.package).unwrap_or_default()).ok_or_else(stale)?
        }
    };
    let name = apt::download_name(&rec).ok_or_else(|| KernelError::NoFilename {
        name: k.name.clone(),
        package: k.package.clone(),
    })?;
    let size_mb = rec
        .get("Size")
        .and_then(|s| s.parse::<f64>().ok())
        .map(|b| b / 1e6)
        .unwrap_or(0.0);
    progress(&format!(
        "{}: downloading {} {} ({size_mb:.1} MB)",
        k.name, k.package, k.version
    ));
    let t = Instant::now();
    // Into a private directory first: an interrupted download never looks like a cached .deb.
    let partial = tempfile::Builder::new()
        .prefix(".download-")
        .tempdir_in(debs)
        .map_err(IoStep::on("create a directory in", debs))?;
    let got = apt.download(&k.package, &k.version, &name, partial.path())?;
    let dest = debs.join(&name);
    std::fs::rename(&got, &dest).map_err(IoStep::on("move the download to", &dest))?;
    progress(&format!(
        "{}: downloaded {} in {:.1} s",
        k.name,
        dest.display(),
        t.elapsed().as_secs_f64()
    ));
    Ok(dest)
}

/// Unpacks `deb` into a temporary directory next to the cache and moves its vmlinuz to `dest`.
fn extract_vmlinuz(deb: &Path, release: &str, dest: &Path) -> Result<(), KernelError> {
    let tmp_parent = cache_dir().join("tmp");
    cache::create_dir(&tmp_parent)?;
    let tmp = tempfile::Builder::new()
        .prefix("extract-")
        .tempdir_in(&tmp_parent)
        .map_err(IoStep::on("create a directory in", &tmp_parent))?;
    let command = format!("dpkg-deb -x {} {}", deb.display(), tmp.path().display());
    let out = std::process::Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(tmp.path())
        .output()
        .map_err(|source| ToolError::Start {
            command: command.clone(),
            source,
            advice: "isoprobe needs dpkg",
        })?;
    if !out.status.success() {
        return Err(ToolError::failed(command, out.status, &out.stderr, 6).into());
    }
    let found = vmlinuz_candidates(release)
        .into_iter()
        .map(|rel| tmp.path().join(rel))
        .find(|p| is_nonempty_file(p))
        .ok_or_else(|| KernelError::NoVmlinuz {
            deb: deb.to_path_buf(),
            release: release.to_string(),
            looked_in: vmlinuz_candidates(release),
        })?;
    let part = dest.with_extension("part");
    // Same filesystem (both under the cache): a rename, and `dest` appears complete or not at all.
    std::fs::rename(&found, &part)
        .or_else(|_| std::fs::copy(&found, &part).map(|_| ()))
        .map_err(IoStep::on("write", &part))?;
    std::fs::rename(&part, dest).map_err(IoStep::on("write", dest))?;
    Ok(())
}

/// Where a Debian kernel package puts its image: /boot before the split, the modules
/// directory in the split linux-binary-* packages.
fn vmlinuz_candidates(release: &str) -> Vec<String> {
    vec![
        format!("boot/vmlinuz-{release}"),
        format!("usr/lib/modules/{release}/vmlinuz"),
        format!("lib/modules/{release}/vmlinuz"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmlinuz_is_looked_for_in_boot_then_modules() {
        let c = vmlinuz_candidates("7.2.13+deb14-cloud-amd64");
        assert_eq!(c[0], "boot/vmlinuz-7.2.13+deb14-cloud-amd64");
        assert_eq!(c[1], "usr/lib/modules/7.2.13+deb14-cloud-amd64/vmlinuz");
    }
}
