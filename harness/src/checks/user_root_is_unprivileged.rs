//! `user.root-is-unprivileged`: the container's uid 0 is an unprivileged uid on the host. The
//! agent believes it is root, yet a file it creates in a host directory bound in belongs to
//! the mapped host uid, a file only the host's root may read stays closed to it, and it cannot
//! change its supplementary groups (setgroups "deny").

use super::host_side;
use super::{Check, Ctx, Verdict};
use crate::runtime::RunError;
use crate::vocabulary::IdMap;
use crate::vocabulary::{Bind, Isolation, Sabotage};
use isoprobe_probes::contract::{UsernsArgs, UsernsOutcome, USERNS_CREATED};
use isoprobe_probes::{AgentArgs, NsType};
use serde_json::json;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

pub struct RootIsUnprivileged;

/// Where the host directory is bound inside: every rootfs isoprobe builds has it.
const TARGET: &str = "/tmp";
const SECRET: &str = "root-only";

impl Check for RootIsUnprivileged {
    fn id(&self) -> String {
        "user.root-is-unprivileged".into()
    }
    fn description(&self) -> String {
        "uid 0 inside maps to an unprivileged host uid: a file it creates in a bound host \
         directory belongs to that uid, a host root-only file stays unreadable, setgroups is \
         denied"
            .into()
    }
    fn sabotage(&self) -> Sabotage {
        Sabotage::DropNamespace(NsType::User)
    }
    fn control_evidence(&self) -> &'static str {
        "read the host's root-only file"
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let _search = OthersMaySearch::grant(ctx.scratch)?;
        let dir = tempfile::Builder::new()
            .prefix("isoprobe-canary-")
            .tempdir_in(ctx.scratch)
            .map_err(|e| host_side::setup("create the shared dir", ctx.scratch, e))?;
        // Anyone may create in it, as in a /tmp: the container's root is "anyone" on the host.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777))
            .map_err(|e| host_side::setup("chmod 0777", dir.path(), e))?;
        let secret_path = dir.path().join(SECRET);
        let secret = format!("isoprobe-secret-{}", host_side::token());
        write_root_only(&secret_path, &secret)?;
        let iso = Isolation {
            binds: [
                iso.binds.clone(),
                vec![Bind {
                    source: dir.path().to_path_buf(),
                    target: TARGET.into(),
                }],
            ]
            .concat(),
            ..iso.clone()
        };
        let out = ctx.run(
            &iso,
            AgentArgs::trying(UsernsArgs {
                dir: TARGET.into(),
                secret: SECRET.into(),
            }),
        )?;
        let owner = fs::metadata(dir.path().join(USERNS_CREATED)).map(|m| (m.uid(), m.gid()));
        Ok(host_side::tried(&out).map_or_else(|v| v, |p| judge(p, owner.ok(), &secret)))
    }
}

/// The bind mount is made by the container's root, which is an unprivileged uid on the host
/// by then: it must be able to walk to the source. The scratch dir is only 0755 under the
/// usual umask; under a strict one (077) it gets search permission for others while the check
/// runs, and its mode back on drop.
struct OthersMaySearch<'a> {
    dir: &'a Path,
    mode: Option<u32>,
}

impl<'a> OthersMaySearch<'a> {
    fn grant(dir: &'a Path) -> Result<OthersMaySearch<'a>, RunError> {
        let mode = fs::metadata(dir)
            .map_err(|e| host_side::setup("stat the scratch dir", dir, e))?
            .permissions()
            .mode()
            & 0o7777;
        if mode & 0o001 != 0 {
            return Ok(OthersMaySearch { dir, mode: None });
        }
        fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o001))
            .map_err(|e| host_side::setup("chmod o+x the scratch dir", dir, e))?;
        Ok(OthersMaySearch {
            dir,
            mode: Some(mode),
        })
    }
}

impl Drop for OthersMaySearch<'_> {
    fn drop(&mut self) {
        if let Some(mode) = self.mode {
            let _ = fs::set_permissions(self.dir, fs::Permissions::from_mode(mode));
        }
    }
}

fn write_root_only(path: &Path, content: &str) -> Result<(), RunError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(content.as_bytes()))
        .and_then(|()| std::os::unix::fs::chown(path, Some(0), Some(0)))
        .map_err(|e| host_side::setup("write the root-only file", path, e))
}

