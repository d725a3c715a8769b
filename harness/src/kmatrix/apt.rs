//! A private apt configuration per Debian suite, under the cache directory, used only for
//! `update`, `show` and `download`.
//!
//! The system's /etc/apt is never touched: adding bullseye, trixie or sid there would make the
//! machine's own upgrades pull from them. `apt-get -c FILE` still reads /etc/apt/apt.conf.d
//! first, so the config below overrides every directory apt would use and `#clear`s the hooks
//! and index targets the host installed (see `config_text`).

use super::error::{IoStep, ToolError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The archive the system's own sources use (/etc/apt/sources.list.d/debian.sources), reachable
/// here; `ISOPROBE_DEBIAN_MIRROR` / `ISOPROBE_DEBIAN_SECURITY_MIRROR` point elsewhere.
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
pub const DEFAULT_SECURITY_MIRROR: &str = "http://deb.debian.org/debian-security";
pub const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

pub fn mirror() -> String {
    env_or("ISOPROBE_DEBIAN_MIRROR", DEFAULT_MIRROR)
}

pub fn security_mirror() -> String {
    env_or("ISOPROBE_DEBIAN_SECURITY_MIRROR", DEFAULT_SECURITY_MIRROR)
}

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(|v| v.trim().trim_end_matches('/').to_string())
        .unwrap_or_else(|| default.to_string())
}

/// Why a private apt could not be set up or did not give what was asked.
#[derive(Debug, thiserror::Error)]
pub enum AptError {
    #[error(transparent)]
    Io(#[from] IoStep),
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error("apt-get update in `{}` brought no Packages index", dir.display())]
    NoLists { dir: PathBuf },
    #[error("apt-cache show {package}: no record of it")]
    NoRecord { package: String },
    #[error("apt-get download {package}={version} left no `{}`", path.display())]
    NotDownloaded {
        package: String,
        version: String,
        path: PathBuf,
    },
}

/// One `deb` line: an archive and a suite (component main).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub uri: String,
    pub suite: String,
}

/// The one-line sources.list for `sources`.
pub fn sources_text(sources: &[Source]) -> String {
    sources
        .iter()
        .map(|s| format!("deb [signed-by={KEYRING}] {} {} main\n", s.uri, s.suite))
        .collect()
}

/// The apt.conf of a private configuration rooted at `dir`.
pub fn config_text(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"// Written by isoprobe: a private apt configuration for `apt-get -c`. Not for installing.
Dir::State "{d}/state";
Dir::State::Lists "{d}/lists";
Dir::State::Status "{d}/status";
Dir::State::extended_states "{d}/state/extended_states";
Dir::Cache "{d}/cache";
Dir::Cache::archives "{d}/cache/archives";
// The host's docker-clean config empties this, which makes every query re-parse every list.
Dir::Cache::pkgcache "pkgcache.bin";
Dir::Cache::srcpkgcache "";
Dir::Etc::SourceList "{d}/sources.list";
Dir::Etc::SourceParts "{d}/sources.list.d";
Dir::Etc::Preferences "{d}/preferences";
Dir::Etc::PreferencesParts "{d}/preferences.d";
Dir::Log "{d}/log";
APT::Architectures {{ "amd64"; }};
APT::Architecture "amd64";
Acquire::Languages "none";
Acquire::http::Timeout "30";
Acquire::Retries "2";
// The host's hooks (PackageKit, appstream, docker-clean) are not ours to run.
#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
#clear APT::Update::Pre-Invoke;
#clear DPkg::Post-Invoke;
#clear DPkg::Pre-Invoke;
#clear DPkg::Pre-Install-Pkgs;
// Only the Packages index is needed: no DEP-11 metadata, icons, or command-not-found data.
#clear Acquire::IndexTargets::deb::DEP-11;
#clear Acquire::IndexTargets::deb::DEP-11-icons-small;
#clear Acquire::IndexTargets::deb::DEP-11-icons;
#clear Acquire::IndexTargets::deb::DEP-11-icons-hidpi;
#clear Acquire::IndexTargets::deb::DEP-11-icons-large;
#clear Acquire::IndexTargets::deb::DEP-11-icons-large-hidpi;
#clear Acquire::IndexTargets::deb::CNF;
#clear Acquire::IndexTargets::deb::Contents-deb;
"#
    )
}

/// A private apt configuration in its own directory.
#[derive(Debug, Clone)]
pub struct PrivateApt {
    dir: PathBuf,
}

