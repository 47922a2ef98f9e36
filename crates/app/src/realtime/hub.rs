//! Connected sockets by client, with bounded queues.

use roomwarden_domain::ids::ClientId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::mpsc;

/// Frames a socket may have queued before it counts as too slow and is disconnected.
pub const QUEUE_FRAMES: usize = 256;

/// A frame to send: shared, since one event goes to many sockets.
pub type Frame = Arc<str>;

/// Each client's sockets: `(session ID, queue)`.
type Sessions = HashMap<ClientId, Vec<(u64, mpsc::Sender<Frame>)>>;

/// The registry of authenticated sockets in this process.
#[derive(Debug, Default)]
pub struct Hub {
    next_id: AtomicU64,
    sessions: Mutex<Sessions>,
}

/// What a registration returns: the session's ID and its queue.
pub struct Registration {
    /// Pass back to [`Hub::unregister`].
    pub id: u64,
    /// Frames for this socket; `None` from `recv` means the hub dropped it (too slow).
    pub frames: mpsc::Receiver<Frame>,
}

impl Hub {
    /// Adds a socket of `client`.
    pub fn register(&self, client: ClientId) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, frames) = mpsc::channel(QUEUE_FRAMES);
        self.lock().entry(client).or_default().push((id, tx));
        Registration { id, frames }
    }

    /// Removes a socket.
    pub fn unregister(&self, client: &ClientId, id: u64) {
        let mut sessions = self.lock();
        if let Some(list) = sessions.get_mut(client) {
            list.retain(|(sid, _)| *sid != id);
            if list.is_empty() {
                sessions.remove(client);
            }
        }
    }

    /// Queues `frame` for every socket of `members`. A socket whose queue is full is
    /// dropped from the hub (its session then closes), so a slow client cannot make the
    /// server hold an unbounded backlog. Returns how many sockets got the frame.
    pub fn deliver(&self, members: &[ClientId], frame: &Frame) -> usize {
        let mut delivered = 0;
        let mut sessions = self.lock();
        for member in members {
            let Some(list) = sessions.get_mut(member) else {
                continue;
            };
            list.retain(|(id, tx)| match tx.try_send(Arc::clone(frame)) {
                Ok(()) => {
                    delivered += 1;
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(client = %member, session = id, "socket too slow; disconnecting");
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
            if list.is_empty() {
                sessions.remove(member);
            }
        }
        delivered
    }

    /// Whether any socket is connected (the fan-out skips member lookups when none is).
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ClientId {
        ClientId::from_trusted(s.to_owned())
    }

    #[test]
    fn frames_reach_only_the_listed_members() {
        let hub = Hub::default();
        let mut alice = hub.register(id("alice"));
        let mut bob = hub.register(id("bob"));
        let frame: Frame = Arc::from("x");
        assert_eq!(hub.deliver(&[id("alice"), id("carol")], &frame), 1);
        assert_eq!(alice.frames.try_recv().ok().as_deref(), Some("x"));
        assert!(bob.frames.try_recv().is_err());
    }

    #[test]
    fn a_full_queue_drops_the_socket_instead_of_growing() {
        let hub = Hub::default();
        let mut slow = hub.register(id("slow"));
        let frame: Frame = Arc::from("x");
        for _ in 0..QUEUE_FRAMES {
            assert_eq!(hub.deliver(&[id("slow")], &frame), 1);
        }
        assert_eq!(
            hub.deliver(&[id("slow")], &frame),
            0,
            "the overflowing socket is dropped"
        );
        assert!(hub.is_empty());
        let mut drained = 0;
        while slow.frames.try_recv().is_ok() {
            drained += 1;
        }
        assert_eq!(drained, QUEUE_FRAMES);
        assert!(matches!(
            slow.frames.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
    }

    #[test]
    fn unregistered_sockets_get_nothing() {
        let hub = Hub::default();
        let reg = hub.register(id("a"));
        hub.unregister(&id("a"), reg.id);
        assert_eq!(hub.deliver(&[id("a")], &Arc::from("x")), 0);
    }
}
