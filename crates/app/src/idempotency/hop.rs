//! The one storage hop of a request with an `Idempotency-Key` (docs/api.md §11): the key is
//! claimed, the use case runs and its answer is stored on one connection, in one task on
//! the blocking pool, and the answer commits in the same transaction as the use case's
//! effect.
//!
//! The middleware ([`super::handle`]) puts the request's [`Inputs`] in a task-local
//! [`Stage`] around its handler; the handler's [`AppState::run`] or [`AppState::run_as`]
//! finds them ([`take`]) and runs [`run`] instead of a plain hop. On the blocking thread,
//! in order:
//!
//! 1. the caller is authenticated, the key's syntax checked and the key claimed, in the
//!    claim's own short transaction (so that another request with the key meanwhile gets
//!    `409`); a refusal or a stored answer ends the hop there;
//! 2. a unit of work opens ([`Session::begin_unit`]) and the use case runs in it;
//! 3. its result goes to the handler, which renders the answer, and the middleware sends the
//!    answer back ([`Finish`]) while the thread waits with the unit open;
//! 4. the answer is stored (or the key released) in the unit, and the unit commits: the
//!    effect and its answer stand together or not at all.
//!
//! Whatever stops this before step 4 (the handler fails, the answer is a 5xx, the client goes
//! away, the request's deadline passes) rolls the unit back and releases the key, so that a
//! retry runs once, as new; a 5xx answer leaves only once that is done. A `COMMIT` that
//! fails releases the key too, if it is still in flight: when the outcome is unknown (the
//! connection lost during it), a committed unit holds the answer, which the release leaves
//! alone, so a retry replays it.

use crate::envelope::ApiError;
use crate::session::{Ports, Session};
use actix_web::web;
use roomwarden_adapters::ScrubWait;
use roomwarden_domain::actor::Actor;
use roomwarden_domain::auth::{self, Credentials, DeploymentKeys};
use roomwarden_domain::error::{DomainError, StoreError};
use roomwarden_domain::idempotency::{
    Completion, Fingerprint, IdempotencyKey, StoredResponse, Ticket,
};
use roomwarden_domain::usecases::Ports as UseCasePorts;
use roomwarden_domain::usecases::idempotency::{self, Begin};
use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use tokio::sync::oneshot;

/// The request header.
pub const KEY_HEADER: &str = "Idempotency-Key";

/// What the claim needs, read by the middleware from the request.
pub(crate) struct Inputs {
    /// Whether the route takes only the API key (which the middleware checked): the
    /// caller is then the platform; else the caller's credentials are authenticated.
    pub(super) api_key_only: bool,
    /// The credentials as sent.
    pub(super) credentials: Credentials,
    /// The deployment's keys.
    pub(super) keys: DeploymentKeys,
    /// The header's value; `None` when the request sent several.
    pub(super) raw: Option<Vec<u8>>,
    /// Method, path, query and body.
    pub(super) fingerprint: Fingerprint,
}

/// Where a keyed request stands, as its hop reports it to the middleware.
pub(super) enum Stage {
    /// No hop has run: the handler answered without storage.
    Waiting(Inputs),
    /// A hop took the inputs and has not reported (the handler dropped it).
    Taken,
    /// Refused before a claim (authentication, the key, the claim itself): the handler's
    /// answer is the refusal, and nothing is held.
    Refused,
    /// The key's stored answer, to send instead of the handler's.
    Replay(StoredResponse),
    /// The use case ran; its unit waits for the answer.
    Open(Pending),
    /// The hop was given up (the deadline); its unit rolls back on its own.
    Lost,
}

/// A hop whose unit of work is open: dropping it rolls the unit back and releases the key.
pub(super) struct Pending {
    finish: mpsc::Sender<Finish>,
    ended: oneshot::Receiver<Ended>,
    /// What the handler reports once the unit commits ([`once_committed`]).
    after: Vec<Box<dyn FnOnce()>>,
}

/// How a unit of work ends, given the answer.
pub(super) enum Finish {
    /// Store the answer (released instead when it is a 5xx or too large, see
    /// [`idempotency::finish`]) and commit.
    Store(Completion),
    /// Commit the effect and release the key: the answer is not to be kept.
    Release,
    /// Roll the effect back and release the key: the answer is a failure.
    RollBack,
}

/// A committed unit (or why it did not commit), and the WAL checkpoint its deletions wait for.
pub(super) struct Ended {
    pub(super) outcome: Result<(), ApiError>,
    pub(super) scrub: Option<ScrubWait>,
}

