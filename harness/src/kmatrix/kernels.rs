//! The kernels the matrix knows, resolved from Debian's archive, and their vmlinuz, cached.
//!
//! Each kernel is whatever `linux-image-cloud-amd64` depends on in its suite (the cloud flavour:
//! the smallest image, with virtio built in). Resolution goes through a private apt
//! configuration per suite (`apt.rs`); the result is cached in `kernels.json` so that a run
//! needs the network only to download a kernel it has not seen.
//!
//! Cache layout (`cache_dir()`):
//! - `kernels.json`: the resolved specs.
//! - `apt/<suite>/`: the private apt configuration and lists of one suite.
//! - `debs/`: the downloaded packages, kept so a later need (modules) costs no download.
//! - `kernels/<release>/vmlinuz`: all that is extracted.

use super::apt::{self, PrivateApt, Source, Stanza};
use crate::report::Table;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelSpec {
    /// What users pass to `--kernels`: "5.10", "6.1", "6.12", "sid".
    pub name: String,
    /// The suite it came from: "bullseye", "bookworm", "trixie" (or "bookworm-backports"), "sid".
    pub suite: String,
    /// The package holding the vmlinuz: the versioned image package the metapackage depends
    /// on, or in sid (where the image is split) its `linux-binary-*`.
    pub package: String,
    pub version: String,
    /// `uname -r` of that kernel, e.g. 5.10.0-33-cloud-amd64.
    pub release: String,
}

pub struct KernelFiles {
    pub vmlinuz: PathBuf,
    pub release: String,
}

/// The metapackage whose dependency names each suite's current cloud kernel.
const METAPACKAGE: &str = "linux-image-cloud-amd64";

/// A suite a kernel can come from; `security` is its security suite, where one exists.
struct SuiteDef {
    suite: &'static str,
    security: Option<&'static str>,
}

/// A kernel name and the suites tried in order for it. A numbered name only accepts a release
/// of that major.minor, so that a suite that moved on (backports does) is not taken for it.
struct KnownKernel {
    name: &'static str,
    suites: &'static [SuiteDef],
}

const KNOWN: &[KnownKernel] = &[
    KnownKernel {
        name: "5.10",
        suites: &[SuiteDef {
            suite: "bullseye",
            security: Some("bullseye-security"),
        }],
    },
    KnownKernel {
        name: "6.1",
        suites: &[SuiteDef {
            suite: "bookworm",
            security: Some("bookworm-security"),
        }],
    },
    KnownKernel {
        name: "6.12",
        suites: &[
            SuiteDef {
                suite: "trixie",
                security: Some("trixie-security"),
            },
            SuiteDef {
                suite: "bookworm-backports",
                security: None,
            },
        ],
    },
    KnownKernel {
        name: "sid",
        suites: &[SuiteDef {
            suite: "sid",
            security: None,
        }],
    },
];

/// The names of the kernels isoprobe knows, oldest first.
pub fn known_names() -> Vec<&'static str> {
    KNOWN.iter().map(|k| k.name).collect()
}

/// `$XDG_CACHE_HOME/isoprobe`, else `~/.cache/isoprobe`.
pub fn cache_dir() -> PathBuf {
    let xdg = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let home = || {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .map(|h| h.join(".cache"))
    };
    xdg.or_else(home)
        .unwrap_or_else(std::env::temp_dir)
        .join("isoprobe")
}

/// What `kernels.json` holds.
#[derive(Debug, Serialize, Deserialize)]
struct CacheFile {
    /// Unix seconds of the resolution.
    resolved_at: u64,
    kernels: Vec<KernelSpec>,
}

fn cache_file() -> PathBuf {
    cache_dir().join("kernels.json")
}

/// The known kernels, resolved from the archive (cached in cache_dir()/kernels.json; `refresh`
/// re-resolves). A kernel whose suite cannot be resolved is left out with a message through
/// `progress`, and the partial result is not cached; it is an error only when none resolves.
pub fn known(refresh: bool, progress: &dyn Fn(&str)) -> Result<Vec<KernelSpec>, String> {
    if !refresh {
        if let Some(specs) = read_cache() {
            return Ok(specs);
        }
    }
    let started = Instant::now();
    let mut specs = Vec::new();
    let mut failures = Vec::new();
    for k in KNOWN {
        match resolve_kernel(k, progress) {
            Ok(s) => specs.push(s),
            Err(e) => {
                progress(&format!("{}: not resolved: {e}", k.name));
                failures.push(format!("{}: {e}", k.name));
            }
        }
    }
    progress(&format!(
        "resolved {} of {} kernels in {:.1} s",
        specs.len(),
        KNOWN.len(),
        started.elapsed().as_secs_f64()
    ));
    if specs.is_empty() {
        return Err(format!(
            "no kernel could be resolved from the Debian archive ({}): {}",
            apt::mirror(),
            failures.join("; ")
        ));
    }
    if failures.is_empty() {
        write_cache(&specs)?;
    }
    Ok(specs)
}

