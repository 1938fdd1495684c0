//! What the routes share.

use std::sync::Arc;
use std::time::Duration;

use crate::actor::Directory;
use crate::runtime::Workers;

pub struct AppState {
    pub directory: Arc<Directory>,
    /// The worker's instances, if the config names one: it then receives every request
    /// outside `/_/`.
    pub workers: Option<Arc<Workers>>,
    pub max_body_bytes: usize,
    /// How long a request's body may take to arrive.
    pub body_timeout: Duration,
    /// The admin API's bearer token; `None` disables the admin API.
    pub admin_token: Option<String>,
}
