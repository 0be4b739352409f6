//! Everything sent on a `tokio::sync::broadcast` channel, kept by a background reader from the
//! moment it starts: what a test of a log sink or an event stream reads after the fact, without
//! racing the sender.

use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// The items sent so far; the reader stops when this is dropped.
pub struct BroadcastLog<T> {
    items: Arc<Mutex<Vec<T>>>,
    task: JoinHandle<()>,
}

impl<T: Clone + Send + 'static> BroadcastLog<T> {
    /// Subscribes to `sender` now (inside a Tokio runtime) and keeps every item sent from here
    /// on. A reader that lagged skips what it missed and carries on: the tests that use this
    /// size their channels so that it does not happen.
    pub fn start(sender: &broadcast::Sender<T>) -> Self {
        let mut rx = sender.subscribe();
        let items = Arc::new(Mutex::new(Vec::new()));
        let keep = items.clone();
        let task = tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(item) => keep.lock().expect("the log's lock").push(item),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        Self { items, task }
    }

    /// A copy of every item kept so far, in the order sent.
    pub fn items(&self) -> Vec<T> {
        self.items.lock().expect("the log's lock").clone()
    }
}

impl<T> Drop for BroadcastLog<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_what_was_sent_after_it_started() {
        let (sender, _) = broadcast::channel(8);
        sender.send(0).ok();
        let log = BroadcastLog::start(&sender);
        for i in 1..=3 {
            sender.send(i).unwrap();
        }
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
        while log.items().len() < 3 && tokio::time::Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
        assert_eq!(log.items(), vec![1, 2, 3]);
    }
}