impl PrivateApt {
    /// Writes (or rewrites) the configuration for `sources` under `dir`; lists already
    /// downloaded there are kept.
    pub fn prepare(dir: &Path, sources: &[Source]) -> Result<PrivateApt, AptError> {
        for sub in [
            "state",
            "lists/partial",
            "cache/archives/partial",
            "sources.list.d",
            "preferences.d",
            "log",
        ] {
            let p = dir.join(sub);
            std::fs::create_dir_all(&p).map_err(IoStep::on("create", &p))?;
        }
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).map_err(IoStep::on("write", &p))
        };
        // An empty status: apt must believe nothing is installed, so the candidate is simply
        // the newest version the sources offer.
        write("status", "")?;
        write("sources.list", &sources_text(sources))?;
        write("apt.conf", &config_text(dir))?;
        Ok(PrivateApt {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn conf(&self) -> PathBuf {
        self.dir.join("apt.conf")
    }

    /// Whether `update` has already brought a Packages index.
    pub fn has_lists(&self) -> bool {
        std::fs::read_dir(self.dir.join("lists"))
            .map(|rd| {
                rd.flatten()
                    .any(|e| e.file_name().to_string_lossy().contains("_Packages"))
            })
            .unwrap_or(false)
    }

    /// `apt-get update` in this configuration; returns how long it took.
    pub fn update(&self) -> Result<Duration, AptError> {
        let t = Instant::now();
        // Error-Mode any: a suite that fails to download must be an error, not a warning
        // that leaves stale lists behind.
        self.run(
            "apt-get",
            &["-q", "-o", "APT::Update::Error-Mode=any", "update"],
            None,
        )?;
        if !self.has_lists() {
            return Err(AptError::NoLists {
                dir: self.dir.clone(),
            });
        }
        Ok(t.elapsed())
    }

    /// The candidate version's record of `package` (`apt-cache show --no-all-versions`).
    pub fn show(&self, package: &str) -> Result<Stanza, AptError> {
        let out = self.run(
            "apt-cache",
            &["show", "--no-all-versions", "--", package],
            None,
        )?;
        parse_stanzas(&out)
            .into_iter()
            .find(|s| s.get("Package") == Some(package))
            .ok_or_else(|| AptError::NoRecord {
                package: package.to_string(),
            })
    }

    /// Every version's record of `package` the lists hold (`apt-cache show`).
    pub fn records(&self, package: &str) -> Result<Vec<Stanza>, AptError> {
        let out = self.run("apt-cache", &["show", "--", package], None)?;
        Ok(parse_stanzas(&out)
            .into_iter()
            .filter(|s| s.get("Package") == Some(package))
            .collect())
    }

    /// Downloads `package`=`version` into `dir` (`apt-get download`, which checks the hash the
    /// signed index gives) and returns the file's path.
    pub fn download(
        &self,
        package: &str,
        version: &str,
        filename: &str,
        dir: &Path,
    ) -> Result<PathBuf, AptError> {
        self.run(
            "apt-get",
            &["-q", "download", "--", &format!("{package}={version}")],
            Some(dir),
        )?;
        let p = dir.join(filename);
        if p.is_file() {
            Ok(p)
        } else {
            Err(AptError::NotDownloaded {
                package: package.to_string(),
                version: version.to_string(),
                path: p,
            })
        }
    }

    /// Removes the binary package cache (about 50 MB per suite); apt rebuilds it from the lists
    /// in under a second when it is next needed.
    pub fn drop_binary_cache(&self) {
        let _ = std::fs::remove_file(self.dir.join("cache/pkgcache.bin"));
    }

    fn run(&self, program: &str, args: &[&str], cwd: Option<&Path>) -> Result<String, ToolError> {
        let conf = self.conf();
        let mut cmd = Command::new(program);
        cmd.arg("-c").arg(&conf).args(args).env("LC_ALL", "C");
        if let Some(d) = cwd {
            cmd.current_dir(d);
        }
        let shown = format!("{program} -c {} {}", conf.display(), args.join(" "));
        let out = cmd.output().map_err(|source| ToolError::Start {
            command: shown.clone(),
            source,
            advice: "is apt installed? isoprobe needs apt-get and apt-cache",
        })?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(ToolError::failed(shown, out.status, &out.stderr, 6))
        }
    }
}

/// One record of `apt-cache show`: fields by name, continuation lines joined with '\n'.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stanza(BTreeMap<String, String>);

impl Stanza {
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    /// The parsed `Depends` (and `Pre-Depends`) field.
    pub fn depends(&self) -> Vec<Vec<Dep>> {
        ["Pre-Depends", "Depends"]
            .iter()
            .filter_map(|f| self.get(f))
            .flat_map(parse_depends)
            .collect()
    }
}

/// Splits deb822 text (records separated by blank lines) into records.
pub fn parse_stanzas(text: &str) -> Vec<Stanza> {
    let mut out = Vec::new();
    let mut cur = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(Stanza(std::mem::take(&mut cur)));
            }
            last = None;
        } else if line.starts_with([' ', '\t']) {
            if let Some(v) = last.as_ref().and_then(|k| cur.get_mut(k)) {
                v.push('\n');
                v.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            cur.insert(k.to_string(), v.trim().to_string());
            last = Some(k.to_string());
        }
    }
    if !cur.is_empty() {
        out.push(Stanza(cur));
    }
    out
}

/// One alternative of a dependency: `name (op version)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    pub name: String,
    pub constraint: Option<(String, String)>,
}

/// `a (= 1), b | c (>= 2)` → `[[a (=1)], [b, c (>= 2)]]`; architecture qualifiers (`:any`) and
/// restrictions (`[amd64]`, `<!nocheck>`) are dropped.
pub fn parse_depends(field: &str) -> Vec<Vec<Dep>> {
    field
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(|group| {
            group
                .split('|')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(parse_alternative)
                .collect()
        })
        .collect()
}

