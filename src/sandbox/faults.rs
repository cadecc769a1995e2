//! Faults a scenario injects into the sandbox: a 500 with the provider's error code, a 409, an
//! answer slower than the client's timeout.

use std::sync::Mutex;

use serde::Deserialize;

use axum::http::StatusCode;

use super::{lock, SandboxCore};
use crate::journal::Facts;

/// One injected fault: the next `times` calls of `operation` get it instead of their answer.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub operation: String,
    /// HTTP status to answer with (default 500).
    #[serde(default = "server_error")]
    pub status: u16,
    /// The provider's error code for the envelope (`0099`, `1301`); the profile's default when
    /// absent.
    #[serde(default)]
    pub code: Option<String>,
    /// How many calls get the fault; absent means every call for the rest of the scenario.
    #[serde(default)]
    pub times: Option<u32>,
    /// Answer only after this long (to exceed a client's timeout).
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// After the delay, answer normally instead of with the fault (a slow but good answer).
    #[serde(default)]
    pub then_succeed: bool,
}

fn server_error() -> u16 {
    500
}

/// The faults still to be served this scenario.
#[derive(Debug, Default)]
pub struct FaultPlan {
    pending: Mutex<Vec<Fault>>,
}

impl FaultPlan {
    pub fn add(&self, fault: Fault) {
        lock(&self.pending).push(fault);
    }

    pub fn clear(&self) {
        lock(&self.pending).clear();
    }

    /// The fault for this call of `operation`, if one is pending; counts it served.
    pub fn take(&self, operation: &str) -> Option<Fault> {
        let mut pending = lock(&self.pending);
        let i = pending.iter().position(|f| f.operation == operation)?;
        let fault = pending[i].clone();
        match pending[i].times {
            Some(1) => {
                pending.remove(i);
            }
            Some(n) => pending[i].times = Some(n - 1),
            None => {}
        }
        Some(fault)
    }
}

impl Fault {
    /// A short label for the journal (`500/0099`, `delay 2500ms`).
    pub fn label(&self, default_code: &str) -> String {
        let mut s = format!(
            "{}/{}",
            self.status,
            self.code.as_deref().unwrap_or(default_code)
        );
        if let Some(d) = self.delay_ms {
            s = if self.then_succeed {
                format!("delay {d}ms")
            } else {
                format!("{s} after {d}ms")
            };
        }
        s
    }
}

/// An injected fault the profile answers with, in its own error envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Injected {
    pub status: StatusCode,
    /// The provider's error code the suite asked for, if it named one.
    pub code: Option<String>,
}

impl Injected {
    /// The suite's code, else the profile's default.
    pub fn code_or(&self, default: &str) -> String {
        self.code.clone().unwrap_or_else(|| default.to_owned())
    }
}

impl SandboxCore {
    /// Serves the fault the scenario injected for this call of `operation`, if one is
    /// pending: waits its delay and notes it in the facts (labelled with the profile's default
    /// code). The fault to answer with, or `None` when there is none or it only slows a good
    /// answer (`then_succeed`: the client may have given up on it).
    pub async fn inject(
        &self,
        operation: &str,
        facts: &mut Facts,
        default_code: &str,
    ) -> Option<Injected> {
        let fault = self.take_fault(operation)?;
        self.serve_fault(fault, facts, default_code).await
    }

    /// The fault pending for this call of `operation`, counted served: for a profile that
    /// serves it apart (a future that waits out a delay only where there is one).
    pub fn take_fault(&self, operation: &str) -> Option<Fault> {
        self.faults.take(operation)
    }

    /// [`SandboxCore::inject`] of a fault already taken.
    pub async fn serve_fault(
        &self,
        fault: Fault,
        facts: &mut Facts,
        default_code: &str,
    ) -> Option<Injected> {
        if let Some(ms) = fault.delay_ms {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        facts.injected = Some(fault.label(default_code));
        if fault.then_succeed {
            return None;
        }
        Some(Injected {
            status: StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: fault.code,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_served_the_given_number_of_times() {
        let plan = FaultPlan::default();
        plan.add(Fault {
            operation: "payment_status".into(),
            status: 500,
            code: Some("0099".into()),
            times: Some(2),
            delay_ms: None,
            then_succeed: false,
        });
        assert!(plan.take("issue_token").is_none());
        assert!(plan.take("payment_status").is_some());
        assert!(plan.take("payment_status").is_some());
        assert!(plan.take("payment_status").is_none());
    }

    #[test]
    fn a_fault_without_times_lasts() {
        let plan = FaultPlan::default();
        plan.add(serde_json::from_str(r#"{"operation":"x"}"#).unwrap());
        for _ in 0..10 {
            assert_eq!(plan.take("x").unwrap().status, 500);
        }
        plan.clear();
        assert!(plan.take("x").is_none());
    }

    #[tokio::test]
    async fn an_injected_fault_is_noted_and_answered_once() {
        let core = SandboxCore::new(crate::journal::Journal::in_memory());
        core.faults.add(Fault {
            operation: "op".into(),
            status: 503,
            code: None,
            times: Some(1),
            delay_ms: None,
            then_succeed: false,
        });
        let mut facts = Facts::default();
        let injected = core.inject("op", &mut facts, "0099").await.unwrap();
        assert_eq!(injected.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(injected.code_or("0099"), "0099");
        assert_eq!(facts.injected.as_deref(), Some("503/0099"));
        assert_eq!(core.inject("op", &mut Facts::default(), "0099").await, None);
    }
}
