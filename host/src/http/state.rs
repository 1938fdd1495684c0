//! What the routes share.

use std::sync::Arc;
use std::time::Duration;

use crate::actor::Directory;

pub struct AppState {
    pub directory: Arc<Directory>,
    pub max_body_bytes: usize,
    /// How long a request's body may take to arrive.
    pub body_timeout: Duration,
    /// The admin API's bearer token; `None` disables the admin API.
    pub admin_token: Option<String>,
}
