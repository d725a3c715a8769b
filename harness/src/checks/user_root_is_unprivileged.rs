//! `user.root-is-unprivileged`: the container's uid 0 is an unprivileged uid on the host. The
//! agent believes it is root, yet a file it creates in a host directory bound in belongs to
//! the mapped host uid, a file only the host's root may read stays closed to it, and it cannot
//! take a group it was not mapped (`setgroups` with a gid past its map is refused).
//!
//! Judged on behaviour only: `/proc/self/setgroups` is what the runtime wrote ("deny" by
//! isoprobe's spawner, "allow" by an OCI runtime whose privileged parent writes the maps, as
//! the kernel permits), so it is kept as an observation, never as the pass condition.

use super::host_side;
use super::{Check, Ctx, Verdict, Control, ShownBy};
use crate::runtime::RunError;
use crate::vocabulary::IdMap;
use crate::vocabulary::{Bind, Isolation, Sabotage};
use isoprobe_probes::contract::{Called, UsernsArgs, UsernsOutcome, USERNS_CREATED};
use isoprobe_probes::{AgentArgs, NsType};
use serde_json::json;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

pub struct RootIsUnprivileged;

/// Where the host directory is bound inside: every rootfs isoprobe builds has it.
const TARGET: &str = "/tmp";
const SECRET: &str = "root-only";
/// The first gid past the container's gid map: no group of the host the container was given.
const UNMAPPED_GID: u32 = IdMap::DEFAULT.inside + IdMap::DEFAULT.count;

