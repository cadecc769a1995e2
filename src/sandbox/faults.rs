//! Faults a scenario injects into the sandbox: a 500 with the provider's error code, a 409, an
//! answer slower than the client's timeout.

use std::sync::Mutex;

use serde::Deserialize;

use super::lock;

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
}
