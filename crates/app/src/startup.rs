//! Building and running the server.

use crate::config::{Config, redact_url};
use crate::envelope::ApiError;
use crate::keys::{self, Keys};
use crate::metrics::Metrics;
use crate::middleware;
use crate::protocol::EnvelopingIo;
use crate::realtime::fanout;
use crate::realtime::hub::Hub;
use crate::routes;
use crate::state::{AppState, Ports};
use actix_http::HttpService;
use actix_http::error::DispatchError;
use actix_server::ServerBuilder;
use actix_service::{
    IntoServiceFactory, ServiceFactory, ServiceFactoryExt, fn_service, map_config,
};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, Server, ServiceRequest, ServiceResponse};
use actix_web::rt::net::TcpStream;
use actix_web::{App, web};
use anyhow::Context;
use roomwarden_adapters::{
    AddressPolicy, Database, DieselStore, DispatchOptions, EventQueueing, PoolOptions,
    RealtimeFeed, Wakeups, WebhookNotifier, Worker, spawn_dispatcher, spawn_key_sweeper,
    spawn_purger, spawn_retention,
};
use secrecy::ExposeSecret;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

/// Seconds in-flight requests get to finish after SIGTERM.
const SHUTDOWN_GRACE_SECS: u64 = 10;

/// Opens the database (running migrations) and resolves the keys.
///
/// # Errors
/// A bad URL, an unreachable database, a failed migration or key storage failure.
pub fn open_store(config: &Config) -> anyhow::Result<(DieselStore, Keys)> {
    let url = config.database_url.expose_secret();
    let options = PoolOptions {
        sync_wait: config.database_sync_wait,
        ..PoolOptions::default()
    };
    let db = Database::connect(url, &options)
        .with_context(|| format!("database {}", redact_url(url)))?;
    let store =
        DieselStore::new(db).with_event_encoder(std::sync::Arc::new(crate::wire::WebhookFormat));
    store
        .chain_backfill()
        .map_err(|e| anyhow::anyhow!(e))
        .context("cannot link the audit records written before the audit chain")?;
    let keys = keys::resolve(&store, config)?;
    Ok((store, keys))
}

/// How long a client has to send a request head (then `408`).
const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// The served OpenAPI document, built once per process.
fn openapi_json() -> web::Data<routes::ops::OpenApiJson> {
    static DOCUMENT: std::sync::OnceLock<web::Data<routes::ops::OpenApiJson>> =
        std::sync::OnceLock::new();
    DOCUMENT
        .get_or_init(|| {
            web::Data::new(routes::ops::OpenApiJson(web::Bytes::from(
                crate::openapi::document_json(),
            )))
        })
        .clone()
}

/// The application: every route, the envelope for framework errors, the access log, and
/// (outermost, so it sees every final status) the HTTP metrics.
fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let metrics = state.metrics.clone();
    App::new()
        .app_data(web::Data::new(state))
        .app_data(openapi_json())
        .app_data(crate::body::body_config())
        .app_data(
            web::QueryConfig::default()
                .error_handler(|e, _| ApiError::invalid_parameter(e.to_string()).into()),
        )
        .app_data(
            web::PathConfig::default()
                .error_handler(|e, _| ApiError::invalid_parameter(e.to_string()).into()),
        )
        // One storage deadline for all of a request's hops (innermost: around the routes).
        .wrap(actix_web::middleware::from_fn(
            |req: ServiceRequest, next: actix_web::middleware::Next<_>| {
                crate::run::with_deadline(next.call(req))
            },
        ))
        .wrap(middleware::envelope_safety_net())
        .wrap(actix_web::middleware::from_fn(
            middleware::reject_bad_percent_encoding,
        ))
        .wrap(tracing_actix_web::TracingLogger::<middleware::RequestSpan>::new())
        .wrap(actix_web::middleware::from_fn(move |req, next| {
            crate::metrics::http::record(metrics.clone(), req, next)
        }))
        .configure(routes::configure)
        .default_service(web::to(routes::no_route))
}

/// The HTTP server over `state`, on an already bound listener.
///
/// This is what `HttpServer::listen` sets up, with one difference: each connection's socket
/// is wrapped in [`EnvelopingIo`], so that even the errors actix-http answers before the
/// application sees a request (malformed request, too large a head, too slow a client) are
/// enveloped.
///
/// # Errors
/// When the listener cannot be used.
pub fn serve(listener: TcpListener, state: AppState) -> std::io::Result<Server> {
    let addr = listener.local_addr()?;
    // Use cases run on each worker's blocking pool and each holds a pooled connection, so
    // more blocking threads than connections would only wait for one, while each extra
    // thread can keep an allocator arena alive (that made RSS grow under load).
    let blocking_threads = usize::try_from(PoolOptions::default().max_size).unwrap_or(10);
    let builder = ServerBuilder::default()
        .shutdown_timeout(SHUTDOWN_GRACE_SECS)
        .worker_max_blocking_threads(blocking_threads);
    let shutdown = builder.graceful_shutdown_signal();
    let server = builder
        .listen("roomwarden", listener, move || {
            let shutdown = shutdown.clone();
            let http = HttpService::build()
                .client_request_timeout(REQUEST_HEAD_TIMEOUT)
                // As `HttpServer` does: linger a second after an early answer (a 413, say)
                // so that the client reads it instead of a reset.
                .client_disconnect_timeout(Duration::from_secs(1))
                .local_addr(addr)
                .graceful_shutdown_signal(move || {
                    let shutdown = shutdown.clone();
                    async move { shutdown.notified().await }
                })
                .h1(map_config(
                    app(state.clone())
                        .into_factory()
                        .map_err(|err| err.error_response()),
                    move |()| AppConfig::default(),
                ));
            fn_service(|io: TcpStream| async move {
                let _ = io.set_nodelay(true);
                let peer = io.peer_addr().ok();
                Ok::<_, DispatchError>((EnvelopingIo::new(io), peer))
            })
            .and_then(http)
        })?
        .run();
    Ok(server)
}

