//! How an attempt inside the container ended, in the shapes every try shares: a failed system
//! call is a value the judge matches on (its errno name), never text to search.

use serde::{Deserialize, Serialize};

/// A failed step: the errno's name when the kernel gave one (`"EPERM"`), its text, and the
/// step when one attempt makes several calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno: Option<String>,
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
}

impl CallError {
    pub fn from_errno(e: nix::errno::Errno) -> CallError {
        CallError {
            errno: Some(format!("{e:?}")),
            error: e.desc().to_string(),
            step: None,
        }
    }

    /// An I/O error by its errno; one without (a parse or a std timeout) keeps only its text.
    pub fn from_io(e: &std::io::Error) -> CallError {
        match e.raw_os_error() {
            Some(n) => CallError::from_errno(nix::errno::Errno::from_raw(n)),
            None => CallError::text(e.to_string()),
        }
    }

    /// A failure that is no system call's (a file that does not parse).
    pub fn text(error: impl Into<String>) -> CallError {
        CallError {
            errno: None,
            error: error.into(),
            step: None,
        }
    }

    pub fn at(mut self, step: &str) -> CallError {
        self.step = Some(step.to_string());
        self
    }

    pub fn errno_is(&self, name: &str) -> bool {
        self.errno.as_deref() == Some(name)
    }
}

/// An attempt's result. Untagged so that it reads as the value itself or as the error object:
/// reports show these values as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Called<T> {
    Done(T),
    Failed(CallError),
}

impl<T> Called<T> {
    pub fn done(&self) -> Option<&T> {
        match self {
            Called::Done(v) => Some(v),
            Called::Failed(_) => None,
        }
    }

    pub fn failed(&self) -> Option<&CallError> {
        match self {
            Called::Done(_) => None,
            Called::Failed(e) => Some(e),
        }
    }

    /// The errno name of a failure.
    pub fn errno(&self) -> Option<&str> {
        self.failed().and_then(|e| e.errno.as_deref())
    }

    pub fn from_errno(r: Result<T, nix::errno::Errno>) -> Called<T> {
        r.map_or_else(|e| Called::Failed(CallError::from_errno(e)), Called::Done)
    }

    pub fn from_io(r: std::io::Result<T>) -> Called<T> {
        r.map_or_else(|e| Called::Failed(CallError::from_io(&e)), Called::Done)
    }
}

/// The `"ok"` of an attempt that returns nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Done {
    #[serde(rename = "ok")]
    Ok,
}

/// `Called::Done(Done::Ok)` for a call that returns nothing.
pub fn unit(r: Result<(), nix::errno::Errno>) -> Called<Done> {
    Called::from_errno(r.map(|()| Done::Ok))
}

/// How a child process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    Code(i32),
    /// The signal's name (`"SIGKILL"`).
    Signal(String),
    /// A wait status that is neither (stopped, continued).
    Other(String),
}

impl Ended {
    pub fn from_status(s: nix::sys::wait::WaitStatus) -> Ended {
        use nix::sys::wait::WaitStatus;
        match s {
            WaitStatus::Exited(_, code) => Ended::Code(code),
            WaitStatus::Signaled(_, sig, _) => Ended::Signal(sig.as_str().to_string()),
            other => Ended::Other(format!("{other:?}")),
        }
    }
}

/// A file's first bytes as read (`{"ok": text}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    pub ok: String,
}
