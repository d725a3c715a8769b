//! One bounded boot of a kernel with the isoprobe initramfs under QEMU (TCG), its serial console
//! captured and the guest's report read back from between the console markers.

use super::error::{BootError, ConsoleError};
use super::guest::{GUEST_ERROR, GUEST_INFO};
use super::{GuestCgroup, CGROUP_PARAM, REPORT_BEGIN, REPORT_END};
use crate::report::Report;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const QEMU: &str = "qemu-system-x86_64";

#[derive(Debug, Clone)]
pub struct Boot {
    /// Everything the guest wrote on its serial console (QEMU's stdout), `\r\n` made `\n`.
    pub console: String,
    pub report: Option<Report>,
    /// The `ISOPROBE-GUEST` line's JSON: what /init set up (see `guest::GuestInfo`).
    pub guest_info: Option<serde_json::Value>,
    pub elapsed: Duration,
    /// When the guest's /init said what it set up (the kernel booted, the initramfs unpacked,
    /// the cgroups mounted), from QEMU's start; to 50 ms.
    pub ready_after: Option<Duration>,
    /// When the report's end marker came, from QEMU's start; to 50 ms.
    pub reported_after: Option<Duration>,
    pub outcome: BootOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootOutcome {
    Reported,
    NoReport { reason: String },
    TimedOut,
}

/// How a boot runs, beyond the kernel, initramfs and cgroup mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootOptions {
    /// QEMU's `-accel` value.
    pub accel: String,
    /// More kernel command-line words (e.g. `isoprobe.checks=ID,ID`, `isoprobe.watch=20`).
    pub extra_params: Vec<String>,
}

/// TCG with one host thread for all vCPUs. Under multi-threaded TCG (QEMU's default) a guest
/// sometimes oopses on an int3 the kernel had already patched away (its jump labels change when
/// a CPU quota is first used): 6.12 v2 hit "Oops: int3" in dequeue_entities in 2 boots of 20,
/// and in none of 20 single-threaded boots, which took about 20% longer (13 s against 10.5 s).
pub const DEFAULT_ACCEL: &str = "tcg,thread=single";

impl Default for BootOptions {
    fn default() -> Self {
        BootOptions {
            accel: DEFAULT_ACCEL.into(),
            extra_params: Vec::new(),
        }
    }
}

/// After the report's end marker, how long QEMU gets to power off before it is killed.
const POWER_OFF_GRACE: Duration = Duration::from_secs(10);

/// Boots `vmlinuz` with `initramfs` under qemu-system-x86_64 -accel tcg,thread=single -m 1024
/// -smp 1 -nographic -no-reboot, -append "console=ttyS0 panic=-1 quiet isoprobe.cgroup=<mode> ...",
/// captures the console, kills QEMU (by pid) at `timeout`, and parses the report between the
/// markers.
pub fn boot(
    vmlinuz: &Path,
    initramfs: &Path,
    cgroup: GuestCgroup,
    timeout: Duration,
) -> Result<Boot, BootError> {
    boot_with(vmlinuz, initramfs, cgroup, &BootOptions::default(), timeout)
}

