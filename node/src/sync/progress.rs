//! Periodic progress lines while behind: height, rate and ETA.

use std::time::{Duration, Instant};

/// Rate and ETA from the blocks imported between two lines.
#[derive(Debug)]
pub(crate) struct Progress {
    interval: Duration,
    last: Instant,
    imported: usize,
}

impl Progress {
    pub(crate) fn new(interval: Duration) -> Progress {
        Progress {
            interval,
            last: Instant::now(),
            imported: 0,
        }
    }

    pub(crate) fn imported(&mut self, n: usize) {
        self.imported += n;
    }

    /// A line to log, when one is due and there is something to say.
    pub(crate) fn line(&mut self, height: u64, target: u64) -> Option<String> {
        let elapsed = self.last.elapsed();
        if elapsed < self.interval {
            return None;
        }
        let imported = std::mem::take(&mut self.imported);
        self.last = Instant::now();
        if imported == 0 && target <= height {
            return None;
        }
        Some(format_line(height, target, imported, elapsed))
    }
}

fn format_line(height: u64, target: u64, imported: usize, elapsed: Duration) -> String {
    let rate = imported as f64 / elapsed.as_secs_f64().max(1e-3);
    let left = target.saturating_sub(height);
    let pct = if target == 0 {
        100.0
    } else {
        height as f64 * 100.0 / target as f64
    };
    let eta = if rate > 0.0 {
        format_duration(Duration::from_secs_f64(left as f64 / rate))
    } else {
        "unknown".to_string()
    };
    format!("syncing height={height}/{target} ({pct:.1}%) rate={rate:.1} blocks/s eta={eta}")
}

fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_height_rate_and_eta() {
        let line = format_line(500, 1_000, 100, Duration::from_secs(2));
        assert_eq!(
            line,
            "syncing height=500/1000 (50.0%) rate=50.0 blocks/s eta=10s"
        );
        assert!(format_line(0, 10, 0, Duration::from_secs(1)).ends_with("eta=unknown"));
        assert_eq!(format_duration(Duration::from_secs(3_725)), "1h02m");
    }
}
