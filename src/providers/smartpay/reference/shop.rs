//! The reference shop's state: its settings (style, flaws, credentials), its orders and the
//! Bearer token it caches.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

pub(super) use crate::reference::shop::OrderStatus;
use crate::reference::shop::{reference_shop, TokenCache};
use crate::reference::ShopConfig;
use crate::sandbox::lock;

/// An order the shop took, and the SmartPay transaction it created for it.
#[derive(Debug, Clone)]
pub(super) struct Order {
    pub(super) amount: f64,
    pub(super) currency: String,
    pub(super) transaction_id: String,
    pub(super) status: OrderStatus,
    pub(super) time_scale: f64,
}

/// The reference shop.
pub(super) struct Shop {
    pub(super) config: ShopConfig,
    pub(super) http: reqwest::Client,
    pub(super) orders: Mutex<HashMap<String, Order>>,
    /// The cached Bearer token (style a).
    pub(super) token: TokenCache,
    /// Numbers style b's modificationIds.
    pub(super) counter: AtomicU64,
}

reference_shop!(Shop);

impl Shop {
    /// A shop with no orders yet, calling SmartPay with `http`.
    pub(super) fn new(config: ShopConfig, http: reqwest::Client) -> Self {
        Shop {
            config,
            http,
            orders: Mutex::new(HashMap::new()),
            token: TokenCache::default(),
            counter: AtomicU64::new(1),
        }
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
