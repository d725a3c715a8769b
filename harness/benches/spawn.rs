//! Start-to-exit cost of a container under the native spawner, against a plain fork+exec of the
//! same agent measured in the same run. Prints medians and their ratio; asserts nothing.
//!
//! `cargo bench -p isoprobe --bench spawn` (as root). ISOPROBE_BENCH_RUNS sets the run count.

use isoprobe::rootfs::{FreshRootfs, AGENT_IN_ROOTFS};
use isoprobe::spawner::{spawn, SpawnSpec};
use isoprobe_probes::NsType;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(runs: usize, mut f: impl FnMut()) -> Duration {
    f(); // warm-up: page cache, first-touch of the binary
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        println!("spawn bench: skipped (needs root)");
        return;
    }
    let runs: usize = std::env::var("ISOPROBE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let rootfs = FreshRootfs::build(isoprobe::agent_binary::AGENT, None).expect("rootfs");
    let agent = rootfs.agent_host_path();

    let baseline = time(runs, || {
        let st = Command::new(&agent)
            .stdout(Stdio::null())
            .status()
            .expect("agent");
        assert!(st.success());
    });
    let mut rows = vec![("plain fork+exec (baseline)", baseline)];
    let sets: [(&str, &[NsType]); 3] = [
        ("mnt,pid + pivot_root", &[NsType::Mnt, NsType::Pid]),
        (
            "mnt,pid,uts,ipc,cgroup + pivot_root",
            &[
                NsType::Mnt,
                NsType::Pid,
                NsType::Uts,
                NsType::Ipc,
                NsType::Cgroup,
            ],
        ),
        ("all 8 namespaces + pivot_root", &NsType::ALL),
    ];
    for (name, ns) in sets {
        let mut spec = SpawnSpec::new(rootfs.path(), vec![AGENT_IN_ROOTFS.to_string()]);
        spec.namespaces = ns.iter().copied().collect();
        rows.push((
            name,
            time(runs, || {
                spawn(&spec).expect("spawn");
            }),
        ));
    }
    println!("start-to-exit of isoprobe-agent, median of {runs} runs");
    for (name, d) in rows {
        println!(
            "  {name:<40} {:>8.3} ms   x{:.2} of baseline",
            d.as_secs_f64() * 1e3,
            d.as_secs_f64() / baseline.as_secs_f64()
        );
    }
}