fn parse_alternative(a: &str) -> Dep {
    let (head, constraint) = match a.split_once('(') {
        Some((h, rest)) => {
            let inside = rest.split(')').next().unwrap_or("").trim();
            let op_len = inside
                .find(|c: char| !matches!(c, '<' | '>' | '='))
                .unwrap_or(inside.len());
            let (op, ver) = inside.split_at(op_len);
            (h, Some((op.trim().to_string(), ver.trim().to_string())))
        }
        None => (a, None),
    };
    let name = head
        .split(['[', '<'])
        .next()
        .unwrap_or("")
        .trim()
        .split(':')
        .next()
        .unwrap_or("")
        .to_string();
    Dep { name, constraint }
}

/// The file name `apt-get download` saves a package under: the last part of its `Filename`.
pub fn download_name(stanza: &Stanza) -> Option<String> {
    stanza
        .get("Filename")
        .and_then(|f| f.rsplit('/').next())
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    const META_SID: &str = include_str!("../../../fixtures/apt/show-linux-image-cloud-amd64-sid");
    const IMAGE_SID: &str = include_str!("../../../fixtures/apt/show-linux-image-sid");

    #[test]
    fn stanzas_split_on_blank_lines_and_keep_continuations() {
        let text = "Package: a\nDescription: short\n more\n .\n end\n\nPackage: b\nVersion: 1\n";
        let s = parse_stanzas(text);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].get("Description"), Some("short\nmore\n.\nend"));
        assert_eq!(s[1].get("Version"), Some("1"));
        assert_eq!(s[1].get("Depends"), None);
    }

    #[test]
    fn real_metapackage_record_parses() {
        let s = parse_stanzas(META_SID);
        assert_eq!(s.len(), 1);
        let m = &s[0];
        assert_eq!(m.get("Package"), Some("linux-image-cloud-amd64"));
        assert!(m.get("Version").is_some_and(|v| !v.is_empty()));
        let deps = m.depends();
        assert!(deps
            .iter()
            .flatten()
            .any(|d| d.name.starts_with("linux-image-") && d.constraint.is_some()));
        assert!(download_name(m)
            .unwrap()
            .starts_with("linux-image-cloud-amd64_"));
    }

    #[test]
    fn depends_with_alternatives_and_constraints() {
        let d = parse_depends(
            "dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, \
             linux-binary-7.2.13+deb14-cloud-amd64 (= 7.2.13-1), libc6:any [amd64] <!nocheck>",
        );
        assert_eq!(d.len(), 3);
        assert_eq!(d[0].len(), 3);
        assert_eq!(d[0][0].name, "dracut");
        assert_eq!(d[0][0].constraint, None);
        assert_eq!(
            d[0][1].constraint,
            Some((">=".to_string(), "0.120+deb8u2".to_string()))
        );
        assert_eq!(d[1][0].name, "linux-binary-7.2.13+deb14-cloud-amd64");
        assert_eq!(
            d[1][0].constraint,
            Some(("=".to_string(), "7.2.13-1".to_string()))
        );
        assert_eq!(d[2][0].name, "libc6");
    }

    #[test]
    fn real_split_image_record_names_its_binary_package() {
        let img = &parse_stanzas(IMAGE_SID)[0];
        assert!(img
            .depends()
            .iter()
            .flatten()
            .any(|d| d.name.starts_with("linux-binary-")));
    }

    #[test]
    fn config_overrides_every_directory_and_clears_host_hooks() {
        let c = config_text(Path::new("/c/apt/sid"));
        for key in [
            "Dir::State::Lists \"/c/apt/sid/lists\"",
            "Dir::State::Status \"/c/apt/sid/status\"",
            "Dir::Cache \"/c/apt/sid/cache\"",
            "Dir::Etc::SourceList \"/c/apt/sid/sources.list\"",
            "Dir::Etc::SourceParts \"/c/apt/sid/sources.list.d\"",
            "Dir::Etc::PreferencesParts \"/c/apt/sid/preferences.d\"",
            "Dir::Cache::pkgcache \"pkgcache.bin\"",
            "#clear APT::Update::Post-Invoke-Success;",
            "#clear DPkg::Post-Invoke;",
            "#clear Acquire::IndexTargets::deb::DEP-11;",
            "Acquire::Languages \"none\"",
        ] {
            assert!(c.contains(key), "missing {key}");
        }
        // Nothing may point at the system's state.
        assert!(!c.contains("/var/lib/apt"));
    }

    #[test]
    fn sources_name_the_keyring_and_main() {
        let s = sources_text(&[
            Source {
                uri: "http://deb.debian.org/debian".into(),
                suite: "bullseye".into(),
            },
            Source {
                uri: "http://deb.debian.org/debian-security".into(),
                suite: "bullseye-security".into(),
            },
        ]);
        assert_eq!(s.lines().count(), 2);
        assert!(s.starts_with(&format!(
            "deb [signed-by={KEYRING}] http://deb.debian.org/debian bullseye main"
        )));
    }
}
