//! Progress of a long file import, for people: a counter the import advances as it reads
//! ([`Progress`], shared across threads) and a one-line bar on a terminal's stderr ([`Bar`]),
//! redrawn in place a few times a second. Only drawn when stderr is a terminal.

use std::fmt::Write as _;
use std::io::{IsTerminal as _, Read, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Files smaller than this import too fast to need a bar.
pub const BAR_FROM_BYTES: u64 = 8 * 1024 * 1024;

/// How far an import has read its file. The file is read twice: once to hash it (its identity),
/// once to import it.
#[derive(Debug, Default)]
pub struct Progress {
    bytes: AtomicU64,
    total: AtomicU64,
    phase: AtomicU8,
}

/// What the import is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Hashing,
    Importing,
}

impl Progress {
    pub fn start(&self, phase: Phase, total: u64) {
        self.total.store(total, Ordering::Relaxed);
        self.bytes.store(0, Ordering::Relaxed);
        self.phase.store(phase as u8, Ordering::Relaxed);
    }

    pub fn advance(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    fn read(&self) -> (Phase, u64, u64) {
        let phase = if self.phase.load(Ordering::Relaxed) == Phase::Importing as u8 {
            Phase::Importing
        } else {
            Phase::Hashing
        };
        (
            phase,
            self.bytes.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }
}

/// A reader that advances a [`Progress`] by what it reads.
#[derive(Debug)]
pub struct Counting<R> {
    pub inner: R,
    pub progress: Option<Arc<Progress>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(p) = &self.progress {
            p.advance(n as u64);
        }
        Ok(n)
    }
}

/// The bar's line: phase, name, percentage, megabytes and speed.
pub fn render(name: &str, phase: Phase, done: u64, total: u64, elapsed: Duration) -> String {
    const MB: f64 = 1_000_000.0;
    const WIDTH: usize = 24;
    let fraction = if total == 0 {
        1.0
    } else {
        (done as f64 / total as f64).clamp(0.0, 1.0)
    };
    let filled = (fraction * WIDTH as f64).round() as usize;
    let mut line = String::new();
    let verb = match phase {
        Phase::Hashing => "hashing  ",
        Phase::Importing => "importing",
    };
    let secs = elapsed.as_secs_f64().max(0.001);
    let _ = write!(
        line,
        "{verb} {name} [{}{}] {:>3.0}% {:.1}/{:.1} MB {:.1} MB/s",
        "#".repeat(filled),
        "-".repeat(WIDTH - filled),
        fraction * 100.0,
        done as f64 / MB,
        total as f64 / MB,
        done as f64 / MB / secs,
    );
    line
}

/// A bar redrawn on stderr until dropped (then its line is cleared).
#[derive(Debug)]
pub struct Bar {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Bar {
    /// Starts drawing `progress` for a file of `size` bytes, when stderr is a terminal and the
    /// file is large enough to need it; otherwise draws nothing.
    pub fn start(name: String, size: u64, progress: &Arc<Progress>) -> Self {
        if size < BAR_FROM_BYTES || !std::io::stderr().is_terminal() {
            return Self { task: None };
        }
        let progress = Arc::clone(progress);
        let task = tokio::spawn(async move {
            let mut phase_started = Instant::now();
            let mut last_phase = Phase::Hashing;
            loop {
                let (phase, done, total) = progress.read();
                if phase != last_phase {
                    (last_phase, phase_started) = (phase, Instant::now());
                }
                let line = render(&name, phase, done, total, phase_started.elapsed());
                let _ = write!(std::io::stderr(), "\r\x1b[2K{line}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        Self { task: Some(task) }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_phase_share_size_and_speed() {
        let line = render(
            "sales.csv",
            Phase::Importing,
            250_000_000,
            1_000_000_000,
            Duration::from_secs(5),
        );
        assert_eq!(
            line,
            "importing sales.csv [######------------------]  25% 250.0/1000.0 MB 50.0 MB/s"
        );
        let done = render("a", Phase::Hashing, 10, 10, Duration::ZERO);
        assert!(done.contains("[########################] 100%"), "{done}");
        assert!(render("empty", Phase::Hashing, 0, 0, Duration::ZERO).contains("100%"));
    }

    #[test]
    fn a_counting_reader_advances_its_progress() {
        let progress = Arc::new(Progress::default());
        progress.start(Phase::Importing, 11);
        let mut reader = Counting {
            inner: &b"hello world"[..],
            progress: Some(Arc::clone(&progress)),
        };
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(progress.read(), (Phase::Importing, 11, 11));
    }
}