fn read_cache() -> Option<Vec<KernelSpec>> {
    let text = std::fs::read_to_string(cache_file()).ok()?;
    let c: CacheFile = serde_json::from_str(&text).ok()?;
    // A cache written when the table named other kernels is stale.
    let names: Vec<&str> = c.kernels.iter().map(|k| k.name.as_str()).collect();
    (names == known_names()).then_some(c.kernels)
}

fn write_cache(specs: &[KernelSpec]) -> Result<(), String> {
    let path = cache_file();
    let resolved_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let text = serde_json::to_string_pretty(&CacheFile {
        resolved_at,
        kernels: specs.to_vec(),
    })
    .map_err(|e| format!("cannot serialize the kernel list: {e}"))?;
    write_atomically(&path, text.as_bytes())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).map_err(|e| format!("cannot write `{}`: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write `{}`: {e}", path.display())
    })
}

fn sources(def: &SuiteDef) -> Vec<Source> {
    let mut v = vec![Source {
        uri: apt::mirror(),
        suite: def.suite.to_string(),
    }];
    if let Some(sec) = def.security {
        v.push(Source {
            uri: apt::security_mirror(),
            suite: sec.to_string(),
        });
    }
    v
}

/// The private apt of `suite` with its lists, updating it if it has none yet (or `update`).
fn suite_apt(
    def: &SuiteDef,
    update: bool,
    what: &str,
    progress: &dyn Fn(&str),
) -> Result<(PrivateApt, DirLock), String> {
    let dir = cache_dir().join("apt").join(def.suite);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    // apt's own lock fails at once when busy; two isoprobe processes wait for each other.
    let lock = DirLock::take(&dir.join(".isoprobe.lock"))?;
    let apt = PrivateApt::prepare(&dir, &sources(def))?;
    if update || !apt.has_lists() {
        let names: Vec<String> = sources(def).into_iter().map(|s| s.suite).collect();
        progress(&format!(
            "{what}: apt-get update {} (private config in {})",
            names.join(" + "),
            dir.display()
        ));
        // A failed update still leaves apt's 50 MB binary cache behind.
        let took = apt.update().inspect_err(|_| apt.drop_binary_cache())?;
        progress(&format!(
            "{what}: lists of {} updated in {:.1} s",
            def.suite,
            took.as_secs_f64()
        ));
    }
    Ok((apt, lock))
}

fn resolve_kernel(k: &KnownKernel, progress: &dyn Fn(&str)) -> Result<KernelSpec, String> {
    let mut errors = Vec::new();
    for def in k.suites {
        let attempt = suite_apt(def, true, k.name, progress).and_then(|(apt, _lock)| {
            let r = resolve_with(k.name, def.suite, &|p| apt.show(p));
            apt.drop_binary_cache();
            r
        });
        match attempt {
            Ok(spec) => {
                progress(&format!(
                    "{}: {} {} ({}) from {}",
                    k.name, spec.package, spec.version, spec.release, spec.suite
                ));
                return Ok(spec);
            }
            Err(e) => {
                if k.suites.len() > 1 {
                    progress(&format!("{}: {} did not do: {e}", k.name, def.suite));
                }
                errors.push(format!("{}: {e}", def.suite));
            }
        }
    }
    Err(errors.join("; "))
}

/// Resolves kernel `name` in `suite` from the records `show` gives: the metapackage's
/// `linux-image-<release>` dependency, then (split images) that package's `linux-binary-*`.
fn resolve_with(
    name: &str,
    suite: &str,
    show: &dyn Fn(&str) -> Result<Stanza, String>,
) -> Result<KernelSpec, String> {
    let meta = show(METAPACKAGE)?;
    let image = image_dependency(&meta).ok_or_else(|| {
        format!(
            "{METAPACKAGE} {} depends on no linux-image-* package: {}",
            meta.get("Version").unwrap_or("?"),
            meta.get("Depends").unwrap_or("")
        )
    })?;
    let release = release_of(&image);
    let image_rec = show(&image)?;
    let (package, record) = match binary_dependency(&image_rec) {
        Some(bin) => {
            let r = show(&bin)?;
            (bin, r)
        }
        None => (image, image_rec),
    };
    let version = record
        .get("Version")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("{package} has no Version"))?
        .to_string();
    if !release_matches(name, &release) {
        return Err(format!(
            "{METAPACKAGE} in {suite} is now kernel {release}, not {name}"
        ));
    }
    Ok(KernelSpec {
        name: name.to_string(),
        suite: suite.to_string(),
        package,
        version,
        release,
    })
}

