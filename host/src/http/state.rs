//! What the routes share.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::actor::Directory;
use crate::runtime::Workers;

/// What a code update answers: what it changed (as JSON), or why it was refused.
pub type ReloadResult = Result<serde_json::Value, Box<dyn std::error::Error + Send + Sync>>;

/// Applies a code update (implemented by the app layer, which owns the config file).
pub trait Reload: Send + Sync {
    fn reload(&self) -> Pin<Box<dyn Future<Output = ReloadResult> + Send + '_>>;
}

pub struct AppState {
    pub directory: Arc<Directory>,
    /// The worker's instances, if the config names one: it then receives every request
    /// outside `/_/`. Concurrency: a code update swaps them whole; a request keeps the ones it
    /// started on.
    pub workers: Option<Arc<ArcSwap<Workers>>>,
    /// Code updates (`POST /_/admin/reload`).
    pub reload: Option<Arc<dyn Reload>>,
    pub max_body_bytes: usize,
    /// How long a request's body may take to arrive.
    pub body_timeout: Duration,
    /// The admin API's bearer token; `None` disables the admin API.
    pub admin_token: Option<String>,
    /// One backup at a time (`GET /_/admin/backup`): each needs a copy's worth of disk.
    pub backup_running: Arc<tokio::sync::Semaphore>,
    /// `[backup] max_mib_per_second`, in bytes (`None`: unpaced).
    pub backup_pace: Option<u64>,
    /// Cluster mode: where objects are placed, and forwarding to the other nodes.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
}