fn judge(p: &UsernsOutcome, owner: Option<(u32, u32)>, secret: &str) -> Verdict {
    let mapped = IdMap::DEFAULT.outside;
    let mut failures = Vec::new();
    if p.uid != 0 {
        failures.push(format!(
            "the agent is not root inside (uid {}), so nothing was tested",
            p.uid
        ));
    }
    match owner {
        Some((uid, _)) if uid == mapped => {}
        Some((uid, _)) => failures.push(format!(
            "the file the container created belongs to host uid {uid}, not the mapped {mapped}"
        )),
        None => failures.push(format!(
            "the container could not create a file in the bound directory: {}",
            host_side::shown(&p.create)
        )),
    }
    if p.secret.done().map(|c| c.ok.trim()) == Some(secret) {
        failures.push("the container read the host's root-only file".to_string());
    } else if p.secret.errno() != Some("EACCES") {
        failures.push(format!(
            "the root-only file was not refused with EACCES: {}",
            host_side::shown(&p.secret)
        ));
    }
    if p.setgroups.done().map(String::as_str) != Some("deny") {
        failures.push(format!(
            "setgroups is {} inside, not \"deny\"",
            host_side::shown(&p.setgroups)
        ));
    }
    Verdict::from_failures(
        failures,
        "root inside is an unprivileged host uid: its file is owned by the mapped uid, the \
         root-only file is refused, setgroups is denied",
        json!({"uid_inside": 0, "created_file_owner": mapped, "root_only_file": "EACCES",
               "setgroups": "deny"}),
        json!({
            "uid_inside": p.uid,
            "uid_map": p.uid_map,
            "created_file_owner": owner.map(|o| o.0),
            "root_only_file": match p.secret.done() {
                Some(_) => json!("read"),
                None => json!(p.secret.errno()),
            },
            "setgroups": p.setgroups,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET_TEXT: &str = "isoprobe-secret-x";

    use isoprobe_probes::contract::{CallError, Called, Content, Done};
    use nix::errno::Errno;

    fn failed<T>(e: Errno) -> Called<T> {
        Called::Failed(CallError::from_errno(e))
    }

    fn unprivileged() -> UsernsOutcome {
        UsernsOutcome {
            uid: 0,
            euid: 0,
            gid: 0,
            uid_map: Called::Done("0 100000 65536".into()),
            gid_map: Called::Done("0 100000 65536".into()),
            setgroups: Called::Done("deny".into()),
            create: Called::Done(Done::Ok),
            secret: failed(Errno::EACCES),
        }
    }

    #[test]
    fn passes_when_root_inside_is_the_mapped_uid() {
        let v = judge(&unprivileged(), Some((100_000, 100_000)), SECRET_TEXT);
        assert!(v.pass(), "{}", v.reason);
        assert_eq!(v.observed["root_only_file"], "EACCES");
        assert_eq!(v.observed["uid_map"], "0 100000 65536");
    }

    #[test]
    fn each_assertion_fails_on_its_own() {
        let mapped = Some((100_000, 100_000));
        let not_root = UsernsOutcome {
            uid: 65534,
            ..unprivileged()
        };
        let read = UsernsOutcome {
            secret: Called::Done(Content {
                ok: SECRET_TEXT.into(),
            }),
            ..unprivileged()
        };
        let other_errno = UsernsOutcome {
            secret: failed(Errno::ENOENT),
            ..unprivileged()
        };
        let allow = UsernsOutcome {
            setgroups: Called::Done("allow".into()),
            ..unprivileged()
        };
        let no_create = UsernsOutcome {
            create: failed(Errno::EACCES),
            ..unprivileged()
        };
        for (p, owner, needle) in [
            (not_root, mapped, "not root inside (uid 65534)"),
            (unprivileged(), Some((0, 0)), "belongs to host uid 0"),
            (no_create, None, "could not create a file"),
            (read, mapped, "read the host's root-only file"),
            (other_errno, mapped, "not refused with EACCES"),
            (allow, mapped, "setgroups is \"allow\""),
        ] {
            let v = judge(&p, owner, SECRET_TEXT);
            v.assert_fails_with(needle);
        }
    }

    #[test]
    fn search_permission_is_granted_for_the_check_and_taken_back() {
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
        {
            let _g = OthersMaySearch::grant(dir.path()).unwrap();
            assert_eq!(mode(dir.path()), 0o701);
        }
        assert_eq!(mode(dir.path()), 0o700);
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        drop(OthersMaySearch::grant(dir.path()).unwrap());
        assert_eq!(mode(dir.path()), 0o755);
    }
}
