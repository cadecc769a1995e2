//! What SmartPay's simulated API remembers: the Bearer tokens it issued, the checkouts and
//! their transactions, and what the running scenario scripted.

use std::collections::HashMap;

use serde_json::Value;

use crate::sandbox::tokens::TokenBook;

/// A capture, refund or cancel of a transaction (kept by its modificationId).
#[derive(Debug, Clone)]
pub(crate) struct Modification {
    pub(crate) kind: &'static str,
    /// The answer given the first time, repeated for the same modificationId.
    pub(crate) status: u16,
    pub(crate) body: Value,
}

/// A checkout and the payment the widget takes for it.
#[derive(Debug, Clone)]
pub(crate) struct Transaction {
    pub(crate) id: String,
    pub(crate) checkout_token: String,
    pub(crate) amount: f64,
    pub(crate) currency: String,
    pub(crate) description: String,
    pub(crate) reconciliation: String,
    pub(crate) created: String,
    /// None until the widget finished; then whether it succeeded.
    pub(crate) widget_success: Option<bool>,
    pub(crate) sequence: Vec<String>,
    pub(crate) queries: usize,
    /// A status set by a modification (CAPTURED after a capture).
    pub(crate) overridden: Option<String>,
    pub(crate) modifications: Vec<(String, Modification)>,
}

impl Transaction {
    /// What the next status query reports (without advancing).
    pub(crate) fn next_status(&self) -> String {
        match self.widget_success {
            None => "CREATED".into(),
            Some(false) => "FAILED".into(),
            Some(true) => self.overridden.clone().unwrap_or_else(|| {
                let i = self.queries.min(self.sequence.len().saturating_sub(1));
                self.sequence
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| "CAPTURED".into())
            }),
        }
    }

    /// The status the merchant last saw (what a modification is judged against).
    pub(crate) fn current_status(&self) -> String {
        match self.widget_success {
            Some(true) if self.overridden.is_none() => {
                let i = self
                    .queries
                    .saturating_sub(1)
                    .min(self.sequence.len().saturating_sub(1));
                self.sequence
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| "CAPTURED".into())
            }
            _ => self.next_status(),
        }
    }

    pub(crate) fn refunded(&self) -> f64 {
        self.modifications
            .iter()
            .filter(|(_, m)| m.kind == "REFUND" && (200..300).contains(&m.status))
            .filter_map(|(_, m)| m.body["amount"].as_f64())
            .sum()
    }
}

/// Everything the API remembers during a run.
pub(crate) struct ApiState {
    /// Bearer tokens issued: value → expiry (run clock, ms).
    pub(crate) tokens: TokenBook<()>,
    pub(crate) transactions: HashMap<String, Transaction>,
    /// Checkouts created in the running scenario, in order.
    pub(crate) scenario_checkouts: Vec<String>,
    pub(crate) sequence: Vec<String>,
    /// The payments the widget completed, across scenarios, oldest first (for
    /// `forge_success: other`).
    pub(crate) paid: Vec<String>,
}

impl ApiState {
    /// Nothing issued or created yet; payments report CAPTURED.
    pub(crate) fn new() -> Self {
        ApiState {
            tokens: TokenBook::new(),
            transactions: HashMap::new(),
            scenario_checkouts: Vec::new(),
            sequence: vec!["CAPTURED".into()],
            paid: Vec::new(),
        }
    }

    /// A real, captured payment of another order, to forge a success with: the latest one
    /// Get Payment Status reports CAPTURED (or SETTLED), not a payment still PENDING or
    /// failed, which a shop would refuse whether or not it checks whose payment it is.
    /// One for the same amount as this scenario's checkout comes first, so only checking the
    /// transaction's order catches it.
    pub(crate) fn captured_of_another_order(&self) -> Option<String> {
        let amount = self
            .scenario_checkouts
            .last()
            .and_then(|id| self.transactions.get(id))
            .map(|t| t.amount);
        let captured: Vec<&Transaction> = self
            .paid
            .iter()
            .rev()
            .filter(|id| !self.scenario_checkouts.contains(id))
            .filter_map(|id| self.transactions.get(id))
            .filter(|t| matches!(t.next_status().as_str(), "CAPTURED" | "SETTLED"))
            .collect();
        captured
            .iter()
            .find(|t| Some(t.amount) == amount)
            .or(captured.first())
            .map(|t| t.id.clone())
    }

    /// The checkout the widget opens for the shop's page: `page_token` is the checkout token
    /// the page hands it, if the shop's answer carried one. A page that carries one must carry
    /// the token of this scenario's last checkout (`Err` when the shop made none, or another).
    /// A page that carries none belongs to a shop that answered "Pay" at once (202) and creates
    /// the checkout in the background; its page asks its server for the token: the widget gets
    /// the token of this scenario's last checkout the widget has not taken a payment for yet,
    /// and `Ok(None)` means none exists yet (wait for the shop's Create Checkout).
    pub(crate) fn widget_checkout(
        &self,
        page_token: Option<&str>,
    ) -> Result<Option<(String, String)>, String> {
        let last = |open_only: bool| {
            self.scenario_checkouts
                .last()
                .and_then(|id| self.transactions.get(id))
                .filter(|t| !open_only || t.widget_success.is_none())
                .map(|t| (t.id.clone(), t.checkout_token.clone()))
        };
        let Some(token) = page_token else {
            return Ok(last(true));
        };
        match last(false) {
            None => Err("the page carries a checkout token, but the shop's server made no Create Checkout in this scenario".into()),
            Some((id, issued)) if issued != token => Err(format!(
                "the page's checkout token ({}) is not the one SmartPay issued for this order's checkout (transaction {id}, {})",
                crate::journal::fingerprint(token),
                crate::journal::fingerprint(&issued)
            )),
            Some(found) => Ok(Some(found)),
        }
    }
}