/// [`boot`] with other options.
pub fn boot_with(
    vmlinuz: &Path,
    initramfs: &Path,
    cgroup: GuestCgroup,
    opts: &BootOptions,
    timeout: Duration,
) -> Result<Boot, BootError> {
    for (what, p) in [("kernel", vmlinuz), ("initramfs", initramfs)] {
        if !p.is_file() {
            return Err(BootError::NotAFile {
                what,
                path: p.to_path_buf(),
            });
        }
    }
    let started = Instant::now();
    let mut qemu = Command::new(QEMU);
    // A guest outlives a SIGKILLed isoprobe otherwise: until it powers off, or for ever if it
    // hangs.
    crate::process::dies_with_starter(&mut qemu);
    let child = qemu
        .args(qemu_args(vmlinuz, initramfs, cgroup, opts))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| BootError::Start { qemu: QEMU, source })?;
    // From here every return goes through the guard: QEMU is killed and reaped.
    let mut guard = QemuGuard(Some(child));
    let stdout = guard.child().stdout.take();
    let stderr = guard.child().stderr.take();
    let console = Arc::new(Mutex::new(Vec::<u8>::new()));
    let out_reader = stdout.map(|s| spawn_reader(s, Arc::clone(&console)));
    let err_buf = Arc::new(Mutex::new(Vec::<u8>::new()));
    let err_reader = stderr.map(|s| spawn_reader(s, Arc::clone(&err_buf)));

    let mut timed_out = false;
    let mut interrupted = false;
    let mut report_seen: Option<Instant> = None;
    let mut ready_after = None;
    let mut reported_after = None;
    let status = loop {
        if let Some(st) = guard
            .child()
            .try_wait()
            .map_err(|source| BootError::Wait { qemu: QEMU, source })?
        {
            break Some(st);
        }
        if started.elapsed() >= timeout {
            timed_out = true;
            break None;
        }
        // A guest that reported but does not power off still gave what was asked of it.
        if ready_after.is_none() && holds(&console, GUEST_INFO.as_bytes()) {
            ready_after = Some(started.elapsed());
        }
        if report_seen.is_none() && holds(&console, REPORT_END.as_bytes()) {
            report_seen = Some(Instant::now());
            reported_after = Some(started.elapsed());
        }
        if report_seen.is_some_and(|t| t.elapsed() >= POWER_OFF_GRACE) {
            break None;
        }
        if crate::cancel::requested() {
            interrupted = true;
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let status = match status {
        Some(s) => Some(s),
        None => {
            guard.kill();
            None
        }
    };
    // The pipes close when QEMU is gone, so the readers end.
    for r in [out_reader, err_reader].into_iter().flatten() {
        let _ = r.join();
    }
    let elapsed = started.elapsed();
    // A guest that powered off right after its report can leave before the loop looked.
    if ready_after.is_none() && holds(&console, GUEST_INFO.as_bytes()) {
        ready_after = Some(elapsed);
    }
    if reported_after.is_none() && holds(&console, REPORT_END.as_bytes()) {
        reported_after = Some(elapsed);
    }
    if interrupted {
        return Err(BootError::Interrupted);
    }
    let console = normalise(&lock_bytes(&console));
    let qemu_stderr = normalise(&lock_bytes(&err_buf));
    let parsed = parse_console(&console);
    let outcome = match (&parsed.report, timed_out) {
        (Ok(_), _) => BootOutcome::Reported,
        (Err(_), true) => BootOutcome::TimedOut,
        (Err(why), false) => {
            let mut reason = why.to_string();
            if let Some(line) = panic_line(&console) {
                reason.push_str(&format!("; the kernel panicked: {line}"));
            }
            if let Some(s) = status.filter(|s| !s.success()) {
                reason.push_str(&format!("; {QEMU} exited with {s}"));
            }
            if !qemu_stderr.trim().is_empty() {
                reason.push_str(&format!("; {QEMU} said: {}", console_tail(&qemu_stderr, 5)));
            }
            BootOutcome::NoReport { reason }
        }
    };
    Ok(Boot {
        console,
        report: parsed.report.ok(),
        guest_info: parsed.guest_info,
        elapsed,
        ready_after,
        reported_after,
        outcome,
    })
}

/// The QEMU command line (without the program).
pub fn qemu_args(
    vmlinuz: &Path,
    initramfs: &Path,
    cgroup: GuestCgroup,
    opts: &BootOptions,
) -> Vec<String> {
    let mut append = format!(
        "console=ttyS0 panic=-1 quiet {CGROUP_PARAM}={}",
        cgroup.name()
    );
    for p in &opts.extra_params {
        append.push(' ');
        append.push_str(p);
    }
    ["-accel", opts.accel.as_str()]
        .into_iter()
        .chain([
            "-m",
            "1024",
            // One vCPU: under single-threaded TCG a second one only takes turns with the
            // first, and bringing it up cost the boot time (6.1, a whole cell with its suite:
            // 10.8-11.4 s against 11.6-12.4 s with two).
            "-smp",
            "1",
            "-nographic",
            "-no-reboot",
            // No network device: the guest needs none, and its interfaces stay just lo.
            "-nic",
            "none",
            "-kernel",
        ])
        .map(str::to_string)
        .chain([
            vmlinuz.display().to_string(),
            "-initrd".into(),
            initramfs.display().to_string(),
            // A disk for `dev.host-devices-denied` to aim at (the guest's "host disk", whose
            // first sector its control reads): the initramfs again, read-only, so that nothing
            // is made for it and nothing can be written to it. NVMe, as every kernel of the
            // matrix has its driver built in (virtio-blk and ATA are modules).
            "-drive".into(),
            format!(
                "file={},if=none,id=disk,format=raw,readonly=on",
                initramfs.display()
            ),
            "-device".into(),
            "nvme,drive=disk,serial=isoprobe".into(),
            "-append".into(),
            append,
        ])
        .collect()
}

/// Kills (SIGKILL, by pid) and reaps QEMU on every path out of a boot.
struct QemuGuard(Option<Child>);

impl QemuGuard {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("the guard holds QEMU until dropped")
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.0.take() {
            if let Ok(None) = c.try_wait() {
                // Child::kill sends SIGKILL to this pid only.
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }
}

impl Drop for QemuGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn_reader<R: Read + Send + 'static>(
    mut r: R,
    buf: Arc<Mutex<Vec<u8>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match r.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(&chunk[..n]),
            }
        }
    })
}

