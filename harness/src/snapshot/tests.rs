use super::*;

#[test]
fn release_to_major_minor() {
    assert_eq!(major_minor("6.18.44-fc-v782"), "6.18");
    assert_eq!(major_minor("5.10.0-33-cloud-amd64"), "5.10");
    assert_eq!(major_minor("7.2-rc1"), "7.2");
}

#[test]
fn volatile_values_are_redacted_and_findings_kept() {
    let v = json!({"pid": 4242, "dev": 4, "ino": 4026531836u64, "share_per_period": 0.213,
                   "share_of_wall": 0.97, "inside": ["vm", "isoprobe-uts-a"], "x": {"pid": 1},
                   "ns": "mnt:[4026532177]", "ifaces": ["lo", "eth0"]});
    let s = scrub(&v, &["vm"]);
    assert_eq!(s["pid"], "[pid]");
    assert_eq!(s["x"]["pid"], 1);
    assert_eq!(s["ino"], "[ino]");
    assert_eq!(s["share_per_period"], 0.2);
    assert_eq!(s["share_of_wall"], "[share_of_wall]");
    assert_eq!(s["inside"][0], "[host]");
    assert_eq!(s["inside"][1], "isoprobe-uts-a");
    assert_eq!(s["ns"], "mnt:[ino]");
    assert_eq!(s["ifaces"][1], "eth0");
}

#[test]
fn features_keep_kernel_facts_and_lose_machine_numbers() {
    let mut report = crate::report::sample::report();
    report.features = Some(json!({
        "namespaces": {"time": true, "user": true},
        "max_namespaces": {"user": 96364, "pid": 0, "time": null},
        "cgroup": {
            "mode": "hybrid",
            "v2_files": {"cgroup.kill": true},
            "v2_files_skipped": "cannot create the probe cgroup \
                                 /sys/fs/cgroup/isoprobe-features-4242-0: EROFS"
        },
        "syscalls": {
            "clone3": {"available": true, "how": "clone3(NULL, 0) -> EINVAL"},
            "landlock": {"available": true, "how": "-> ABI version 7", "version": 7},
            "unprivileged_userns": {"available": true,
                                    "how": "as uid 65534 -> ok (max_user_namespaces 96364)."},
            "move_mount": {"available": false, "how": "E2BIG: kernel before 5.2."}
        }
    }));
    assert!(
        normalise(&report, &[]).get("features").is_none(),
        "the inventory is stored once per kernel, not in each report"
    );
    let f = features(&report, &[]).expect("features");
    assert_eq!(f["max_namespaces"]["user"], "[n]");
    assert_eq!(f["max_namespaces"]["pid"], 0, "0 (forbidden) is a finding");
    assert_eq!(f["max_namespaces"]["time"], Value::Null);
    assert_eq!(f["namespaces"], json!({"time": true, "user": true}));
    assert_eq!(f["cgroup"]["v2_files"]["cgroup.kill"], true);
    assert_eq!(
        f["cgroup"]["v2_files_skipped"],
        "cannot create the probe cgroup /sys/fs/cgroup/isoprobe-features-[tmp]: EROFS"
    );
    let sys = &f["syscalls"];
    assert_eq!(sys["clone3"]["how"], "clone3(NULL, 0) -> EINVAL");
    assert_eq!(sys["landlock"]["version"], 7);
    assert_eq!(sys["landlock"]["how"], "-> ABI version 7");
    assert_eq!(
        sys["unprivileged_userns"]["how"],
        "as uid 65534 -> ok (max_user_namespaces [n])."
    );
    assert_eq!(sys["move_mount"]["how"], "E2BIG: kernel before 5.2.");

    report.features = None;
    assert!(features(&report, &[]).is_none());
}

#[test]
fn reasons_lose_volatile_numbers_only() {
    assert_eq!(
        scrub_text(
            "the agent's pid is 9946, not 1; /proc inside lists 84 processes, not just the \
             agent; the host's NSpid of the container is [9946]: no separate pid seen",
            &[]
        ),
        "the agent's pid is [pid], not 1; /proc inside lists [n] processes, not just the \
         agent; the host's NSpid of the container is [pid]: no separate pid seen"
    );
    assert_eq!(
        scrub_text(
            "the host's /proc/sys/net/ipv4/ip_default_ttl changed from 64 to 99; saw `vm`",
            &["vm"]
        ),
        "the host's /proc/sys/net/ipv4/ip_default_ttl changed from 64 to 99; saw `[host]`"
    );
    assert_eq!(
        scrub_text(
            "share 0.19 of one CPU per period (quota 0.20), throttled in 10 of 11 periods",
            &[]
        ),
        "share 0.2 of one CPU per period (quota 0.20), throttled in [n] of [n] periods"
    );
    assert_eq!(
        scrub_text(
            "no throttling recorded (nr_periods 0; wall share 0.72)",
            &[]
        ),
        "no throttling recorded (nr_periods 0; wall share [share])"
    );
    assert_eq!(
        scrub_text(
            "/proc/1 is not the agent itself (agent pid 7482, mount namespace \"mnt:[4026532177]\")",
            &[]
        ),
        "/proc/1 is not the agent itself (agent pid [pid], mount namespace \"mnt:[ino]\")"
    );
    assert_eq!(
        scrub_text(
            "PID 1 inside; 20 mount points; e.g. `/isoprobe-oci-7209-58`",
            &[]
        ),
        "PID 1 inside; [n] mount points; e.g. `/isoprobe-oci-[tmp]`"
    );
    assert_eq!(
        scrub_text(
            "reached the host's abstract socket @isoprobe-abstract-27903_b28162d7 (the host \
             accepted a connection from pid 27911)",
            &[]
        ),
        "reached the host's abstract socket @isoprobe-abstract-[tmp] (the host accepted a \
         connection from pid [pid])"
    );
    assert_eq!(
        scrub_text(
            "open /tmp/isoprobe-scratch-Ab12/isoprobe-canary-x_9Z/canary",
            &[]
        ),
        "open /tmp/isoprobe-scratch-[tmp]/isoprobe-canary-[tmp]/canary"
    );
}
