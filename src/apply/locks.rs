//! The serialisation locks of apply (one per account, VNet or NSG), with one preference: a step
//! on the critical path of the cutover (a private endpoint: ARM's longest operation, and everything
//! network-side waits for it) goes before the other writes on the same account that it does not
//! itself wait for.
//!
//! The preference is reserved when apply starts, not when the endpoint becomes ready: otherwise
//! whichever step became ready first took the account, and a deployment re-bind (ready as soon as
//! the RAI policy is written) could slip in ahead of the endpoint (still waiting for the identity
//! PATCH) and delay the whole cutover by one deployment operation (docs/benchmarks.md, apply/1).
//! Steps that give way wait *before* taking a parallelism slot, so they can never be the ones
//! keeping the endpoint from one; the endpoint's own prerequisites (the identity PATCH, a new
//! account) never give way. A reservation ends when the endpoint holds the lock, or when it fails,
//! is skipped or is interrupted, whichever comes first.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{Mutex, MutexGuard, Notify};

#[derive(Debug, Default)]
pub struct KeyLock {
    mutex: Mutex<()>,
    /// Preferred steps reserved on this key that have not taken the lock (or given up) yet.
    preferred: AtomicUsize,
    changed: Notify,
}

/// Reservation of a preferred step, from the start of apply until it holds the lock (or gives up).
#[derive(Debug)]
pub struct Preferred {
    lock: Arc<KeyLock>,
    released: AtomicBool,
}

impl Preferred {
    fn release(&self) {
        if !self.released.swap(true, Ordering::SeqCst) {
            self.lock.preferred.fetch_sub(1, Ordering::SeqCst);
            self.lock.changed.notify_waiters();
        }
    }
}

impl Drop for Preferred {
    fn drop(&mut self) {
        self.release();
    }
}

impl KeyLock {
    /// Reserve the lock for a preferred step: steps that give way wait until it is released.
    pub fn prefer(self: &Arc<Self>) -> Preferred {
        self.preferred.fetch_add(1, Ordering::SeqCst);
        Preferred {
            lock: self.clone(),
            released: AtomicBool::new(false),
        }
    }

    /// Resolves once no preferred step is reserved on this key (at once if none is).
    pub async fn preferred_gone(&self) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.preferred.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Take the lock; a preferred step's reservation ends once it holds it.
    pub async fn acquire(&self, preferred: Option<&Preferred>) -> MutexGuard<'_, ()> {
        let guard = self.mutex.lock().await;
        if let Some(p) = preferred {
            p.release();
        }
        guard
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_step_that_gives_way_waits_until_the_preferred_step_holds_the_lock() {
        let lock = Arc::new(KeyLock::default());
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let p = lock.prefer();
        let (l2, o2) = (lock.clone(), order.clone());
        let other = tokio::spawn(async move {
            l2.preferred_gone().await;
            let _g = l2.acquire(None).await;
            o2.lock().unwrap().push("other");
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!other.is_finished());
        let held = lock.acquire(Some(&p)).await;
        order.lock().unwrap().push("preferred");
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Released its reservation, but still holds the lock.
        assert!(!other.is_finished());
        drop(held);
        other.await.unwrap();
        assert_eq!(*order.lock().unwrap(), vec!["preferred", "other"]);
    }

    #[tokio::test]
    async fn a_preferred_step_that_gives_up_lets_the_others_through() {
        let lock = Arc::new(KeyLock::default());
        let p = lock.prefer();
        let l2 = lock.clone();
        let other = tokio::spawn(async move {
            l2.preferred_gone().await;
            let _g = l2.acquire(None).await;
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!other.is_finished());
        drop(p);
        tokio::time::timeout(Duration::from_secs(5), other)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn steps_that_do_not_give_way_take_the_lock_while_a_reservation_stands() {
        // The endpoint's own prerequisites (an identity PATCH on the same account).
        let lock = Arc::new(KeyLock::default());
        let _p = lock.prefer();
        let _held = tokio::time::timeout(Duration::from_secs(5), lock.acquire(None))
            .await
            .expect("not held back by the reservation");
    }
}