/// The metapackage's versioned image dependency (not its -dbg, not linux-base-*).
fn image_dependency(meta: &Stanza) -> Option<String> {
    meta.depends()
        .into_iter()
        .flatten()
        .map(|d| d.name)
        .find(|n| n.starts_with("linux-image-") && !n.ends_with("-dbg") && n != METAPACKAGE)
}

/// Since the image split (sid, 2026), `linux-image-<release>` is empty and depends on
/// `linux-binary-<release>`, which holds usr/lib/modules/<release>/vmlinuz.
fn binary_dependency(image: &Stanza) -> Option<String> {
    image
        .depends()
        .into_iter()
        .flatten()
        .map(|d| d.name)
        .find(|n| n.starts_with("linux-binary-"))
}

/// `linux-image-5.10.0-46-cloud-amd64(-unsigned)` → `5.10.0-46-cloud-amd64`.
fn release_of(image_package: &str) -> String {
    let r = image_package
        .strip_prefix("linux-image-")
        .unwrap_or(image_package);
    r.strip_suffix("-unsigned").unwrap_or(r).to_string()
}

/// "6.1" accepts 6.1.0-50-cloud-amd64 but not 6.12.95+deb12-cloud-amd64; a word (sid) accepts
/// whatever its suite has.
fn release_matches(name: &str, release: &str) -> bool {
    if !name.starts_with(|c: char| c.is_ascii_digit()) {
        return true;
    }
    release
        .strip_prefix(name)
        .is_some_and(|rest| rest.starts_with(['.', '-', '+']))
}

/// `all` or a comma list of names → the specs, in the order given (`all`: every one).
pub fn select(specs: &[KernelSpec], names: &str) -> Result<Vec<KernelSpec>, String> {
    let wanted: Vec<&str> = names
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    if wanted.is_empty() {
        return Err(format!(
            "no kernel named; pass `all` or a comma list of: {}",
            names_of(specs)
        ));
    }
    if wanted.iter().any(|n| n.eq_ignore_ascii_case("all")) {
        return Ok(specs.to_vec());
    }
    let unknown: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|n| !specs.iter().any(|s| s.name == *n))
        .collect();
    if !unknown.is_empty() {
        let unresolved: Vec<&str> = unknown
            .iter()
            .copied()
            .filter(|n| known_names().contains(n))
            .collect();
        let mut msg = format!(
            "unknown kernel{} {}; known: {} (or `all`)",
            if unknown.len() > 1 { "s" } else { "" },
            unknown.join(", "),
            names_of(specs)
        );
        if !unresolved.is_empty() {
            msg.push_str(&format!(
                "; {} could not be resolved from the archive this time: try `isoprobe kernels \
                 --refresh`",
                unresolved.join(", ")
            ));
        }
        return Err(msg);
    }
    let mut out: Vec<KernelSpec> = Vec::new();
    for n in wanted {
        if !out.iter().any(|s| s.name == n) {
            out.extend(specs.iter().filter(|s| s.name == n).cloned());
        }
    }
    Ok(out)
}

fn names_of(specs: &[KernelSpec]) -> String {
    specs
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where `fetch` keeps the vmlinuz of `k`.
pub fn vmlinuz_path(k: &KernelSpec) -> PathBuf {
    cache_dir().join("kernels").join(&k.release).join("vmlinuz")
}

/// Downloads (cached: a second call downloads nothing) and extracts only the vmlinuz of `k`.
pub fn fetch(k: &KernelSpec, progress: &dyn Fn(&str)) -> Result<KernelFiles, String> {
    let vmlinuz = vmlinuz_path(k);
    let files = || KernelFiles {
        vmlinuz: vmlinuz.clone(),
        release: k.release.clone(),
    };
    let kdir = vmlinuz.parent().unwrap_or(Path::new(".")).to_path_buf();
    std::fs::create_dir_all(&kdir)
        .map_err(|e| format!("cannot create `{}`: {e}", kdir.display()))?;
    // Parallel matrix jobs may fetch the same kernel: one downloads, the others then find it.
    let _lock = DirLock::take(&kdir.join(".lock"))?;
    if is_nonempty_file(&vmlinuz) {
        progress(&format!("{}: cached {}", k.name, vmlinuz.display()));
        return Ok(files());
    }
    let debs = cache_dir().join("debs");
    std::fs::create_dir_all(&debs)
        .map_err(|e| format!("cannot create `{}`: {e}", debs.display()))?;
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
        file_mb(&vmlinuz),
        t.elapsed().as_secs_f64()
    ));
    Ok(files())
}

