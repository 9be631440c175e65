//! The serialisation locks of apply (one per account, VNet or NSG), with one preference: a step
//! on the critical path of the cutover (a private endpoint: ARM's longest operation, and everything
//! network-side waits for it) goes before the other writes queued on the same account.
//!
//! Without it, whichever step's gate read came back first took the account: a deployment re-bind
//! could slip in ahead of the endpoint and delay the whole cutover by one deployment operation
//! (docs/benchmarks.md, apply/1).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{Mutex, MutexGuard, Notify};

#[derive(Debug, Default)]
pub struct KeyLock {
    mutex: Mutex<()>,
    /// Preferred steps scheduled on this key that have not taken the lock yet.
    preferred: AtomicUsize,
    changed: Notify,
}

/// Registration of a preferred step, from scheduling until it holds the lock (or gives up).
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
    /// Called when a preferred step is scheduled, before its gates run.
    pub fn prefer(self: &Arc<Self>) -> Preferred {
        self.preferred.fetch_add(1, Ordering::SeqCst);
        Preferred {
            lock: self.clone(),
            released: AtomicBool::new(false),
        }
    }

    /// Take the lock. Other steps first let every scheduled preferred step through.
    pub async fn acquire(&self, preferred: Option<&Preferred>) -> MutexGuard<'_, ()> {
        if let Some(p) = preferred {
            let guard = self.mutex.lock().await;
            p.release();
            return guard;
        }
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.preferred.load(Ordering::SeqCst) == 0 {
                break;
            }
            notified.await;
        }
        self.mutex.lock().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_preferred_step_goes_first_even_when_it_arrives_later() {
        let lock = Arc::new(KeyLock::default());
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let p = lock.prefer();
        let (l2, o2) = (lock.clone(), order.clone());
        let other = tokio::spawn(async move {
            let _g = l2.acquire(None).await;
            o2.lock().unwrap().push("other");
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        {
            let _g = lock.acquire(Some(&p)).await;
            order.lock().unwrap().push("preferred");
        }
        other.await.unwrap();
        assert_eq!(*order.lock().unwrap(), vec!["preferred", "other"]);
    }

    #[tokio::test]
    async fn a_preferred_step_that_gives_up_lets_the_others_through() {
        let lock = Arc::new(KeyLock::default());
        let p = lock.prefer();
        let l2 = lock.clone();
        let other = tokio::spawn(async move {
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
}
