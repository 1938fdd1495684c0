//! Connections for reads, each owned by a thread of its own.
//!
//! Why threads: the `postgres` client runs its own small runtime and must not be driven from
//! inside the server's tokio runtime (where storage reads come from: a guest's synchronous
//! import runs on a runtime thread). A caller hands a closure to the next free connection
//! thread and blocks (or awaits) for its answer. The queue is bounded: past
//! [`Pool::QUEUE`] waiting calls a caller blocks until there is room.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use super::PgOptions;

type Call = Box<dyn FnOnce(Result<&mut postgres::Client, &postgres::Error>) + Send>;

/// Read connections. Cheap to clone.
#[derive(Clone)]
pub(in crate::store) struct Pool {
    tx: SyncSender<Call>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").finish_non_exhaustive()
    }
}

impl Pool {
    /// Calls waiting for a free connection before callers block.
    pub const QUEUE: usize = 1024;

    /// Starts `opts.connections` threads; each connects on first use and again after an error.
    pub fn start(opts: &PgOptions) -> Pool {
        let (tx, rx) = mpsc::sync_channel::<Call>(Self::QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..opts.connections.max(1) {
            let rx = rx.clone();
            let opts = opts.clone();
            std::thread::Builder::new()
                .name(format!("holdfast-pg-{i}"))
                .spawn(move || serve(&rx, &opts))
                .expect("spawn a database connection thread");
        }
        Pool { tx }
    }

    /// Runs `f` on a connection and waits for its result (blocking this thread).
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error> + Send + 'static,
    ) -> Result<T, PoolError> {
        let (done, answer) = mpsc::sync_channel(1);
        self.send(f, move |r| {
            let _ = done.send(r);
        })?;
        // On a runtime thread, let the runtime move its other tasks elsewhere meanwhile (a node
        // cut off from the database waits up to its I/O timeout here).
        let wait = || answer.recv().unwrap_or(Err(PoolError::Closed));
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        }
    }

    /// Runs `f` on a connection; the future yields its result.
    pub async fn run_async<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error> + Send + 'static,
    ) -> Result<T, PoolError> {
        let (done, answer) = tokio::sync::oneshot::channel();
        let call = call(f, move |r| {
            let _ = done.send(r);
        });
        match self.tx.try_send(call) {
            Ok(()) => {}
            // A full queue blocks the sender: that wait goes off the runtime's threads.
            Err(mpsc::TrySendError::Full(call)) => {
                let tx = self.tx.clone();
                tokio::task::spawn_blocking(move || tx.send(call))
                    .await
                    .map_err(|_| PoolError::Closed)?
                    .map_err(|_| PoolError::Closed)?;
            }
            Err(mpsc::TrySendError::Disconnected(_)) => return Err(PoolError::Closed),
        }
        answer.await.unwrap_or(Err(PoolError::Closed))
    }

    fn send<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error> + Send + 'static,
        reply: impl FnOnce(Result<T, PoolError>) + Send + 'static,
    ) -> Result<(), PoolError> {
        self.tx.send(call(f, reply)).map_err(|_| PoolError::Closed)
    }
}

/// `f` as a call for a connection thread, answering through `reply`.
fn call<T: Send + 'static>(
    f: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error> + Send + 'static,
    reply: impl FnOnce(Result<T, PoolError>) + Send + 'static,
) -> Call {
    Box::new(move |client| {
        let r = match client {
            Ok(c) => f(c).map_err(PoolError::Postgres),
            Err(e) => Err(PoolError::Connect(e.to_string())),
        };
        reply(r);
    })
}

/// A call that did not get an answer from the database.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("database: {0}")]
    Postgres(#[from] postgres::Error),
    #[error("the database connections are shut down")]
    Closed,
}

fn serve(rx: &Mutex<Receiver<Call>>, opts: &PgOptions) {
    let mut client: Option<postgres::Client> = None;
    loop {
        let call = match rx.lock().expect("pool queue").recv() {
            Ok(c) => c,
            Err(_) => return,
        };
        if client.as_ref().is_none_or(postgres::Client::is_closed) {
            client = None;
            match super::connect(opts) {
                Ok(c) => client = Some(c),
                Err(e) => {
                    call(Err(&e));
                    continue;
                }
            }
        }
        call(Ok(client.as_mut().expect("connected")));
    }
}
