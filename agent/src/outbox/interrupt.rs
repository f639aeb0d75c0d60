//! [`Interrupt`]: stops a slow [`Outbox::open_interruptible`](super::Outbox::open_interruptible)
//! from another thread, for the service's shutdown signal arriving during start-up.
//!
//! Only the steps that the next open does again from the start can be stopped, so stopping one
//! loses nothing: the start-up check (read-only: the session stays marked unclean, so the next
//! start checks again), including its wait for another connection's lock, and the salvage of
//! a quarantined file (one transaction, rolled back: the quarantine record still says the
//! salvage is to do). Once a damaged file is being renamed aside, the rename and the
//! quarantine record are finished first.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, InterruptHandle};

use super::error::BufferError;

/// A stop request for an open in progress; clone it to hand one copy to the opening thread.
#[derive(Clone, Default)]
pub struct Interrupt(Arc<Shared>);

#[derive(Default)]
struct Shared {
    raised: AtomicBool,
    /// The connection of the stoppable statement running now, if any.
    running: Mutex<Option<InterruptHandle>>,
}

impl fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interrupt")
            .field("raised", &self.is_raised())
            .finish()
    }
}

impl Interrupt {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the open to stop: a stoppable statement running now fails at once, and the open
    /// returns [`BufferError::Interrupted`] at its next stoppable step.
    pub fn raise(&self) {
        self.0.raised.store(true, Ordering::SeqCst);
        if let Some(running) = self.running().as_ref() {
            running.interrupt();
        }
    }

    pub fn is_raised(&self) -> bool {
        self.0.raised.load(Ordering::SeqCst)
    }

    /// `Err(Interrupted)` once raised; called before each stoppable step (and per row where a
    /// step loops).
    pub(crate) fn check(&self) -> Result<(), BufferError> {
        if self.is_raised() {
            Err(BufferError::Interrupted)
        } else {
            Ok(())
        }
    }

    /// Lets [`Interrupt::raise`] cut short the statements `conn` runs until the guard is
    /// dropped (they then fail with SQLITE_INTERRUPT, which reads as
    /// [`BufferError::Interrupted`]). Fails at once if already raised.
    pub(crate) fn watch(&self, conn: &Connection) -> Result<Watch<'_>, BufferError> {
        *self.running() = Some(conn.get_interrupt_handle());
        let watch = Watch(self);
        // Raised before the handle was in place: `raise` did not see it, so stop here.
        self.check()?;
        Ok(watch)
    }

    fn running(&self) -> MutexGuard<'_, Option<InterruptHandle>> {
        self.0
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// While alive, [`Interrupt::raise`] interrupts the watched connection.
#[derive(Debug)]
pub(crate) struct Watch<'a>(&'a Interrupt);

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        *self.0.running() = None;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    /// A statement that never ends on its own.
    const ENDLESS: &str = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n)
                           SELECT count(*) FROM n";

    #[test]
    fn raising_cuts_short_a_watched_statement() {
        let conn = Connection::open_in_memory().unwrap();
        let interrupt = Interrupt::new();
        let raiser = {
            let interrupt = interrupt.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                interrupt.raise();
            })
        };
        let started = Instant::now();
        let watch = interrupt.watch(&conn).unwrap();
        let err = conn
            .query_row(ENDLESS, [], |row| row.get::<_, i64>(0))
            .unwrap_err();
        drop(watch);
        raiser.join().unwrap();
        assert!(
            matches!(
                BufferError::sqlite("counting", err),
                BufferError::Interrupted
            ),
            "not read as an interruption"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_raise_before_the_watch_stops_the_step_before_it_runs() {
        let conn = Connection::open_in_memory().unwrap();
        let interrupt = Interrupt::new();
        interrupt.raise();
        assert!(matches!(
            interrupt.watch(&conn),
            Err(BufferError::Interrupted)
        ));
        assert!(matches!(interrupt.check(), Err(BufferError::Interrupted)));
        // The guard was dropped with the error: the connection is not interrupted later.
        assert!(interrupt.running().is_none());
        conn.query_row("SELECT 1", [], |row| row.get::<_, i64>(0))
            .unwrap();
    }
}
