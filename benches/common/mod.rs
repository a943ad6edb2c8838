//! Shared pieces of larder's benchmark harnesses: timing, medians,
//! percentiles, and the table they print.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// Runs `f` `repeats` times and returns the median duration with the last
/// run's output.
pub fn median_of<T>(repeats: usize, mut f: impl FnMut() -> (Duration, T)) -> (Duration, T) {
    let mut times = Vec::with_capacity(repeats);
    let mut last = None;
    for _ in 0..repeats {
        let (elapsed, out) = f();
        times.push(elapsed);
        last = Some(out);
    }
    times.sort();
    (times[times.len() / 2], last.expect("at least one repeat"))
}

/// Times one call of `f`.
pub fn timed<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed(), out)
}

/// The `p`-th percentile (0..=100) of sorted nanosecond samples.
pub fn percentile(sorted_ns: &[u64], p: f64) -> u64 {
    let rank = ((p / 100.0) * (sorted_ns.len() - 1) as f64).round() as usize;
    sorted_ns[rank]
}

/// Cost of an `Instant::now()` pair, to subtract from per-operation samples.
pub fn timer_overhead_ns() -> u64 {
    let mut samples: Vec<u64> = (0..100_000)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(());
            start.elapsed().as_nanos() as u64
        })
        .collect();
    samples.sort_unstable();
    percentile(&samples, 50.0)
}

/// One printed line: name, records/s, MB/s, and a ratio to a reference.
pub fn row(name: &str, records: u64, bytes: u64, elapsed: Duration, reference: Option<f64>) -> f64 {
    let rate = records as f64 / elapsed.as_secs_f64();
    let mb = bytes as f64 / elapsed.as_secs_f64() / 1e6;
    let ratio = reference.map_or(String::new(), |r| format!("{:>6.2}x raw", rate / r));
    println!("{name:<44} {:>10.2} M rec/s {:>9.1} MB/s  {ratio}", rate / 1e6, mb);
    rate
}
