//! [`State`], what an object is given when it is created: its identity, its storage and its
//! WebSockets.

use crate::bindings::holdfast::object::{context, objects, websockets};
use crate::{Error, Namespace, Result, Storage, WebSocket};

/// The object's view of itself: who it is, its [`Storage`] and its [`WebSocket`]s.
///
/// Passed to [`DurableObject::new`](crate::DurableObject::new). It is a handle with no state of its
/// own: keep it in the object's struct and clone it freely. Object IDs are 64 lowercase
/// hexadecimal characters.
#[derive(Clone, Debug, Default)]
pub struct State {
    _private: (),
}

impl State {
    pub(crate) fn new() -> Self {
        State { _private: () }
    }

    /// The object's durable key-value store.
    pub fn storage(&self) -> Storage {
        Storage::new()
    }

    /// The object's SQLite database (SQLite-backed classes: the default).
    pub fn sql(&self) -> crate::Sql {
        crate::Sql::new()
    }

    /// This object's ID.
    pub fn id(&self) -> String {
        context::id()
    }

    /// The name this object's ID was derived from, when it was addressed by name.
    pub fn name(&self) -> Option<String> {
        context::name()
    }

    /// The namespace (binding) this object belongs to, e.g. `"counter"`.
    pub fn namespace(&self) -> String {
        context::namespace()
    }

    /// The objects of `binding` (a namespace of this host), to get IDs and [`Stub`](crate::Stub)s
    /// to call:
    ///
    /// ```no_run
    /// # fn example(state: &holdfast_sdk::State) -> holdfast_sdk::Result<()> {
    /// let total: i64 = state.binding("counter").get_by_name("total")?.call("increment", (1,))?;
    /// # Ok(()) }
    /// ```
    pub fn binding(&self, binding: &str) -> Namespace {
        Namespace::new(binding)
    }

    /// The configured vars (`[vars]` of the host's config), sorted by name.
    pub fn vars(&self) -> Vec<(String, String)> {
        crate::bindings::holdfast::object::environment::vars()
    }

    /// The ID that `name` maps to in `namespace`: always the same for the same pair.
    pub fn id_from_name(&self, namespace: &str, name: &str) -> Result<String> {
        objects::id_from_name(namespace, name).map_err(Error::msg)
    }

    /// A fresh random ID in `namespace`.
    pub fn new_unique_id(&self, namespace: &str) -> Result<String> {
        objects::new_unique_id(namespace).map_err(Error::msg)
    }

    /// Checks that `id` is a well-formed ID of `namespace` and returns it; otherwise the error says
    /// which rule it broke.
    pub fn id_from_string(&self, namespace: &str, id: &str) -> Result<String> {
        objects::id_from_string(namespace, id).map_err(Error::msg)
    }

    /// Accepts the WebSocket of the upgrade request whose `fetch` is running, with `tags` (up to
    /// 10, each up to 256 characters) to find it by later. Return
    /// [`Response::websocket_accepted`](crate::Response::websocket_accepted) from that `fetch`:
    /// the host completes the upgrade once the event has committed.
    ///
    /// The socket is *hibernatable*: the object may be evicted from memory while it is open, and
    /// is created again (with [`DurableObject::new`](crate::DurableObject::new)) when an event for
    /// the socket arrives. The socket keeps its ID, tags and
    /// [attachment](WebSocket::set_attachment) across that; fields of the object do not survive.
    ///
    /// If the `fetch` fails, the socket is refused and nothing sent to it is delivered. Fails
    /// outside an upgrade request's `fetch`, on a second accept in one `fetch`, past the host's
    /// limit of sockets per object, or with too many or too long tags.
    pub fn accept_websocket(&self, tags: &[&str]) -> Result<WebSocket> {
        accept(tags, true)
    }

    /// Like [`accept_websocket`](Self::accept_websocket), but the socket is not hibernatable:
    /// while it is open the host keeps the object (and its fields) in memory.
    pub fn accept_websocket_pinned(&self, tags: &[&str]) -> Result<WebSocket> {
        accept(tags, false)
    }

    /// Every open WebSocket of this object, including those accepted before a hibernation.
    pub fn websockets(&self) -> Vec<WebSocket> {
        to_sockets(websockets::get_websockets(None))
    }

    /// The open WebSockets of this object that were accepted with `tag`.
    pub fn websockets_with_tag(&self, tag: &str) -> Vec<WebSocket> {
        to_sockets(websockets::get_websockets(Some(tag)))
    }

    /// Makes the host answer `response` whenever one of this object's sockets receives the text
    /// message `request` exactly, without waking the object or delivering an event (e.g.
    /// `"ping"` / `"pong"` keep-alives). Replaces any earlier pair; see
    /// [`WebSocket::auto_response_timestamp`].
    pub fn set_websocket_auto_response(&self, request: &str, response: &str) {
        websockets::set_auto_response(Some((request, response)))
    }

    /// Removes the auto-response pair, if any: every message is delivered to the object again.
    pub fn clear_websocket_auto_response(&self) {
        websockets::set_auto_response(None)
    }
}

fn accept(tags: &[&str], hibernatable: bool) -> Result<WebSocket> {
    let tags: Vec<String> = tags.iter().map(|tag| tag.to_string()).collect();
    websockets::accept(&tags, hibernatable)
        .map(WebSocket::from_id)
        .map_err(Error::msg)
}

fn to_sockets(ids: Vec<u64>) -> Vec<WebSocket> {
    ids.into_iter().map(WebSocket::from_id).collect()
}