/// A built application: bound, with its background workers started.
pub struct Application {
    server: Server,
    addr: SocketAddr,
    workers: Workers,
    banner: Option<String>,
}

/// The background threads: purge, webhook dispatch, socket fan-out, idempotency key sweep.
struct Workers {
    purger: Worker,
    retention: Worker,
    dispatcher: Worker,
    fanout: Worker,
    key_sweeper: Worker,
}

impl Workers {
    fn stop(self) {
        self.key_sweeper.stop();
        self.fanout.stop();
        self.dispatcher.stop();
        self.retention.stop();
        self.purger.stop();
    }
}

impl Application {
    /// Opens storage, binds `config.bind`, and prepares the server and the purger.
    ///
    /// # Errors
    /// Any start-up failure, as a one-line cause.
    pub fn build(config: &Config) -> anyhow::Result<Self> {
        let (store, keys) = open_store(config)?;
        let wakeups = Wakeups::default();
        // Without a global webhook, only rooms with their own have events to send.
        let queueing = if config.webhook_url.is_some() {
            EventQueueing::All
        } else {
            EventQueueing::RoomsWithWebhook
        };
        let store = store
            .with_listener(Arc::new(wakeups.clone()))
            .with_event_queueing(queueing)
            .with_default_retention(config.retention_days)
            .with_clock(config.clock.clone());
        let banner = keys::banner(&keys, true);
        let listener = TcpListener::bind(&config.bind)
            .with_context(|| format!("cannot listen on {}", config.bind))?;
        let addr = listener.local_addr()?;
        let policy = AddressPolicy {
            allow_private: config.webhook_allow_private,
        };
        let ports = Ports::from_store(&store, policy);
        let hub = Arc::new(Hub::default());
        let metrics = Arc::new(Metrics::new(Some(store.clone()), hub.clone()));
        let feed = RealtimeFeed::starting_now(store.clone())
            .context("cannot read the real-time feed position")?;
        let dispatch = DispatchOptions {
            global_webhook: config.webhook_url.clone(),
            retry: config.webhook_retry,
            observer: metrics.clone(),
            ..DispatchOptions::default()
        };
        let ca_pem = config
            .webhook_ca_file
            .as_ref()
            .map(|path| {
                std::fs::read(path).with_context(|| {
                    format!("ROOMWARDEN_WEBHOOK_CA_FILE: cannot read {}", path.display())
                })
            })
            .transpose()?;
        let notifier = Arc::new(WebhookNotifier::new(
            keys.webhook_secret.clone(),
            policy,
            ca_pem.as_deref(),
        )?);
        let workers = Workers {
            fanout: fanout::spawn(feed, ports.clone(), hub.clone())
                .context("cannot start the socket fan-out")?,
            dispatcher: spawn_dispatcher(store.clone(), notifier, dispatch, wakeups.events)
                .context("cannot start the webhook dispatcher")?,
            retention: spawn_retention(store.clone(), config.retention_interval, metrics.clone())
                .context("cannot start the retention job")?,
            key_sweeper: spawn_key_sweeper(store.clone(), store.clock())
                .context("cannot start the idempotency key sweeper")?,
            purger: spawn_purger(store, wakeups.purge).context("cannot start the purger")?,
        };
        let state = AppState {
            ports,
            keys: keys.deployment,
            token_ttl: chrono::Duration::days(config.token_ttl_days),
            hub,
            socket_auth_timeout: config.socket_auth_timeout,
            metrics,
            metrics_token: config.metrics_token.clone(),
            key_guard: config.key_guard.then(Arc::default),
            verifies: Arc::new(tokio::sync::Semaphore::new(
                crate::routes::audit::VERIFIES_AT_ONCE,
            )),
        };
        let server = serve(listener, state)?;
        Ok(Self {
            server,
            addr,
            workers,
            banner,
        })
    }

    /// The bound address (the real port when `ROOMWARDEN_BIND` asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The first-start banner with the generated keys, if this start generated any.
    pub fn banner(&self) -> Option<&str> {
        self.banner.as_deref()
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT (or a stop through the handle), then stops the workers.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run(self) -> std::io::Result<()> {
        let result = self.server.await;
        let workers = self.workers;
        // Joining waits for the current batches; keep it off the async runtime.
        let _ = web::block(move || workers.stop()).await;
        result
    }
}
