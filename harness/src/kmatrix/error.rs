//! What can go wrong in the kernel matrix, each carrying what a person needs to act on it: the
//! step and path, the command with its exit status and the tail of its stderr, and advice.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

/// A file-system step on the cache or a work directory.
#[derive(Debug, thiserror::Error)]
#[error("cannot {step} `{}`: {source}", path.display())]
pub struct IoStep {
    /// What was being done, as a verb phrase: "create", "write", "lock".
    pub step: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl IoStep {
    /// For `map_err`: the step and path now, the error when it happens.
    pub fn on(step: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> IoStep {
        let path = path.into();
        move |source| IoStep { step, path, source }
    }
}

/// A helper program (apt-get, apt-cache, dpkg-deb, ldd) that could not be started or failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("cannot run `{command}`: {source} ({advice})")]
    Start {
        command: String,
        #[source]
        source: io::Error,
        /// Which package provides it.
        advice: &'static str,
    },
    #[error("`{command}` failed ({status}): {stderr_tail}")]
    Failed {
        command: String,
        status: ExitStatus,
        /// The last non-empty lines of its stderr, joined with ` | `.
        stderr_tail: String,
    },
}

impl ToolError {
    /// The last `lines` non-empty lines of `stderr`: where apt and dpkg say what went wrong.
    pub fn failed(command: String, status: ExitStatus, stderr: &[u8], lines: usize) -> ToolError {
        let text = String::from_utf8_lossy(stderr);
        let v: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        ToolError::Failed {
            command,
            status,
            stderr_tail: v[v.len().saturating_sub(lines)..].join(" | "),
        }
    }
}

/// Why a kernel could not be resolved from the archive, selected, or fetched.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error(transparent)]
    Io(#[from] IoStep),
    #[error(transparent)]
    Apt(#[from] super::apt::AptError),
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error("cannot serialize the kernel list: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("{metapackage} {version} depends on no linux-image-* package: {depends}")]
    NoImageDependency {
        metapackage: &'static str,
        version: String,
        depends: String,
    },
    #[error("{package} has no Version")]
    NoVersion { package: String },
    /// A suite that moved on to another kernel (backports does) is not taken for the name.
    #[error("{metapackage} in {suite} is now kernel {release}, not {name}")]
    MovedOn {
        metapackage: &'static str,
        suite: String,
        release: String,
        name: String,
    },
    /// Every suite tried for one kernel, each with why it did not do.
    #[error("{}", joined(.0))]
    NoSuiteDid(Vec<(String, KernelError)>),
    #[error(
        "no kernel could be resolved from the Debian archive ({mirror}): {}",
        joined(.failures)
    )]
    NoneResolved {
        mirror: String,
        failures: Vec<(String, KernelError)>,
    },
    #[error("no kernel named; pass `all` or a comma list of: {known}")]
    NoneNamed { known: String },
    #[error(
        "unknown kernel{} {}; known: {known} (or `all`){}",
        if .unknown.len() > 1 { "s" } else { "" },
        .unknown.join(", "),
        refresh_advice(.unresolved)
    )]
    Unknown {
        unknown: Vec<String>,
        known: String,
        /// Names in the catalogue that the archive did not resolve this time.
        unresolved: Vec<String>,
    },
    #[error("{name}: unknown suite {suite}")]
    UnknownSuite { name: String, suite: String },
    #[error(
        "{name} {package} {version} is no longer in the archive's index; run `isoprobe kernels \
         --refresh` to resolve the kernels again"
    )]
    NotInIndex {
        name: String,
        package: String,
        version: String,
    },
    #[error("{name}: the record of {package} has no Filename")]
    NoFilename { name: String, package: String },
    #[error("{} holds no vmlinuz for {release} (looked in {})", deb.display(), .looked_in.join(", "))]
    NoVmlinuz {
        deb: PathBuf,
        release: String,
        looked_in: Vec<String>,
    },
}

fn joined(failures: &[(String, KernelError)]) -> String {
    failures
        .iter()
        .map(|(what, e)| format!("{what}: {e}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn refresh_advice(unresolved: &[String]) -> String {
    if unresolved.is_empty() {
        String::new()
    } else {
        format!(
            "; {} could not be resolved from the archive this time: try `isoprobe kernels \
             --refresh`",
            unresolved.join(", ")
        )
    }
}

/// Why the guest's initramfs could not be built.
#[derive(Debug, thiserror::Error)]
pub enum InitramfsError {
    #[error(transparent)]
    Io(#[from] IoStep),
    #[error(transparent)]
    Tool(#[from] ToolError),
    /// The guest could not run isoprobe without it.
    #[error("ldd: the library {name} is not found")]
    LibraryNotFound { name: String },
    #[error("unexpected library path `{}`", path.display())]
    LibraryPath { path: PathBuf },
    #[error("cannot write the cpio archive: {0}")]
    Cpio(#[source] io::Error),
}

/// A newc archive that does not read back.
#[derive(Debug, thiserror::Error)]
#[error("{what} at byte {offset}")]
pub struct CpioError {
    pub what: String,
    pub offset: usize,
}

/// Why a boot under QEMU gave no console to look at.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("the {what} `{}` is not a file", path.display())]
    NotAFile { what: &'static str, path: PathBuf },
    #[error("cannot start {qemu} (Debian package qemu-system-x86): {source}")]
    Start {
        qemu: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("waiting for {qemu}: {source}")]
    Wait {
        qemu: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("interrupted; QEMU was killed")]
    Interrupted,
}

/// Why a guest's console holds no usable report.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The guest's /init said why on its `ISOPROBE-GUEST-ERROR` line.
    #[error("the guest failed: {0}")]
    Guest(String),
    #[error("the console holds no report (the guest did not get to run the suite)")]
    NoReport,
    #[error(
        "the report is truncated: its end marker never came (the guest stopped while printing it)"
    )]
    Truncated,
    #[error("the report between the markers is not valid: {0}")]
    Invalid(#[source] serde_json::Error),
}

/// Why the matrix as a whole could not run (a kernel that fails to boot is a failed cell, not
/// this).
#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    #[error(transparent)]
    Io(#[from] IoStep),
    #[error(transparent)]
    Initramfs(#[from] InitramfsError),
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error("interrupted")]
    Interrupted,
}

/// Why the guest's /init could not report; printed on its `ISOPROBE-GUEST-ERROR` console line.
#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    #[error("{param}={value}: expected {expected}")]
    Param {
        param: &'static str,
        value: String,
        expected: &'static str,
    },
    /// A mount or root switch, named as the guest did it ("mount cgroup2 on /sys/fs/cgroup").
    #[error("{step}: {errno:?}")]
    Setup {
        step: String,
        errno: nix::errno::Errno,
    },
    #[error("{step} {}: {source}", path.display())]
    Io {
        step: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The runtime or checks named on the command line (their modules say why in text).
    #[error("{0}")]
    Selection(String),
    #[error("rootfs: {0}")]
    Rootfs(#[source] crate::error::HarnessError),
    #[error("the suite: {0}")]
    Suite(#[source] crate::error::HarnessError),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

impl GuestError {
    pub fn io(
        step: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> GuestError {
        let path = path.into();
        move |source| GuestError::Io { step, path, source }
    }

    pub fn setup(step: impl Into<String>) -> impl FnOnce(nix::errno::Errno) -> GuestError {
        let step = step.into();
        move |errno| GuestError::Setup { step, errno }
    }
}
