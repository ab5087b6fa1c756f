//! How busy the CPUs are with other programs, for the default thread count.
//!
//! llama.cpp's threads wait for each other at every step of a token (an OpenMP barrier that
//! spins). When another program holds one of the cores they run on, each step waits for the
//! scheduler to bring the preempted thread back: measured on 2 cores with one busy elsewhere,
//! 2 threads generated 7–15 tok/s and 1 thread 94–106, against 183 with 2 threads when idle
//! (scripts/bench-vs-llama.sh). So the default is the physical cores that other programs left
//! free, measured from /proc/stat over the time since the previous measurement (ember's own
//! CPU time taken out), and physical cores where that is unknown.

use std::sync::Mutex;

/// CPU time counters at one moment, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuSample {
    /// Busy time of all CPUs (everything but idle and iowait).
    busy: u64,
    /// All time of all CPUs.
    total: u64,
    /// CPUs counted in /proc/stat.
    cpus: usize,
    /// This process's own user + system time.
    own: u64,
}

impl CpuSample {
    /// Reads /proc/stat and /proc/self/stat; None off Linux or when they can't be read.
    pub fn now() -> Option<CpuSample> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        Self::parse(&stat, &own)
    }

    fn parse(stat: &str, own_stat: &str) -> Option<CpuSample> {
        let mut lines = stat.lines();
        let all = lines.next()?.strip_prefix("cpu ")?;
        let ticks: Vec<u64> = all.split_whitespace().map(|v| v.parse().unwrap_or(0)).collect();
        // user nice system idle iowait irq softirq steal (guest time is inside user already).
        let total: u64 = ticks.iter().take(8).sum();
        let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
        let cpus = lines
            .filter(|l| l.strip_prefix("cpu").is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit())))
            .count();
        // The command name may hold spaces and parentheses: fields count from the last ')'.
        let after = &own_stat[own_stat.rfind(')')? + 1..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line; state (field 3) is fields[0].
        let own = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(CpuSample { busy: total.saturating_sub(idle), total, cpus: cpus.max(1), own })
    }

    /// Cores' worth of CPU time other programs used between `self` and `later`, when the
    /// interval is long enough to tell (at least 5 ticks per CPU, 50 ms at the usual 100 Hz).
    pub fn others_busy(&self, later: &CpuSample) -> Option<f64> {
        let total = later.total.checked_sub(self.total)?;
        if total < 5 * later.cpus as u64 {
            return None;
        }
        let busy = later.busy.saturating_sub(self.busy);
        let own = later.own.saturating_sub(self.own);
        Some(busy.saturating_sub(own) as f64 / total as f64 * later.cpus as f64)
    }
}

/// The thread count for `physical` cores when other programs keep `others_busy` cores busy on a
/// machine of `cpus` logical CPUs: the cores left, never more than physical nor fewer than one.
pub fn threads_for(physical: usize, cpus: usize, others_busy: f64) -> usize {
    let free = (cpus as f64 - others_busy).round();
    let free = if free.is_finite() && free > 0.0 { free as usize } else { 1 };
    free.clamp(1, physical.max(1))
}

/// The previous measurement, taken at process start (`mark`) and at each choice.
static LAST: Mutex<Option<CpuSample>> = Mutex::new(None);

/// Starts the measurement interval (call early: model loading then falls inside it).
pub fn mark() {
    if let Ok(mut last) = LAST.lock() {
        *last = CpuSample::now();
    }
}

/// The default thread count now, and how many cores other programs kept busy, when known.
pub fn default_threads(physical: usize) -> (usize, Option<f64>) {
    let now = CpuSample::now();
    let Ok(mut last) = LAST.lock() else { return (physical, None) };
    let others = match (*last, now) {
        (Some(before), Some(now)) => before.others_busy(&now),
        _ => None,
    };
    if now.is_some() {
        *last = now;
    }
    // /proc/stat shows the whole host; a container's CPU limit or an affinity mask caps it.
    let usable = num_cpus::get().max(1);
    match (others, now) {
        (Some(others), Some(now)) => (threads_for(physical, now.cpus, others).min(usable), Some(others)),
        _ => (physical.min(usable), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT_A: &str =
        "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\ncpu1 50 0 25 400 25 0 0 0 0 0\nintr 1\n";
    // 200 ticks later (100 per CPU): 150 busy, 30 of them ember's.
    const STAT_B: &str =
        "cpu  220 0 80 840 60 0 0 0 0 0\ncpu0 110 0 40 420 30 0 0 0 0 0\ncpu1 110 0 40 420 30 0 0 0 0 0\n";
    const OWN_A: &str = "4242 (ember (x) y) S 1 1 1 0 -1 4194560 100 0 0 0 10 5 0 0 20 0 3 0 100 0 0";
    const OWN_B: &str = "4242 (ember (x) y) R 1 1 1 0 -1 4194560 100 0 0 0 35 10 0 0 20 0 3 0 100 0 0";

    #[test]
    fn reads_the_counters() {
        let a = CpuSample::parse(STAT_A, OWN_A).unwrap();
        assert_eq!(a, CpuSample { busy: 150, total: 1000, cpus: 2, own: 15 });
        assert_eq!(CpuSample::parse("garbage", OWN_A), None);
        assert_eq!(CpuSample::parse(STAT_A, "4242 (ember) S 1"), None);
    }

    #[test]
    fn others_busy_leaves_ember_out() {
        let a = CpuSample::parse(STAT_A, OWN_A).unwrap();
        let b = CpuSample::parse(STAT_B, OWN_B).unwrap();
        // 150 busy ticks of 200, 30 of them ember's: 120/200 of 2 CPUs = 1.2 cores.
        let others = a.others_busy(&b).unwrap();
        assert!((others - 1.2).abs() < 1e-9, "{others}");
        // Too short an interval tells nothing.
        assert_eq!(a.others_busy(&a), None);
    }

    #[test]
    fn threads_follow_the_free_cores() {
        assert_eq!(threads_for(2, 2, 0.1), 2);
        assert_eq!(threads_for(2, 2, 1.0), 1);
        assert_eq!(threads_for(2, 2, 2.0), 1);
        assert_eq!(threads_for(8, 16, 4.0), 8, "SMT: logical CPUs left over still leave 8 cores");
        assert_eq!(threads_for(8, 8, 3.4), 5);
        assert_eq!(threads_for(4, 4, f64::NAN), 1);
    }

    #[test]
    fn this_machine_can_be_measured() {
        if cfg!(target_os = "linux") {
            let a = CpuSample::now().expect("/proc/stat");
            let t = std::time::Instant::now();
            while t.elapsed() < std::time::Duration::from_millis(120) {
                std::hint::spin_loop();
            }
            let b = CpuSample::now().unwrap();
            assert!(b.own > a.own, "the spin shows as ember's own time");
            let others = a.others_busy(&b).expect("120 ms is long enough");
            assert!(others >= 0.0 && others <= b.cpus as f64, "{others}");
        }
    }
}
