//! Connected sockets by subscriber, with bounded queues.

use roomwarden_domain::ids::ClientId;
use roomwarden_domain::model::TokenHash;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use tokio::sync::mpsc;

/// Frames a socket may have queued before it counts as too slow and is disconnected.
pub const QUEUE_FRAMES: usize = 256;

/// The same for a platform socket, which gets every room's frames: one purge across a
/// thousand rooms announces a thousand deletions at once.
pub const PLATFORM_QUEUE_FRAMES: usize = 8192;

/// A frame to send: shared, since one event goes to many sockets.
pub type Frame = Arc<str>;

/// Why the hub dropped a socket; the session closes with the matching code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Its queue overflowed (1013, try again later).
    TooSlow,
    /// Its token no longer authenticates: revoked, superseded or expired (1008).
    TokenLapsed,
}

/// Whose a socket is: a client (it gets its rooms' events) or the platform (a socket
/// authenticated with the API key: it gets every room's events).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subscriber {
    /// A user, authenticated with a token.
    Client(ClientId),
    /// The backend, authenticated with the API key.
    Platform,
}

/// One authenticated socket as the hub sees it.
#[derive(Debug)]
struct Session {
    id: u64,
    /// The hash of the token it authenticated with; `None` for the API key.
    token: Option<TokenHash>,
    queue: mpsc::Sender<Frame>,
    ended: Arc<OnceLock<Ended>>,
}

impl Session {
    /// Drops the session for `why`: its queue closes after the frames already in it.
    fn end(&self, why: Ended) {
        let _ = self.ended.set(why);
    }
}

/// The sockets: each client's, and the platform's.
#[derive(Debug, Default)]
struct Sessions {
    clients: HashMap<ClientId, Vec<Session>>,
    platform: Vec<Session>,
}

impl Sessions {
    fn is_empty(&self) -> bool {
        self.clients.is_empty() && self.platform.is_empty()
    }

    fn all(&self) -> impl Iterator<Item = &Session> {
        self.clients.values().flatten().chain(&self.platform)
    }
}

/// Queues `frame` for each of `list`'s sockets, dropping those too slow to keep up; how
/// many got it.
fn offer(list: &mut Vec<Session>, frame: &Frame, whose: &dyn std::fmt::Debug) -> usize {
    let mut delivered = 0;
    list.retain(|s| match s.queue.try_send(Arc::clone(frame)) {
        Ok(()) => {
            delivered += 1;
            true
        }
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::warn!(subscriber = ?whose, session = s.id, "socket too slow; disconnecting");
            s.end(Ended::TooSlow);
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    });
    delivered
}

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
    /// Frames for this socket; `None` from `recv` means the hub dropped it (see [`Registration::ended`]).
    pub frames: mpsc::Receiver<Frame>,
    ended: Arc<OnceLock<Ended>>,
}

impl Registration {
    /// Why the hub dropped this socket, once it has.
    pub fn ended(&self) -> Option<Ended> {
        self.ended.get().copied()
    }
}

impl Hub {
    /// Adds a socket of `client`, authenticated with the token whose hash is `token`.
    pub fn register(&self, client: ClientId, token: TokenHash) -> Registration {
        self.add(Subscriber::Client(client), Some(token))
    }

    /// Adds a socket authenticated with the API key: it gets every room's frames.
    pub fn register_platform(&self) -> Registration {
        self.add(Subscriber::Platform, None)
    }