impl Pending {
    /// Rolls the unit back and releases the key, waiting for both until the request's
    /// deadline, so that a retry sent after the answer finds the key free.
    pub(super) async fn roll_back(self) {
        if self.finish.send(Finish::RollBack).is_ok() {
            let _ = tokio::time::timeout_at(crate::run::deadline(), self.ended).await;
        }
    }

    /// Sends the answer and waits, until the request's deadline, for the unit to commit;
    /// then runs what the handler left for after the commit ([`once_committed`]).
    ///
    /// # Errors
    /// `503` when it did not commit, or not in time (it may still: then the answer is
    /// stored, and a retry replays it).
    pub(super) async fn end(self, finish: Finish) -> Result<Option<ScrubWait>, ApiError> {
        if self.finish.send(finish).is_err() {
            return Err(ApiError::unavailable());
        }
        match tokio::time::timeout_at(crate::run::deadline(), self.ended).await {
            Ok(Ok(Ended { outcome, scrub })) => outcome.map(|()| {
                for effect in self.after {
                    effect();
                }
                scrub
            }),
            Ok(Err(_)) => Err(ApiError::unavailable()),
            Err(_) => {
                tracing::warn!(
                    "the answer is not sent: its transaction did not commit within the deadline (it may still, with the answer stored)"
                );
                Err(ApiError::unavailable())
            }
        }
    }
}

/// What the thread tells the waiting handler.
enum Reply<T> {
    Refused(ApiError),
    Replay(StoredResponse),
    Ran(Result<T, ApiError>),
}

tokio::task_local! {
    /// The keyed request being served.
    static KEYED: RefCell<Stage>;
}

/// Runs `handler` with `inputs` for its hop to [`take`]; returns its output and where the
/// request then stands.
pub(super) async fn scope<F: Future>(inputs: Inputs, handler: F) -> (F::Output, Stage) {
    KEYED
        .scope(RefCell::new(Stage::Waiting(inputs)), async {
            let output = handler.await;
            (output, KEYED.with(|stage| stage.replace(Stage::Taken)))
        })
        .await
}

/// What the current request's hop is to be ([`take`]).
pub(crate) enum Hop {
    /// A plain hop: the request has no key, or its key's hop ended without a unit left open
    /// (a refusal, a replay).
    Plain,
    /// The keyed hop, with what its claim needs.
    Keyed(Inputs),
    /// Refused: a second hop while the keyed hop's unit of work is open would wait, on
    /// SQLite, for the write turn that unit holds.
    Refused,
}

/// What the current request's hop is to be: the keyed one for the first hop of a request
/// with a key, a plain one otherwise.
pub(crate) fn take() -> Hop {
    KEYED
        .try_with(|stage| {
            let mut stage = stage.borrow_mut();
            match std::mem::replace(&mut *stage, Stage::Taken) {
                Stage::Waiting(inputs) => Hop::Keyed(inputs),
                other => {
                    let open = matches!(other, Stage::Open(_));
                    *stage = other;
                    if open {
                        tracing::error!(
                            "a keyed request's handler made a second storage hop; refused"
                        );
                        Hop::Refused
                    } else {
                        Hop::Plain
                    }
                }
            }
        })
        .unwrap_or(Hop::Plain)
}

/// Runs `effect` once the current request's work has committed: at once, unless the
/// request's keyed unit of work is still open, then after its commit, and never if it is
/// rolled back. For what a handler reports of a committed change (metrics, the access
/// log's line).
pub(crate) fn once_committed(effect: impl FnOnce() + 'static) {
    let mut effect = Some(Box::new(effect) as Box<dyn FnOnce()>);
    let _ = KEYED.try_with(|stage| {
        if let Stage::Open(pending) = &mut *stage.borrow_mut()
            && let Some(effect) = effect.take()
        {
            pending.after.push(effect);
        }
    });
    if let Some(effect) = effect {
        effect();
    }
}

fn report(stage: Stage) {
    let _ = KEYED.try_with(|current| *current.borrow_mut() = stage);
}