fn holds(buf: &Mutex<Vec<u8>>, needle: &[u8]) -> bool {
    buf.lock()
        .unwrap_or_else(|p| p.into_inner())
        .windows(needle.len())
        .any(|w| w == needle)
}

/// The kernel's "Kernel panic - not syncing: ..." line, if it panicked.
fn panic_line(console: &str) -> Option<&str> {
    console
        .lines()
        .find(|l| l.contains("Kernel panic - not syncing"))
        .map(|l| l.trim())
}

fn lock_bytes(b: &Mutex<Vec<u8>>) -> Vec<u8> {
    b.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Console bytes as text: the tty's `\r\n` as `\n`, and invalid UTF-8 replaced.
fn normalise(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace("\r\n", "\n")
}

/// What a console says, once parsed.
#[derive(Debug)]
pub struct ParsedConsole {
    /// The report, or why there is none.
    pub report: Result<Report, ConsoleError>,
    pub guest_info: Option<serde_json::Value>,
}

/// Finds the report between the last `REPORT_BEGIN` line and the `REPORT_END` after it, the
/// `ISOPROBE-GUEST` line, and the `ISOPROBE-GUEST-ERROR` line; other lines (kernel messages,
/// firmware noise) are ignored.
pub fn parse_console(console: &str) -> ParsedConsole {
    let lines: Vec<&str> = console.lines().map(|l| l.trim_end_matches('\r')).collect();
    let guest_info = lines.iter().rev().find_map(|l| {
        let rest = marker_rest(l, GUEST_INFO)?;
        serde_json::from_str(rest).ok()
    });
    let guest_error = lines
        .iter()
        .rev()
        .find_map(|l| marker_rest(l, GUEST_ERROR).map(str::to_string));
    let begin = lines
        .iter()
        .rposition(|l| l.trim_end().ends_with(REPORT_BEGIN));
    let report = match begin {
        None => Err(match guest_error {
            Some(e) => ConsoleError::Guest(e),
            None => ConsoleError::NoReport,
        }),
        Some(b) => match lines[b + 1..].iter().position(|l| l.trim() == REPORT_END) {
            None => Err(ConsoleError::Truncated),
            Some(n) => {
                let body: String = lines[b + 1..b + 1 + n].concat();
                serde_json::from_str::<Report>(body.trim()).map_err(ConsoleError::Invalid)
            }
        },
    };
    ParsedConsole { report, guest_info }
}

/// The text after `MARKER ` on a line that starts with the marker (a kernel message that ends
/// without a newline can stand before it, so the marker may also follow other text).
fn marker_rest<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let at = line.find(&format!("{marker} "))?;
    let rest = &line[at + marker.len() + 1..];
    // `ISOPROBE-GUEST-ERROR` does not match `ISOPROBE-GUEST `: the space tells them apart.
    Some(rest.trim())
}