    fn add(&self, subscriber: Subscriber, token: Option<TokenHash>) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let bound = match subscriber {
            Subscriber::Client(_) => QUEUE_FRAMES,
            Subscriber::Platform => PLATFORM_QUEUE_FRAMES,
        };
        let (queue, frames) = mpsc::channel(bound);
        let ended = Arc::new(OnceLock::new());
        let session = Session {
            id,
            token,
            queue,
            ended: ended.clone(),
        };
        let mut sessions = self.lock();
        match subscriber {
            Subscriber::Client(client) => sessions.clients.entry(client).or_default().push(session),
            Subscriber::Platform => sessions.platform.push(session),
        }
        Registration { id, frames, ended }
    }

    /// Removes a socket.
    pub fn unregister(&self, subscriber: &Subscriber, id: u64) {
        let mut sessions = self.lock();
        match subscriber {
            Subscriber::Client(client) => {
                if let Some(list) = sessions.clients.get_mut(client) {
                    list.retain(|s| s.id != id);
                    if list.is_empty() {
                        sessions.clients.remove(client);
                    }
                }
            }
            Subscriber::Platform => sessions.platform.retain(|s| s.id != id),
        }
    }

    /// Queues `frame` for every socket of `members` and every platform socket. A socket
    /// whose queue is full is dropped from the hub (its session then closes), so a slow
    /// client cannot make the server hold an unbounded backlog. Returns how many sockets
    /// got the frame.
    pub fn deliver(&self, members: &[ClientId], frame: &Frame) -> usize {
        let mut sessions = self.lock();
        let mut delivered = offer(&mut sessions.platform, frame, &Subscriber::Platform);
        for member in members {
            let Some(list) = sessions.clients.get_mut(member) else {
                continue;
            };
            delivered += offer(list, frame, member);
            if list.is_empty() {
                sessions.clients.remove(member);
            }
        }
        delivered
    }

    /// The distinct tokens the sockets of `clients` authenticated with (those connected).
    pub fn tokens_of(&self, clients: &[ClientId]) -> Vec<TokenHash> {
        let sessions = self.lock();
        let distinct: BTreeSet<&str> = clients
            .iter()
            .filter_map(|c| sessions.clients.get(c))
            .flatten()
            .filter_map(|s| s.token.as_ref().map(|t| t.0.as_str()))
            .collect();
        distinct
            .into_iter()
            .map(|t| TokenHash(t.to_owned()))
            .collect()
    }

    /// The distinct tokens the connected sockets authenticated with.
    pub fn tokens(&self) -> Vec<TokenHash> {
        let sessions = self.lock();
        let distinct: BTreeSet<&str> = sessions
            .all()
            .filter_map(|s| s.token.as_ref().map(|t| t.0.as_str()))
            .collect();
        distinct
            .into_iter()
            .map(|t| TokenHash(t.to_owned()))
            .collect()
    }

    /// Drops every socket authenticated with one of `lapsed`: nothing more is queued for
    /// them, and their sessions close with 1008. Returns how many were dropped.
    pub fn end_sessions_with(&self, lapsed: &[TokenHash]) -> usize {
        if lapsed.is_empty() {
            return 0;
        }
        let mut ended = 0;
        let mut sessions = self.lock();
        // Platform sockets hold no token: only clients' sockets lapse.
        sessions.clients.retain(|client, list| {
            list.retain(|s| {
                let keep = s.token.as_ref().is_none_or(|t| !lapsed.contains(t));
                if !keep {
                    tracing::info!(client = %client, session = s.id, "token no longer valid; closing socket");
                    s.end(Ended::TokenLapsed);
                    ended += 1;
                }
                keep
            });
            !list.is_empty()
        });
        ended
    }

    /// How many sockets are registered (authenticated and not dropped), for `/metrics`.
    pub fn connections(&self) -> usize {
        self.lock().all().count()
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

    fn token(s: &str) -> TokenHash {
        TokenHash(s.to_owned())
    }

    #[test]
    fn frames_reach_only_the_listed_members() {
        let hub = Hub::default();
        let mut alice = hub.register(id("alice"), token("t-alice"));
        let mut bob = hub.register(id("bob"), token("t-bob"));
        let frame: Frame = Arc::from("x");
        assert_eq!(hub.deliver(&[id("alice"), id("carol")], &frame), 1);
        assert_eq!(alice.frames.try_recv().ok().as_deref(), Some("x"));
        assert!(bob.frames.try_recv().is_err());
    }

    #[test]
    fn a_full_queue_drops_the_socket_instead_of_growing() {
        let hub = Hub::default();
        let mut slow = hub.register(id("slow"), token("t-slow"));
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
        assert_eq!(slow.ended(), Some(Ended::TooSlow));
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
    fn sessions_of_lapsed_tokens_end_and_get_nothing_more() {
        let hub = Hub::default();
        let mut old = hub.register(id("a"), token("old"));
        let mut new = hub.register(id("a"), token("new"));
        let frame: Frame = Arc::from("x");
        assert_eq!(hub.tokens(), vec![token("new"), token("old")]);
        assert_eq!(hub.end_sessions_with(&[token("old")]), 1);
        assert_eq!(hub.deliver(&[id("a")], &frame), 1);
        assert!(matches!(
            old.frames.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
        assert_eq!(old.ended(), Some(Ended::TokenLapsed));
        assert_eq!(new.frames.try_recv().ok().as_deref(), Some("x"));
        assert_eq!(new.ended(), None);
    }

    #[test]
    fn platform_sockets_get_every_frame_and_have_no_token() {
        let hub = Hub::default();
        let mut platform = hub.register_platform();
        let frame: Frame = Arc::from("x");
        assert_eq!(hub.deliver(&[], &frame), 1);
        assert_eq!(hub.deliver(&[id("alice")], &frame), 1);
        assert_eq!(platform.frames.try_recv().ok().as_deref(), Some("x"));
        assert_eq!(platform.frames.try_recv().ok().as_deref(), Some("x"));
        assert!(hub.tokens().is_empty());
        assert_eq!(hub.end_sessions_with(&[token("any")]), 0);
        // A burst far beyond a client's queue (a purge across many rooms) is kept.
        for _ in 0..QUEUE_FRAMES * 4 {
            assert_eq!(hub.deliver(&[], &frame), 1);
        }
        hub.unregister(&Subscriber::Platform, platform.id);
        assert!(hub.is_empty());
    }

    #[test]
    fn unregistered_sockets_get_nothing() {
        let hub = Hub::default();
        let reg = hub.register(id("a"), token("t-a"));
        hub.unregister(&Subscriber::Client(id("a")), reg.id);
        assert_eq!(hub.deliver(&[id("a")], &Arc::from("x")), 0);
    }
}