impl Check for RootIsUnprivileged {
    fn id(&self) -> String {
        "user.root-is-unprivileged".into()
    }
    fn description(&self) -> String {
        "uid 0 inside maps to an unprivileged host uid: a file it creates in a bound host \
         directory belongs to that uid, a host root-only file stays unreadable, setgroups with \
         a gid it was not mapped is refused"
            .into()
    }
    fn control(&self) -> Control {
        Sabotage::DropNamespace(NsType::User).shown_by("read the host's root-only file")
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
                unmapped_gid: UNMAPPED_GID,
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
    let mut violations = Vec::new();
    let mut untested = Vec::new();
    if p.uid != 0 {
        untested.push(format!(
            "the agent is not root inside (uid {}), so root's powers were not tried",
            p.uid
        ));
    }
    match owner {
        Some((uid, _)) if uid == mapped => {}
        Some((0, _)) => violations
            .push("the file the container created belongs to host root (uid 0)".to_string()),
        Some((uid, _)) => violations.push(format!(
            "the file the container created belongs to host uid {uid}, not the mapped {mapped}"
        )),
        None => untested.push(format!(
            "the container could not create a file in the bound directory: {}",
            host_side::shown(&p.create)
        )),
    }
    match &p.secret {
        Called::Done(c) if c.ok.trim() == secret => {
            violations.push("the container read the host's root-only file".to_string())
        }
        Called::Failed(e) if e.errno_is("EACCES") || e.errno_is("EPERM") => {}
        other => untested.push(format!(
            "the root-only file was neither read nor refused: {}",
            host_side::shown(other)
        )),
    }
    match &p.join_unmapped_group {
        Called::Done(_) => violations.push(format!(
            "setgroups([{UNMAPPED_GID}]) worked: root inside took a group it was not mapped \
             (gid_map `{}`)",
            match &p.gid_map {
                Called::Done(map) => map.split_whitespace().collect::<Vec<_>>().join(" "),
                Called::Failed(e) => e.error.clone(),
            }
        )),
        // EINVAL: the gid has no mapping here; EPERM: setgroups is denied to this namespace.
        Called::Failed(e) if e.errno_is("EINVAL") || e.errno_is("EPERM") => {}
        Called::Failed(e) => untested.push(format!(
            "setgroups([{UNMAPPED_GID}]) failed for another reason: {}",
            host_side::shown(e)
        )),
    }
    Verdict::judge(
        violations,
        untested,
        "root inside is an unprivileged host uid: its file is owned by the mapped uid, the \
         root-only file is refused, a group it was not mapped is refused",
        json!({"uid_inside": 0, "created_file_owner": mapped, "root_only_file": "EACCES",
               "join_unmapped_group": "refused"}),
        json!({
            "uid_inside": p.uid,
            "uid_map": p.uid_map,
            "created_file_owner": owner.map(|o| o.0),
            "root_only_file": match p.secret.done() {
                Some(_) => json!("read"),
                None => json!(p.secret.errno()),
            },
            "join_unmapped_group": match &p.join_unmapped_group {
                Called::Done(_) => json!("joined"),
                Called::Failed(e) => json!(e.errno.as_deref().unwrap_or(&e.error)),
            },
            "setgroups": p.setgroups,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET_TEXT: &str = "isoprobe-secret-x";

    use crate::checks::Finding;
    use isoprobe_probes::contract::{CallError, Content, Done};
    use nix::errno::Errno;

    fn failed<T>(e: Errno) -> Called<T> {
        Called::Failed(CallError::from_errno(e))
    }

    /// What runc, crun and youki show: setgroups "allow", yet the unmapped group is refused.
    fn unprivileged() -> UsernsOutcome {
        UsernsOutcome {
            uid: 0,
            euid: 0,
            gid: 0,
            uid_map: Called::Done("0 100000 65536".into()),
            gid_map: Called::Done("0 100000 65536".into()),
            setgroups: Called::Done("allow".into()),
            create: Called::Done(Done::Ok),
            secret: failed(Errno::EACCES),
            join_unmapped_group: failed(Errno::EINVAL),
        }
    }

    const MAPPED: Option<(u32, u32)> = Some((100_000, 100_000));

    #[test]
    fn passes_on_behaviour_whatever_setgroups_reads() {
        let v = judge(&unprivileged(), MAPPED, SECRET_TEXT);
        assert!(v.pass(), "{}", v.reason);
        assert_eq!(v.observed["root_only_file"], "EACCES");
        assert_eq!(v.observed["uid_map"], "0 100000 65536");
        assert_eq!(v.observed["setgroups"], "allow");
        assert_eq!(v.observed["join_unmapped_group"], "EINVAL");
        // isoprobe's own spawner denies setgroups: the same group is refused with EPERM.
        let denied = UsernsOutcome {
            setgroups: Called::Done("deny".into()),
            join_unmapped_group: failed(Errno::EPERM),
            ..unprivileged()
        };
        assert!(judge(&denied, MAPPED, SECRET_TEXT).pass());
    }

    #[test]
    fn each_violation_is_found_on_its_own() {
        let read = UsernsOutcome {
            secret: Called::Done(Content {
                ok: SECRET_TEXT.into(),
            }),
            ..unprivileged()
        };
        let joined = UsernsOutcome {
            join_unmapped_group: Called::Done(Done::Ok),
            ..unprivileged()
        };
        for (p, owner, needle) in [
            (unprivileged(), Some((0, 0)), "belongs to host root"),
            (unprivileged(), Some((1000, 1000)), "host uid 1000, not the mapped"),
            (read, MAPPED, "read the host's root-only file"),
            (joined, MAPPED, "took a group it was not mapped"),
        ] {
            let v = judge(&p, owner, SECRET_TEXT);
            v.assert_violated(needle);
        }
    }

    #[test]
    fn what_kept_a_part_from_being_tried_is_inconclusive() {
        let not_root = UsernsOutcome {
            uid: 65534,
            ..unprivileged()
        };
        let other_errno = UsernsOutcome {
            secret: failed(Errno::ENOENT),
            ..unprivileged()
        };
        let no_create = UsernsOutcome {
            create: failed(Errno::EROFS),
            ..unprivileged()
        };
        let setgroups_broken = UsernsOutcome {
            join_unmapped_group: failed(Errno::ENOSYS),
            ..unprivileged()
        };
        for (p, owner, needle) in [
            (not_root, MAPPED, "not root inside (uid 65534)"),
            (no_create, None, "could not create a file"),
            (other_errno, MAPPED, "neither read nor refused"),
            (setgroups_broken, MAPPED, "failed for another reason"),
        ] {
            let v = judge(&p, owner, SECRET_TEXT);
            v.assert_inconclusive(needle);
        }
    }

    #[test]
    fn root_mapped_to_host_root_is_violated_on_every_count() {
        let host_root = UsernsOutcome {
            uid_map: Called::Done("0 0 4294967295".into()),
            gid_map: Called::Done("0 0 4294967295".into()),
            secret: Called::Done(Content {
                ok: SECRET_TEXT.into(),
            }),
            join_unmapped_group: Called::Done(Done::Ok),
            ..unprivileged()
        };
        let v = judge(&host_root, Some((0, 0)), SECRET_TEXT);
        assert_eq!(v.finding, Finding::Violated);
        for needle in ["host root", "root-only file", "setgroups([65536]) worked"] {
            assert!(v.reason.contains(needle), "{needle}: {}", v.reason);
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
