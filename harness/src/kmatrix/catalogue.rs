//! Which kernels the matrix knows and how each is resolved from Debian's archive.
//!
//! Each kernel is whatever `linux-image-cloud-amd64` depends on in its suite (the cloud flavour:
//! the smallest image, with virtio built in). Resolution goes through a private apt
//! configuration per suite (`apt.rs`); the result is cached in `kernels.json` so that a run
//! needs the network only to download a kernel it has not seen.

use super::apt::{self, PrivateApt, Source, Stanza};
use super::cache::{self, cache_dir, DirLock};
use super::error::KernelError;
use serde::{Deserialize, Serialize};
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
    /// A kernel image the user gave (`matrix --kernel`), booted from there; none for Debian's,
    /// which are fetched into the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<std::path::PathBuf>,
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

/// The known kernels, resolved from the archive (cached in cache_dir()/kernels.json; `refresh`
/// re-resolves). A kernel whose suite cannot be resolved is left out with a message through
/// `progress`, and the partial result is not cached; it is an error only when none resolves.
pub fn known(refresh: bool, progress: &dyn Fn(&str)) -> Result<Vec<KernelSpec>, KernelError> {
    if !refresh {
        if let Some(specs) = cache::read_specs() {
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
                failures.push((k.name.to_string(), e));
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
        return Err(KernelError::NoneResolved {
            mirror: apt::mirror(),
            failures,
        });
    }
    if failures.is_empty() {
        cache::write_specs(&specs)?;
    }
    Ok(specs)
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
) -> Result<(PrivateApt, DirLock), KernelError> {
    let dir = cache_dir().join("apt").join(def.suite);
    cache::create_dir(&dir)?;
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

/// The private apt of the suite `k` was resolved from, for downloading it.
pub(crate) fn apt_of(
    k: &KernelSpec,
    progress: &dyn Fn(&str),
) -> Result<(PrivateApt, DirLock), KernelError> {
    let def = KNOWN
        .iter()
        .flat_map(|kk| kk.suites.iter())
        .find(|d| d.suite == k.suite)
        .ok_or_else(|| KernelError::UnknownSuite {
            name: k.name.clone(),
            suite: k.suite.clone(),
        })?;
    suite_apt(def, false, &k.name, progress)
}

fn resolve_kernel(k: &KnownKernel, progress: &dyn Fn(&str)) -> Result<KernelSpec, KernelError> {
    let mut errors = Vec::new();
    for def in k.suites {
        let attempt = suite_apt(def, true, k.name, progress).and_then(|(apt, _lock)| {
            let r = resolve_with(k.name, def.suite, &|p| Ok(apt.show(p)?));
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
                errors.push((def.suite.to_string(), e));
            }
        }
    }
    Err(KernelError::NoSuiteDid(errors))
}

/// Resolves kernel `name` in `suite` from the records `show` gives: the metapackage's
/// `linux-image-<release>` dependency, then (split images) that package's `linux-binary-*`.
fn resolve_with(
    name: &str,
    suite: &str,
    show: &dyn Fn(&str) -> Result<Stanza, KernelError>,
) -> Result<KernelSpec, KernelError> {
    let meta = show(METAPACKAGE)?;
    let image = image_dependency(&meta).ok_or_else(|| KernelError::NoImageDependency {
        metapackage: METAPACKAGE,
        version: meta.get("Version").unwrap_or("?").to_string(),
        depends: meta.get("Depends").unwrap_or("").to_string(),
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
        .ok_or_else(|| KernelError::NoVersion {
            package: package.clone(),
        })?
        .to_string();
    if !release_matches(name, &release) {
        return Err(KernelError::MovedOn {
            metapackage: METAPACKAGE,
            suite: suite.to_string(),
            release,
            name: name.to_string(),
        });
    }
    Ok(KernelSpec {
        name: name.to_string(),
        suite: suite.to_string(),
        package,
        version,
        release,
        image: None,
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
pub fn select(specs: &[KernelSpec], names: &str) -> Result<Vec<KernelSpec>, KernelError> {
    let wanted: Vec<&str> = names
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    if wanted.is_empty() {
        return Err(KernelError::NoneNamed {
            known: names_of(specs),
        });
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
        let unresolved = unknown
            .iter()
            .filter(|n| known_names().contains(n))
            .map(|n| n.to_string())
            .collect();
        return Err(KernelError::Unknown {
            unknown: unknown.iter().map(|n| n.to_string()).collect(),
            known: names_of(specs),
            unresolved,
        });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmatrix::apt::{parse_stanzas, AptError};

    fn records(texts: &[&str]) -> impl Fn(&str) -> Result<Stanza, KernelError> {
        let all: Vec<Stanza> = texts.iter().flat_map(|t| parse_stanzas(t)).collect();
        move |p: &str| {
            all.iter()
                .find(|s| s.get("Package") == Some(p))
                .cloned()
                .ok_or_else(|| AptError::NoRecord { package: p.into() }.into())
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
        let e = resolve_with("6.1", "bookworm", &show)
            .unwrap_err()
            .to_string();
        assert!(e.contains("depends on no linux-image-*") && e.contains("linux-base"));
    }

    fn spec(name: &str) -> KernelSpec {
        KernelSpec {
            name: name.into(),
            suite: "s".into(),
            package: "p".into(),
            version: "v".into(),
            release: format!("{name}.0-1-cloud-amd64"),
            image: None,
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
        let e = select(&specs, "6.1,4.19,sid").unwrap_err().to_string();
        assert!(e.contains("unknown kernels 4.19, sid"), "{e}");
        assert!(e.contains("known: 5.10, 6.1"), "{e}");
        // sid is in the table but was not resolved: say so.
        assert!(e.contains("sid could not be resolved"), "{e}");
        assert!(select(&specs, " , ").is_err());
    }
}