/// The tail of a console (last N lines) for failure rows.
pub fn console_tail(console: &str, lines: usize) -> String {
    let all: Vec<&str> = console.lines().map(|l| l.trim_end_matches('\r')).collect();
    let start = all.len().saturating_sub(lines);
    all[start..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Status;

    fn report_json() -> String {
        let r = crate::report::sample::report();
        serde_json::to_string(&r).unwrap()
    }

    const NOISE: &str = "SeaBIOS (version 1.16.2-debian-1.16.2-1)\r\n\
        iPXE (https://ipxe.org) 00:03.0 CA00 PCI2.10 PnP PMM+3FF8B3A0+3FECB3A0 CA00\r\n\
        Booting from ROM...\r\n\
        [    0.912345] random: crng init done\r\n";

    fn console_with(body: &str) -> String {
        format!(
            "{NOISE}{GUEST_INFO} {{\"cgroup\":\"v1\",\"cgroup_mount_failures\":[]}}\r\n\r\n\
             {REPORT_BEGIN}\r\n{body}\r\n{REPORT_END}\r\n[    9.1] reboot: Power down\r\n"
        )
    }

    #[test]
    fn finds_the_report_and_guest_info_among_noise() {
        let json = report_json();
        let p = parse_console(&normalise(console_with(&json).as_bytes()));
        let r = p.report.unwrap();
        assert_eq!(r, crate::report::sample::report());
        assert!(r.checks.iter().any(|c| c.status == Status::Pass));
        assert_eq!(p.guest_info.unwrap()["cgroup"], "v1");
    }

    #[test]
    fn a_report_split_over_lines_is_joined() {
        // A serial line can be cut where the console wrapped or a write was split.
        let json = report_json();
        let (a, b) = json.split_at(json.len() / 2);
        let p = parse_console(&console_with(&format!("{a}\r\n{b}")));
        assert!(p.report.is_ok(), "{:?}", p.report);
    }

    #[test]
    fn a_truncated_report_says_so() {
        let json = report_json();
        let console = format!("{NOISE}{REPORT_BEGIN}\r\n{}", &json[..json.len() / 3]);
        let e = parse_console(&console).report.unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
    }

    #[test]
    fn garbage_between_the_markers_is_an_error_not_a_panic() {
        let e = parse_console(&console_with("{\"isoprobe_version\": [1, 2"))
            .report
            .unwrap_err()
            .to_string();
        assert!(e.contains("not valid"), "{e}");
        let e = parse_console(&console_with("\u{fffd}\u{0}garbage"))
            .report
            .unwrap_err()
            .to_string();
        assert!(e.contains("not valid"), "{e}");
    }

    #[test]
    fn no_markers_at_all() {
        let e = parse_console(NOISE).report.unwrap_err().to_string();
        assert!(e.contains("no report"), "{e}");
        let p = parse_console("");
        assert!(p.report.is_err() && p.guest_info.is_none());
    }

    #[test]
    fn a_guest_error_is_the_reason() {
        let console = format!(
            "{NOISE}\r\n{GUEST_ERROR} mount cgroup2 on /sys/fs/cgroup: EBUSY\r\n\
             [    2.0] reboot: Power down\r\n"
        );
        let p = parse_console(&console);
        let e = p.report.unwrap_err().to_string();
        assert!(e.contains("the guest failed: mount cgroup2"), "{e}");
        // The error line is not taken for the guest info line.
        assert!(p.guest_info.is_none());
    }

    #[test]
    fn the_last_report_wins_and_a_marker_after_a_kernel_message_counts() {
        let json = report_json();
        let console = format!(
            "{REPORT_BEGIN}\n{{}}\n{REPORT_END}\n[    3.2] a message without a newline{REPORT_BEGIN}\n{json}\n{REPORT_END}\n"
        );
        assert!(parse_console(&console).report.is_ok());
    }

    #[test]
    fn a_panic_is_named() {
        let console = "[    4.85] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI\n\
            [    4.86] Kernel panic - not syncing: Fatal exception in interrupt\n\
            [    4.87] Kernel Offset: 0xea00000\n";
        assert_eq!(
            panic_line(console),
            Some("[    4.86] Kernel panic - not syncing: Fatal exception in interrupt")
        );
        assert_eq!(panic_line(NOISE), None);
    }

    #[test]
    fn tail_gives_the_last_lines() {
        let c = "a\r\nb\r\nc\r\nd\r\n";
        assert_eq!(console_tail(c, 2), "c\nd");
        assert_eq!(console_tail(c, 10), "a\nb\nc\nd");
        assert_eq!(console_tail("", 3), "");
    }

    #[test]
    fn command_line_names_the_mode_and_bounds_the_machine() {
        let args = qemu_args(
            Path::new("/k/vmlinuz"),
            Path::new("/k/initrd"),
            GuestCgroup::V1,
            &BootOptions {
                extra_params: vec!["isoprobe.checks=pid.init-is-one".to_string()],
                ..BootOptions::default()
            },
        );
        let joined = args.join(" ");
        assert!(joined.starts_with("-accel tcg,thread=single "), "{joined}");
        assert!(joined.contains("-no-reboot"), "{joined}");
        assert!(
            joined.contains("-kernel /k/vmlinuz -initrd /k/initrd"),
            "{joined}"
        );
        let append = args.last().unwrap();
        assert_eq!(
            append,
            "console=ttyS0 panic=-1 quiet isoprobe.cgroup=v1 isoprobe.checks=pid.init-is-one"
        );
    }
}
