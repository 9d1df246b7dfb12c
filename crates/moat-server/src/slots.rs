//! Connection slots: how many connections a listener holds open, in all and per address,
//! so that no one address (a client being refused, most often) can take every slot from
//! the gateways.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The slots of one listener.
#[derive(Debug)]
pub struct Slots {
    all: Arc<Semaphore>,
    total: usize,
    per_address: Mutex<HashMap<IpAddr, usize>>,
    max_per_address: usize,
}

/// A connection's slot, given back when it is dropped.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<Slots>,
    address: IpAddr,
    _permit: OwnedSemaphorePermit,
}

impl Slots {
    /// Slots for `total` connections, at most `max_per_address` of them from one address.
    pub fn new(total: usize, max_per_address: usize) -> Arc<Self> {
        let total = total.clamp(1, Semaphore::MAX_PERMITS);
        Arc::new(Self {
            all: Arc::new(Semaphore::new(total)),
            total,
            per_address: Mutex::new(HashMap::new()),
            max_per_address: max_per_address.max(1),
        })
    }

    /// Waits for a free slot, before a connection is accepted.
    pub async fn free(&self) -> OwnedSemaphorePermit {
        self.all
            .clone()
            .acquire_owned()
            .await
            .expect("the slots are never closed")
    }

    /// The slot of a connection accepted from `address` with `permit`, or `None` when that
    /// address already holds `max_per_address` (the connection is then to be closed).
    pub fn take(self: &Arc<Self>, address: IpAddr, permit: OwnedSemaphorePermit) -> Option<Slot> {
        let mut held = self.per_address.lock().expect("no panic while held");
        let count = held.entry(address).or_default();
        if *count >= self.max_per_address {
            return None;
        }
        *count += 1;
        Some(Slot {
            slots: self.clone(),
            address,
            _permit: permit,
        })
    }

    /// Waits (at most `wait`) until every connection has given its slot back.
    pub async fn drained(&self, wait: std::time::Duration) {
        let _ = tokio::time::timeout(wait, self.all.acquire_many(self.total as u32)).await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.slots.per_address.lock().expect("no panic while held");
        if let Some(count) = held.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_address_holds_at_most_its_share_and_gets_it_back() {
        let slots = Slots::new(4, 2);
        let a: IpAddr = [192, 0, 2, 1].into();
        let b: IpAddr = [192, 0, 2, 2].into();
        let first = slots.take(a, slots.free().await).unwrap();
        let _second = slots.take(a, slots.free().await).unwrap();
        assert!(slots.take(a, slots.free().await).is_none());
        let _other = slots.take(b, slots.free().await).unwrap();
        drop(first);
        assert!(slots.take(a, slots.free().await).is_some());
    }
}
