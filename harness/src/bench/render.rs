//! The bench as a text table.

use super::Bench;
use std::fmt::Write;

fn ratio(r: Option<f64>) -> String {
    r.map_or("-".into(), |x| format!("{x:.2}"))
}

pub fn text(b: &Bench) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "start-to-exit of the agent's no-op, {} runs each, interleaved (ms)\n\
         isolation: {}",
        b.runs, b.isolation
    );
    let _ = writeln!(
        s,
        "\n  {:<22} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "", "median", "p90", "min", "x floor", "x native"
    );
    let _ = writeln!(
        s,
        "  {:<22} {:>8.3} {:>8.3} {:>8.3} {:>8} {:>9}   plain fork+exec, no isolation",
        "floor", b.floor_ms, b.floor_p90_ms, b.floor_min_ms, "1.00", "-"
    );
    for r in &b.runtimes {
        let _ = writeln!(
            s,
            "  {:<22} {:>8.3} {:>8.3} {:>8.3} {:>8} {:>9}{}",
            r.name,
            r.median_ms,
            r.p90_ms,
            r.min_ms,
            ratio(r.ratio_to_floor),
            ratio(r.ratio_to_native),
            r.note.as_ref().map_or(String::new(), |n| format!("   {n}"))
        );
    }
    if !b.suite.is_empty() {
        let _ = writeln!(
            s,
            "\nthe whole suite (`isoprobe run`, one process each)\n\n  {:<10} {:<9} {:>4} {:>7}  checks",
            "runtime", "controls", "jobs", "wall s"
        );
        for r in &b.suite {
            let _ = writeln!(
                s,
                "  {:<10} {:<9} {:>4} {:>7.2}  {} pass, {} fail, {} skip",
                r.runtime,
                if r.controls { "with" } else { "without" },
                r.jobs,
                r.wall_s,
                r.pass,
                r.fail,
                r.skip
            );
        }
    }
    if let Some(c) = &b.cpu_check {
        let _ = writeln!(
            s,
            "\nthe CPU check ({}), {} repetitions: {:.2} s (median), share per period \
             {:.3}..{:.3}, {} of {} passed{}",
            super::suite::CPU_CHECK,
            c.repeats,
            c.wall_s,
            c.share_min,
            c.share_max,
            c.passed,
            c.repeats,
            if c.verdicts_equal {
                ", every verdict the same"
            } else {
                ", verdicts differed"
            }
        );
    }
    let mb = |m: Option<f64>| m.map_or("not measured".into(), |m| format!("{m:.1} MB"));
    let _ = writeln!(
        s,
        "\npeak RSS (VmHWM at exit): isoprobe run --negative-controls {}, the agent {}",
        mb(b.peak_rss.isoprobe_run_mb),
        mb(b.peak_rss.agent_mb)
    );
    for k in &b.skipped {
        let _ = writeln!(s, "skipped {}: {}", k.name, k.reason);
    }
    s
}
