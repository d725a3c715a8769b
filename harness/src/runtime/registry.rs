//! Every runtime `--runtime` accepts, in one table: the names, the lookup and the tests all
//! derive from it, so that a runtime added here is known everywhere.

use super::engines::{Engine, EngineRuntime};
use super::oci::OciRuntime;
use super::{bwrap, unshare, NativeRuntime, Runtime, UnknownRuntime};

/// A runtime by name.
pub struct Entry {
    pub name: &'static str,
    pub make: fn() -> Box<dyn Runtime>,
}

/// In the order the comparison lists them.
pub const REGISTRY: [Entry; 11] = [
    Entry {
        name: "native",
        make: || Box::new(NativeRuntime::PIVOT),
    },
    Entry {
        name: "native-chroot",
        make: || Box::new(NativeRuntime::CHROOT),
    },
    Entry {
        name: "bwrap",
        make: || Box::new(bwrap::BwrapRuntime::default()),
    },
    Entry {
        name: "unshare",
        make: || Box::new(unshare::UnshareRuntime::default()),
    },
    Entry {
        name: "runc",
        make: || Box::new(OciRuntime::runc(false)),
    },
    Entry {
        name: "crun",
        make: || Box::new(OciRuntime::crun(false)),
    },
    Entry {
        name: "youki",
        make: || Box::new(OciRuntime::youki()),
    },
    Entry {
        name: "runc-no-pivot",
        make: || Box::new(OciRuntime::runc(true)),
    },
    Entry {
        name: "crun-no-pivot",
        make: || Box::new(OciRuntime::crun(true)),
    },
    Entry {
        name: "podman",
        make: || Box::new(EngineRuntime::new(Engine::Podman, false)),
    },
    Entry {
        name: "docker",
        make: || Box::new(EngineRuntime::new(Engine::Docker, false)),
    },
];

/// The names of [`REGISTRY`]; `oci:PATH` names any OCI runtime binary besides.
pub const NAMES: [&str; REGISTRY.len()] = {
    let mut names = [""; REGISTRY.len()];
    let mut i = 0;
    while i < REGISTRY.len() {
        names[i] = REGISTRY[i].name;
        i += 1;
    }
    names
};

/// The runtime `--runtime NAME --engine-defaults` means: an engine in defaults mode (its
/// out-of-the-box configuration, its escape hatches as controls).
pub fn engine_defaults(name: &str) -> Result<Box<dyn Runtime>, UnknownRuntime> {
    match EngineRuntime::engine_of(name) {
        Some(engine) => Ok(Box::new(EngineRuntime::new(engine, true))),
        None => Err(UnknownRuntime::NotAnEngine(name.to_string())),
    }
}

/// The runtime `--runtime NAME` means.
pub fn by_name(name: &str) -> Result<Box<dyn Runtime>, UnknownRuntime> {
    if let Some(path) = name.strip_prefix("oci:") {
        return if path.is_empty() {
            Err(UnknownRuntime::NoOciPath(name.to_string()))
        } else {
            Ok(Box::new(OciRuntime::at_path(name, path)))
        };
    }
    REGISTRY
        .iter()
        .find(|e| e.name == name)
        .map(|e| (e.make)())
        .ok_or_else(|| UnknownRuntime::Unknown {
            name: name.to_string(),
            known: NAMES.join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_makes_the_runtime_of_its_name() {
        for e in &REGISTRY {
            assert_eq!((e.make)().name(), e.name);
            assert_eq!(by_name(e.name).unwrap().name(), e.name);
        }
        assert_eq!(
            by_name("oci:/usr/local/bin/my-runtime").unwrap().name(),
            "oci:/usr/local/bin/my-runtime"
        );
    }

    #[test]
    fn unknown_names_say_what_is_known() {
        assert_eq!(
            by_name("lxc").err().unwrap().to_string(),
            "unknown runtime `lxc`; known runtimes: native, native-chroot, bwrap, unshare, \
             runc, crun, youki, runc-no-pivot, crun-no-pivot, podman, docker, or oci:PATH for \
             any OCI runtime binary"
        );
        assert_eq!(engine_defaults("docker").unwrap().name(), "docker-defaults");
        assert_eq!(
            engine_defaults("runc").err().unwrap().to_string(),
            "--engine-defaults applies to the engines (podman, docker), not to `runc`"
        );
        assert_eq!(
            by_name("oci:").err().unwrap().to_string(),
            "`oci:`: give the runtime binary's path after `oci:`"
        );
    }
}