/// The keyed hop (see the module docs): `f` runs as the authenticated caller inside the
/// unit of work; its result is returned, and the unit waits for the answer ([`Stage::Open`]).
/// A refusal or a replay is returned as an error for the handler to pass on; the middleware
/// answers a replay with the stored answer.
///
/// # Errors
/// The claim's refusal, `f`'s error, `503` past the request's deadline.
pub(crate) async fn run<T, F>(ports: &Ports, inputs: Inputs, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&Actor, &UseCasePorts<'_>) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let deadline = crate::run::deadline();
    let (reply, replied) = oneshot::channel();
    let (finish, finished) = mpsc::channel();
    let (ended, ended_rx) = oneshot::channel();
    let ports = ports.clone();
    let until = deadline.into_std();
    let span = tracing::Span::current();
    // Started at once; it reports through the channels, and is not awaited.
    drop(web::block(move || {
        let _entered = span.enter();
        if reply.is_closed() {
            return; // given up before it started: it never starts
        }
        let (outcome, scrub) = roomwarden_adapters::deferring_wal_scrub(|| {
            keyed(&ports, inputs, f, reply, &finished, until)
        });
        if let Some(outcome) = outcome {
            let _ = ended.send(Ended { outcome, scrub });
        }
    }));
    match tokio::time::timeout_at(deadline, replied).await {
        Ok(Ok(Reply::Ran(result))) => {
            report(Stage::Open(Pending {
                finish,
                ended: ended_rx,
                after: Vec::new(),
            }));
            result
        }
        Ok(Ok(Reply::Refused(e))) => {
            report(Stage::Refused);
            Err(e)
        }
        Ok(Ok(Reply::Replay(stored))) => {
            report(Stage::Replay(stored));
            // Replaced by the stored answer in the middleware; the handler only passes it on.
            Err(ApiError::internal())
        }
        Ok(Err(_)) => {
            report(Stage::Refused);
            tracing::error!("the keyed hop ended without an answer (it panicked)");
            Err(ApiError::internal())
        }
        Err(_) => {
            report(Stage::Lost);
            tracing::warn!(
                deadline_secs = crate::run::USE_CASE_DEADLINE.as_secs(),
                "storage did not answer in time; the keyed request's work is rolled back"
            );
            Err(ApiError::unavailable())
        }
    }
}

