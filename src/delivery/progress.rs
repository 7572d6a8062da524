//! Live counters of a campaign run, the latency histogram, the rate pacer,
//! and the progress reports (a bar on a terminal, log lines otherwise).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

/// Live counters for progress reports.
#[derive(Debug, Default)]
pub struct Progress {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub retried: AtomicU64,
    pub skipped: AtomicU64,
    /// Time to hand one message to the server (SMTP transaction).
    pub latency: Histogram,
    /// The limits the run settled at after the server asked it to slow
    /// down (`throttle`).
    pub settled: std::sync::Mutex<Option<super::throttle::Settled>>,
}

impl Progress {
    fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    /// Sent, failed or skipped so far.
    pub fn settled(&self) -> u64 {
        Self::get(&self.sent) + Self::get(&self.failed) + Self::get(&self.skipped)
    }

    /// One line: counts, rate, and the ETA (or, at the end, latencies).
    pub fn line(&self, id: i64, total: i64, start: Instant, last: bool) -> String {
        let (sent, failed) = (Self::get(&self.sent), Self::get(&self.failed));
        let (skipped, retried) = (Self::get(&self.skipped), Self::get(&self.retried));
        let secs = start.elapsed().as_secs_f64().max(0.001);
        let rate = sent as f64 / secs;
        let remaining = (total.max(0) as u64).saturating_sub(self.settled());
        let tail = if last {
            let q = |x: f64| {
                self.latency
                    .quantile(x)
                    .map(|d| format!("{:.2} ms", d.as_secs_f64() * 1e3))
                    .unwrap_or_else(|| "-".into())
            };
            format!(
                ", {secs:.1}s; per-message latency p50 {} p90 {} p99 {}",
                q(0.5),
                q(0.9),
                q(0.99)
            )
        } else if rate > 0.0 {
            format!(", ETA {:.0}s", remaining as f64 / rate)
        } else {
            String::new()
        };
        format!(
            "campaign {id}: {sent} sent, {failed} failed, {skipped} skipped, {retried} temporary failures to retry, {remaining} remaining, {rate:.0} msg/s{tail}"
        )
    }
}

/// How progress is shown while a campaign runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A progress bar on stderr (a terminal).
    Bar,
    /// A log line this often.
    Log(Duration),
}

/// Shows progress until dropped.
pub struct Reporter {
    task: tokio::task::JoinHandle<()>,
    bar: Option<indicatif::ProgressBar>,
}

impl Reporter {
    pub fn start(id: i64, total: i64, progress: Arc<Progress>, style: Style) -> Reporter {
        let bar = (style == Style::Bar).then(|| {
            let bar = indicatif::ProgressBar::new(total.max(0) as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} sent or settled, {msg} [{elapsed_precise}, ETA {eta}]",
                )
                .expect("valid template"),
            );
            bar
        });
        let b = bar.clone();
        let task = tokio::spawn(async move {
            let start = Instant::now();
            loop {
                if let Some(bar) = &b {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let sent = Progress::get(&progress.sent);
                    bar.set_position(progress.settled());
                    bar.set_message(format!(
                        "{sent} sent, {} failed, {:.0} msg/s",
                        Progress::get(&progress.failed),
                        sent as f64 / start.elapsed().as_secs_f64().max(0.001)
                    ));
                } else {
                    let every = match style {
                        Style::Log(d) => d,
                        Style::Bar => Duration::from_secs(2),
                    };
                    tokio::time::sleep(every).await;
                    tracing::info!("{}", progress.line(id, total, start, false));
                }
            }
        });
        Reporter { task, bar }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A fixed-size latency histogram: buckets growing by 10% from 1 µs, so
/// memory does not grow with the audience.
#[derive(Debug)]
pub struct Histogram {
    buckets: Vec<AtomicU64>,
}

const BUCKETS: usize = 200;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| Default::default()).collect(),
        }
    }
}

impl Histogram {
    fn bucket(us: f64) -> usize {
        ((us.max(1.0).ln() / 1.1f64.ln()) as usize).min(BUCKETS - 1)
    }

    pub fn record(&self, d: Duration) {
        let b = Self::bucket(d.as_secs_f64() * 1e6);
        self.buckets[b].fetch_add(1, Ordering::Relaxed);
    }

    /// The `q` quantile (0..1), as the upper edge of its bucket.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let target = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= target {
                return Some(Duration::from_secs_f64(1.1f64.powi(i as i32 + 1) / 1e6));
            }
        }
        None
    }
}

/// A smooth rate limit shared by all connections.
pub struct Pacer {
    /// Nanoseconds between messages; 0: no limit.
    interval_ns: std::sync::atomic::AtomicU64,
    /// The same, set by the server asking to slow down (`throttle`); the
    /// slower of the two holds.
    throttled_ns: std::sync::atomic::AtomicU64,
    next: Mutex<Instant>,
}

fn interval_ns(rate: Option<f64>) -> u64 {
    rate.filter(|r| *r > 0.0)
        .map_or(0, |r| Duration::from_secs_f64(1.0 / r).as_nanos() as u64)
}

impl Pacer {
    pub fn new(rate: Option<f64>) -> Self {
        Pacer {
            interval_ns: interval_ns(rate).into(),
            throttled_ns: 0.into(),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Change the rate (messages per second; `None`: no limit).
    pub fn set_rate(&self, rate: Option<f64>) {
        self.interval_ns
            .store(interval_ns(rate), std::sync::atomic::Ordering::Relaxed);
    }

    /// The limit the server's replies asked for (`None`: none).
    pub fn set_throttled(&self, rate: Option<f64>) {
        self.throttled_ns
            .store(interval_ns(rate), std::sync::atomic::Ordering::Relaxed);
    }

    /// Send nothing for `pause` (the server asked to slow down: what it
    /// counts, it counts over the last moments). Only a paced run waits.
    pub async fn hold(&self, pause: Duration) {
        let mut next = self.next.lock().await;
        *next = (*next).max(Instant::now() + pause);
    }

    pub async fn wait(&self) {
        let ns = self
            .interval_ns
            .load(std::sync::atomic::Ordering::Relaxed)
            .max(self.throttled_ns.load(std::sync::atomic::Ordering::Relaxed));
        if ns == 0 {
            return;
        }
        let interval = Duration::from_nanos(ns);
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + interval;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles() {
        let h = Histogram::default();
        for us in 1..=100u64 {
            h.record(Duration::from_micros(us * 10));
        }
        let p50 = h.quantile(0.5).unwrap().as_secs_f64() * 1e6;
        let p99 = h.quantile(0.99).unwrap().as_secs_f64() * 1e6;
        assert!((500.0..=560.0).contains(&p50), "{p50}");
        assert!((990.0..=1100.0).contains(&p99), "{p99}");
        assert!(Histogram::default().quantile(0.5).is_none());
    }

    #[test]
    fn progress_line_counts_what_remains() {
        let p = Progress::default();
        p.sent.fetch_add(3, Ordering::Relaxed);
        p.skipped.fetch_add(1, Ordering::Relaxed);
        let line = p.line(7, 10, Instant::now(), false);
        assert!(
            line.starts_with("campaign 7: 3 sent, 0 failed, 1 skipped"),
            "{line}"
        );
        assert!(line.contains("6 remaining"), "{line}");
    }
}
