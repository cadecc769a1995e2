//! The reference shop's state: its settings (style, flaws, credentials), its orders and the
//! Bearer token it caches.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Instant;

use crate::reference::ShopConfig;
use crate::sandbox::lock;

/// Where an order stands, as the shop answers `GET /orders/{id}`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum OrderStatus {
    Pending,
    Paid,
    Authorized,
    Failed,
    Refunded,
}

impl OrderStatus {
    pub(super) fn as_str(&self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Paid => "paid",
            OrderStatus::Authorized => "authorized",
            OrderStatus::Failed => "failed",
            OrderStatus::Refunded => "refunded",
        }
    }
}

/// An order the shop took, and the SmartPay transaction it created for it.
#[derive(Debug, Clone)]
pub(super) struct Order {
    pub(super) amount: f64,
    pub(super) currency: String,
    pub(super) transaction_id: String,
    pub(super) status: OrderStatus,
    pub(super) time_scale: f64,
}

/// A Bearer token and when it expires.
pub(super) struct Token {
    pub(super) value: String,
    pub(super) expires: Instant,
}

/// The reference shop.
pub(super) struct Shop {
    pub(super) config: ShopConfig,
    pub(super) http: reqwest::Client,
    pub(super) orders: Mutex<HashMap<String, Order>>,
    /// The cached Bearer token (style a).
    pub(super) token: tokio::sync::Mutex<Option<Token>>,
    /// Numbers style b's modificationIds.
    pub(super) counter: AtomicU64,
}

impl Shop {
    /// A shop with no orders yet, calling SmartPay with `http`.
    pub(super) fn new(config: ShopConfig, http: reqwest::Client) -> Self {
        Shop {
            config,
            http,
            orders: Mutex::new(HashMap::new()),
            token: tokio::sync::Mutex::new(None),
            counter: AtomicU64::new(1),
        }
    }

    pub(super) fn flawed(&self, flaw: &str) -> bool {
        self.config.flaws.contains(flaw)
    }

    pub(super) fn style_b(&self) -> bool {
        self.config.style == "b"
    }

    pub(super) fn cred(&self, name: &str) -> String {
        self.config
            .credentials
            .get(name)
            .cloned()
            .unwrap_or_default()
    }

    pub(super) fn base(&self) -> &str {
        self.config.sandbox_url.trim_end_matches('/')
    }

    pub(super) fn order(&self, id: &str) -> Option<Order> {
        lock(&self.orders).get(id).cloned()
    }

    pub(super) fn set_status(&self, id: &str, status: OrderStatus) {
        if let Some(o) = lock(&self.orders).get_mut(id) {
            o.status = status;
        }
    }
}