fn download(k: &KernelSpec, debs: &Path, progress: &dyn Fn(&str)) -> Result<PathBuf, String> {
    let def = KNOWN
        .iter()
        .flat_map(|kk| kk.suites.iter())
        .find(|d| d.suite == k.suite)
        .ok_or_else(|| format!("{}: unknown suite {}", k.name, k.suite))?;
    let (apt, _lock) = suite_apt(def, false, &k.name, progress)?;
    let result = download_with(&apt, k, debs, progress);
    apt.drop_binary_cache();
    result
}

fn download_with(
    apt: &PrivateApt,
    k: &KernelSpec,
    debs: &Path,
    progress: &dyn Fn(&str),
) -> Result<PathBuf, String> {
    let stale = || {
        format!(
            "{} {} {} is no longer in the archive's index; run `isoprobe kernels --refresh` to \
             resolve the kernels again",
            k.name, k.package, k.version
        )
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
    let name = apt::download_name(&rec)
        .ok_or_else(|| format!("{}: the record of {} has no Filename", k.name, k.package))?;
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
        .map_err(|e| format!("cannot create a directory in `{}`: {e}", debs.display()))?;
    let got = apt.download(&k.package, &k.version, &name, partial.path())?;
    let dest = debs.join(&name);
    std::fs::rename(&got, &dest)
        .map_err(|e| format!("cannot move the download to `{}`: {e}", dest.display()))?;
    progress(&format!(
        "{}: downloaded {} in {:.1} s",
        k.name,
        dest.display(),
        t.elapsed().as_secs_f64()
    ));
    Ok(dest)
}

/// A downloaded `<package>_<version>_<arch>.deb` (apt writes an epoch's ':' as %3a).
fn find_deb(debs: &Path, package: &str, version: &str) -> Option<PathBuf> {
    let prefix = format!("{package}_{}_", version.replace(':', "%3a"));
    std::fs::read_dir(debs).ok()?.flatten().find_map(|e| {
        let n = e.file_name().to_string_lossy().into_owned();
        (n.starts_with(&prefix) && n.ends_with(".deb") && is_nonempty_file(&e.path()))
            .then(|| e.path())
    })
}

/// Unpacks `deb` into a temporary directory next to the cache and moves its vmlinuz to `dest`.
fn extract_vmlinuz(deb: &Path, release: &str, dest: &Path) -> Result<(), String> {
    let tmp_parent = cache_dir().join("tmp");
    std::fs::create_dir_all(&tmp_parent)
        .map_err(|e| format!("cannot create `{}`: {e}", tmp_parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix("extract-")
        .tempdir_in(&tmp_parent)
        .map_err(|e| {
            format!(
                "cannot create a directory in `{}`: {e}",
                tmp_parent.display()
            )
        })?;
    let out = std::process::Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(tmp.path())
        .output()
        .map_err(|e| format!("cannot run dpkg-deb: {e} (isoprobe needs dpkg)"))?;
    if !out.status.success() {
        return Err(format!(
            "dpkg-deb -x {} failed: {}",
            deb.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let found = vmlinuz_candidates(release)
        .into_iter()
        .map(|rel| tmp.path().join(rel))
        .find(|p| is_nonempty_file(p))
        .ok_or_else(|| {
            format!(
                "{} holds no vmlinuz for {release} (looked in {})",
                deb.display(),
                vmlinuz_candidates(release).join(", ")
            )
        })?;
    let part = dest.with_extension("part");
    // Same filesystem (both under the cache): a rename, and `dest` appears complete or not at all.
    std::fs::rename(&found, &part)
        .or_else(|_| std::fs::copy(&found, &part).map(|_| ()))
        .map_err(|e| format!("cannot write `{}`: {e}", part.display()))?;
    std::fs::rename(&part, dest).map_err(|e| format!("cannot write `{}`: {e}", dest.display()))
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

fn is_nonempty_file(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.len() > 0)
}

fn file_mb(p: &Path) -> f64 {
    std::fs::metadata(p)
        .map(|m| m.len() as f64 / 1e6)
        .unwrap_or(0.0)
}

/// The list as a table, and where the cache is and how much it holds.
pub fn render_text(specs: &[KernelSpec]) -> String {
    let mut t = Table::with_head(["NAME", "SUITE", "RELEASE", "PACKAGE", "VERSION", "FETCHED"]);
    for k in specs {
        let fetched = if is_nonempty_file(&vmlinuz_path(k)) {
            "yes"
        } else {
            "no"
        };
        t.push([
            k.name.as_str(),
            &k.suite,
            &k.release,
            &k.package,
            &k.version,
            fetched,
        ]);
    }
    let mut out = t.text();
    out.push_str(&format!(
        "cache: {} ({:.0} MB)\n",
        cache_dir().display(),
        cache_size() as f64 / 1e6
    ));
    out
}

/// The specs as a JSON array, each with `vmlinuz`: its cached path, or null before `fetch`.
pub fn render_json(specs: &[KernelSpec]) -> String {
    let v: Vec<serde_json::Value> = specs
        .iter()
        .map(|k| {
            let mut o = serde_json::to_value(k).unwrap_or_default();
            let p = vmlinuz_path(k);
            o["vmlinuz"] = if is_nonempty_file(&p) {
                serde_json::Value::String(p.display().to_string())
            } else {
                serde_json::Value::Null
            };
            o
        })
        .collect();
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

/// Bytes used under the cache directory.
pub fn cache_size() -> u64 {
    fn walk(p: &Path) -> u64 {
        let Ok(m) = std::fs::symlink_metadata(p) else {
            return 0;
        };
        if m.is_dir() {
            std::fs::read_dir(p)
                .map(|rd| rd.flatten().map(|e| walk(&e.path())).sum())
                .unwrap_or(0)
        } else {
            m.len()
        }
    }
    walk(&cache_dir())
}

/// An exclusive `flock` on a file, released on drop.
struct DirLock {
    _flock: nix::fcntl::Flock<File>,
}

impl DirLock {
    fn take(path: &Path) -> Result<DirLock, String> {
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| format!("cannot open the lock `{}`: {e}", path.display()))?;
        nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
            .map(|f| DirLock { _flock: f })
            .map_err(|(_, e)| format!("cannot lock `{}`: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmatrix::apt::parse_stanzas;

    fn records(texts: &[&str]) -> impl Fn(&str) -> Result<Stanza, String> {
        let all: Vec<Stanza> = texts.iter().flat_map(|t| parse_stanzas(t)).collect();
        move |p: &str| {
            all.iter()
                .find(|s| s.get("Package") == Some(p))
                .cloned()
                .ok_or_else(|| format!("no record of {p}"))
        }
    }

    const META_BULLSEYE: &str =
        include_str!("../../../fixtures/apt/show-linux-image-cloud-amd64-bullseye");
    const IMAGE_BULLSEYE: &str = include_str!("../../../fixtures/apt/show-linux-image-bullseye");
    const META_BPO: &str =
        include_str!("../../../fixtures/apt/show-linux-image-cloud-amd64-bookworm-backports");
    const META_SID: &str = include_str!("../../../fixtures/apt/show-linux-image-cloud-amd64-sid");
    const IMAGE_SID: &str = include_str!("../../../fixtures/apt/show-linux-image-sid");
    const BINARY_SID: &str = include_str!("../../../fixtures/apt/show-linux-binary-sid");

    #[test]
    fn unsplit_image_is_the_metapackage_dependency() {
        let show = records(&[META_BULLSEYE, IMAGE_BULLSEYE]);
        let k = resolve_with("5.10", "bullseye", &show).unwrap();
        assert_eq!(k.name, "5.10");
        assert_eq!(k.suite, "bullseye");
        assert!(k.package.starts_with("linux-image-5.10.0-"), "{k:?}");
        assert!(k.release.starts_with("5.10.0-") && k.release.ends_with("-cloud-amd64"));
        assert_eq!(k.package, format!("linux-image-{}", k.release));
        assert!(k.version.starts_with("5.10."));
    }

    #[test]
    fn split_image_resolves_to_its_binary_package() {
        let show = records(&[META_SID, IMAGE_SID, BINARY_SID]);
        let k = resolve_with("sid", "sid", &show).unwrap();
        assert_eq!(k.package, format!("linux-binary-{}", k.release));
        assert!(k.release.ends_with("-cloud-amd64"));
        let bin = &parse_stanzas(BINARY_SID)[0];
        assert_eq!(Some(k.version.as_str()), bin.get("Version"));
    }

    #[test]
    fn a_suite_that_moved_on_is_not_taken_for_the_name() {
        let show = records(&[META_BPO]);
        // Backports' metapackage names its image; a record-less image fails later, so only
        // the release check is exercised with a name that cannot match.
        let meta = show(METAPACKAGE).unwrap();
        let image = image_dependency(&meta).unwrap();
        let release = release_of(&image);
        assert!(release_matches("6.12", &release), "{release}");
        assert!(!release_matches("6.1", &release));
    }

    #[test]
    fn release_check_needs_a_separator_after_the_name() {
        assert!(release_matches("6.1", "6.1.0-50-cloud-amd64"));
        assert!(!release_matches("6.1", "6.12.95+deb12-cloud-amd64"));
        assert!(release_matches("6.12", "6.12.95+deb12-cloud-amd64"));
        assert!(release_matches("sid", "7.2.13+deb14-cloud-amd64"));
        assert!(!release_matches("5.10", "6.1.0-50-cloud-amd64"));
    }

    #[test]
    fn release_is_the_image_name_without_prefix_and_unsigned() {
        assert_eq!(
            release_of("linux-image-6.1.0-50-cloud-amd64"),
            "6.1.0-50-cloud-amd64"
        );
        assert_eq!(
            release_of("linux-image-6.1.0-50-amd64-unsigned"),
            "6.1.0-50-amd64"
        );
    }

    #[test]
    fn missing_image_dependency_is_an_error_naming_the_depends() {
        let show =
            |_: &str| {
                Ok(parse_stanzas(
                    "Package: linux-image-cloud-amd64\nVersion: 1\nDepends: linux-base\n",
                )
                .remove(0))
            };
        let e = resolve_with("6.1", "bookworm", &show).unwrap_err();
        assert!(e.contains("depends on no linux-image-*") && e.contains("linux-base"));
    }

    fn spec(name: &str) -> KernelSpec {
        KernelSpec {
            name: name.into(),
            suite: "s".into(),
            package: "p".into(),
            version: "v".into(),
            release: format!("{name}.0-1-cloud-amd64"),
        }
    }

    #[test]
    fn select_all_and_lists() {
        let specs: Vec<KernelSpec> = ["5.10", "6.1", "6.12", "sid"]
            .into_iter()
            .map(spec)
            .collect();
        assert_eq!(select(&specs, "all").unwrap(), specs);
        let two = select(&specs, " sid,5.10 ,sid").unwrap();
        let names: Vec<&str> = two.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(names, ["sid", "5.10"]);
    }

    #[test]
    fn select_names_unknown_and_known() {
        let specs: Vec<KernelSpec> = ["5.10", "6.1"].into_iter().map(spec).collect();
        let e = select(&specs, "6.1,4.19,sid").unwrap_err();
        assert!(e.contains("unknown kernels 4.19, sid"), "{e}");
        assert!(e.contains("known: 5.10, 6.1"), "{e}");
        // sid is in the table but was not resolved: say so.
        assert!(e.contains("sid could not be resolved"), "{e}");
        assert!(select(&specs, " , ").is_err());
    }

    #[test]
    fn vmlinuz_is_looked_for_in_boot_then_modules() {
        let c = vmlinuz_candidates("7.2.13+deb14-cloud-amd64");
        assert_eq!(c[0], "boot/vmlinuz-7.2.13+deb14-cloud-amd64");
        assert_eq!(c[1], "usr/lib/modules/7.2.13+deb14-cloud-amd64/vmlinuz");
    }

    #[test]
    fn cached_deb_is_found_by_package_and_version() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("linux-image-x_1.2-1_amd64.deb"), b"x").unwrap();
        std::fs::write(d.path().join("linux-image-x_1.2-10_amd64.deb"), b"x").unwrap();
        let f = find_deb(d.path(), "linux-image-x", "1.2-1").unwrap();
        assert!(f.ends_with("linux-image-x_1.2-1_amd64.deb"));
        assert!(find_deb(d.path(), "linux-image-x", "1.3-1").is_none());
    }
}