/// The blocking part of [`run`]: `None` when nothing was left to commit (a refusal, a
/// replay, a rollback).
fn keyed<T, F>(
    ports: &Ports,
    inputs: Inputs,
    f: F,
    reply: oneshot::Sender<Reply<T>>,
    finished: &mpsc::Receiver<Finish>,
    until: std::time::Instant,
) -> Option<Result<(), ApiError>>
where
    F: FnOnce(&Actor, &UseCasePorts<'_>) -> Result<T, ApiError>,
{
    let session = match (ports.sessions)(ports) {
        Ok(session) => session,
        Err(e) => {
            let _ = reply.send(Reply::Refused(DomainError::from(e).into()));
            return None;
        }
    };
    let p = session.ports.for_use_cases();
    let (actor, ticket) = match claim(&p, inputs) {
        Ok((actor, Begin::Run(ticket))) => (actor, ticket),
        Ok((_, Begin::Replay(stored))) => {
            let _ = reply.send(Reply::Replay(stored));
            return None;
        }
        Err(e) => {
            let _ = reply.send(Reply::Refused(e));
            return None;
        }
    };
    if reply.is_closed() {
        release(ports, &session, &ticket); // claimed after its request was given up
        return None;
    }
    if let Err(e) = session.begin_unit() {
        release(ports, &session, &ticket);
        let _ = reply.send(Reply::Refused(DomainError::from(e).into()));
        return None;
    }
    if reply.is_closed() {
        // Given up while it waited for the SQLite write turn: nobody runs it.
        roll_back(ports, &session, &ticket);
        return None;
    }
    let result = match std::panic::catch_unwind(AssertUnwindSafe(|| f(&actor, &p))) {
        Ok(result) => result,
        Err(panic) => {
            roll_back(ports, &session, &ticket);
            std::panic::resume_unwind(panic);
        }
    };
    if reply.send(Reply::Ran(result)).is_err() {
        roll_back(ports, &session, &ticket);
        return None;
    }
    let wait = until.saturating_duration_since(std::time::Instant::now());
    let Ok(finish) = finished.recv_timeout(wait) else {
        // The handler or the middleware failed, the answer is a 5xx, or nobody waits.
        roll_back(ports, &session, &ticket);
        return None;
    };
    let kept = match finish {
        Finish::Store(completion) => idempotency::finish(&p, &ticket, &completion),
        Finish::Release => idempotency::release(&p, &ticket),
        Finish::RollBack => {
            roll_back(ports, &session, &ticket);
            return Some(Ok(()));
        }
    };
    match kept {
        Ok(true) => {}
        Ok(false) => {
            // Its lease lapsed and another request took the key over: that one runs the
            // effect, so this one must not commit it too.
            let _ = session.end_unit(false);
            tracing::warn!("this request no longer held its idempotency key; rolled back");
            return Some(Err(ApiError::unavailable()));
        }
        Err(e) => {
            roll_back(ports, &session, &ticket);
            return Some(Err(e.into()));
        }
    }
    match session.end_unit(true) {
        Ok(()) => Some(Ok(())),
        Err(e) => {
            // Released only if the claim is still in flight: after a `COMMIT` whose outcome
            // is unknown that also means it did not commit (a committed unit stored its
            // answer, which the release leaves alone), so a retry replays or runs as new.
            if matches!(e, StoreError::Uncertain(_)) {
                tracing::warn!(error = %e, "a keyed request's commit has an unknown outcome");
            }
            release(ports, &session, &ticket);
            Some(Err(DomainError::from(e).into()))
        }
    }
}

/// Authenticates the caller as the route's handler does, checks the key's
/// syntax and claims it, in the contract's order (docs/api.md §11.3).
///
/// # Errors
/// `401`, `400` for the key, the claim's refusals (`409`, `422`, `429`), a storage failure.
pub(super) fn claim(ports: &UseCasePorts<'_>, inputs: Inputs) -> Result<(Actor, Begin), ApiError> {
    let actor = if inputs.api_key_only {
        Actor::Platform
    } else {
        auth::authenticate(
            &inputs.credentials,
            &inputs.keys,
            ports.clients,
            ports.clock.now(),
        )?
    };
    let key = match inputs.raw {
        Some(raw) => IdempotencyKey::parse(&raw)?,
        None => {
            return Err(DomainError::InvalidParameter(format!(
                "send at most one {KEY_HEADER} header"
            ))
            .into());
        }
    };
    let begun = idempotency::begin(ports, &actor, key, inputs.fingerprint)?;
    Ok((actor, begun))
}

/// Rolls the session's unit back and releases the key, so that a retry runs as new.
fn roll_back(ports: &Ports, session: &Session, ticket: &Ticket) {
    if let Err(e) = session.end_unit(false) {
        tracing::warn!(error = %e, "a keyed request's unit of work could not be rolled back");
    }
    release(ports, session, ticket);
}

/// Releases `ticket`'s claim in a transaction of its own, once the session's unit (if any)
/// has ended: on the session's connection, or on a fresh session's when that one failed (it
/// was lost, or the database aborted its transaction). A claim that cannot be released
/// lapses with its lease.
fn release(ports: &Ports, session: &Session, ticket: &Ticket) {
    if idempotency::release(&session.ports.for_use_cases(), ticket).is_ok() {
        return;
    }
    let released = (ports.sessions)(ports)
        .map_err(DomainError::from)
        .and_then(|fresh| idempotency::release(&fresh.ports.for_use_cases(), ticket));
    if let Err(e) = released {
        tracing::warn!(error = %e, "the idempotency key could not be released");
    }
}

/// Releases `ticket`'s claim, on `ports`, in a transaction of its own; one that fails
/// lapses with its lease.
pub(super) fn release_on(ports: &UseCasePorts<'_>, ticket: &Ticket) {
    if let Err(e) = idempotency::release(ports, ticket) {
        tracing::warn!(error = %e, "the idempotency key could not be released");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    fn open() -> Stage {
        let (finish, _) = mpsc::channel();
        let (_, ended) = oneshot::channel();
        Stage::Open(Pending {
            finish,
            ended,
            after: Vec::new(),
        })
    }

    #[actix_web::test]
    async fn while_the_unit_is_open_a_second_hop_is_refused_and_effects_wait_for_its_commit() {
        let ran = Rc::new(Cell::new(false));
        let seen = ran.clone();
        KEYED
            .scope(RefCell::new(open()), async move {
                assert!(matches!(take(), Hop::Refused));
                once_committed(move || seen.set(true));
                let kept = KEYED.with(|stage| match &*stage.borrow() {
                    Stage::Open(pending) => pending.after.len(),
                    _ => 0,
                });
                assert_eq!(kept, 1, "kept for after the commit");
            })
            .await;
        assert!(!ran.get(), "not run: the unit never committed");

        // Outside a keyed request: a plain hop, and effects at once.
        assert!(matches!(take(), Hop::Plain));
        let now = Rc::new(Cell::new(false));
        let seen = now.clone();
        once_committed(move || seen.set(true));
        assert!(now.get());
    }
}
