//! What the runner says while it runs. The terminal display listens; the runner does not care
//! who does (nextest's split between the runner and its reporters).

/// One thing that happened during a run.
#[derive(Debug, Clone)]
pub enum RunEvent {
    /// The sandbox is up and the target is being started or attached to.
    /// With `--jobs N`, each lane says so of its own sandbox and copy of the target.
    Starting {
        suite: String,
        target: String,
        sandbox_url: String,
        /// The whole run's, every lane's.
        scenarios: usize,
        /// This lane (from 0) of how many.
        lane: usize,
        lanes: usize,
    },
    /// The target answered its readiness probe (the copy of a lane, with `--jobs N`).
    TargetReady {
        base_url: String,
        after_ms: f64,
        lane: usize,
    },
    ScenarioStarted {
        index: usize,
        id: String,
        title: String,
    },
    /// A step of the running scenario finished (`trigger start_payment`, `wait for payment_status`).
    StepFinished {
        scenario: String,
        step: String,
        ok: bool,
    },
    ScenarioFinished {
        id: String,
        error: Option<String>,
        duration_ms: f64,
    },
    /// An exchange was journaled (only with `--verbose`), unmasked: a reporter masks it as
    /// the reports do before showing it.
    Exchange(std::sync::Arc<crate::journal::Exchange>),
    /// Exchanges `first..=last` were journaled but went by before they could be shown
    /// (`--verbose`): the journal has them.
    ExchangesUnseen { first: u64, last: u64 },
    /// Every scenario has run; the checks are being evaluated.
    Judging { checks: usize },
}

/// Receives run events. Implementations must be cheap: they are called on the runner's task.
pub trait EventSink: Send + Sync {
    fn event(&self, event: &RunEvent);
}

/// Listens to nothing: for tests and library use.
pub struct Silent;

impl EventSink for Silent {
    fn event(&self, _: &RunEvent) {}
}
