//! Host-owned WebSockets: the sockets of every object, kept apart from the objects' actors so
//! that connections stay open while their object is evicted (hibernation).
//!
//! A socket is accepted during its object's `fetch` of the upgrade request; its connection task
//! (in the HTTP layer) reads frames and turns them into events in the object's mailbox, and
//! writes what the object sends. What an event sends is staged in [`WsEffects`] and released only
//! after the event's commit (the output gate); a failed event's staged sends are dropped and the
//! socket it accepted is refused.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::effects::WsEffects;
use super::outbox::{OutboxReceiver, OutboxSender, Outgoing, outbox};
use crate::store::ObjectKey;

/// Close code for sockets whose object was reset ("internal error").
const INTERNAL_ERROR: u16 = 1011;
/// Close code for sockets a code update ended ("service restart": the client may reconnect).
pub const SERVICE_RESTART: u16 = 1012;
/// Close code for a client that does not read what it is sent ("policy violation").
pub const NOT_READING: u16 = 1008;

/// Limits on sockets, as in the contract.
#[derive(Debug, Clone, Copy)]
pub struct WsLimits {
    pub max_sockets_per_object: usize,
    pub max_tags: usize,
    pub max_tag_chars: usize,
    pub max_attachment_bytes: usize,
    pub max_message_bytes: usize,
    /// Bytes queued for one client before it counts as not reading and is closed.
    pub max_outbox_bytes: usize,
}

impl Default for WsLimits {
    fn default() -> Self {
        WsLimits {
            max_sockets_per_object: 32_768,
            max_tags: 10,
            max_tag_chars: 256,
            max_attachment_bytes: 16 * 1024,
            max_message_bytes: 1 << 20,
            max_outbox_bytes: 4 << 20,
        }
    }
}

/// What the hub keeps of one socket.
#[derive(Debug)]
struct Socket {
    outbox: OutboxSender,
    tags: Vec<String>,
    attachment: Option<Vec<u8>>,
    /// Keeps the object resident while open (a socket accepted without hibernation).
    pinned: bool,
    auto_response_at: Option<i64>,
    /// The connection ended; kept (attachment readable, not listed) until the object has seen
    /// the close event.
    closed: bool,
}

/// One open socket as the inspector shows it.
#[derive(Debug, Clone)]
pub struct SocketInfo {
    pub id: u64,
    pub tags: Vec<String>,
    pub attachment: Option<Vec<u8>>,
    /// Accepted for hibernation (it does not keep its object in memory).
    pub hibernatable: bool,
}

#[derive(Debug, Default)]
struct ObjectSockets {
    sockets: BTreeMap<u64, Socket>,
    auto_response: Option<(String, String)>,
    /// Writers' receivers of accepted sockets whose connection has not started yet.
    pending: HashMap<u64, OutboxReceiver>,
}

/// Every open socket of every object.
#[derive(Debug, Default)]
pub struct Hub {
    /// One lock for all objects: held only for map operations, never across an await.
    objects: Mutex<HashMap<ObjectKey, ObjectSockets>>,
    next_id: AtomicU64,
    pub limits: WsLimits,
}

impl Hub {
    pub fn new(limits: WsLimits) -> Self {
        Hub {
            objects: Mutex::default(),
            next_id: AtomicU64::new(1),
            limits,
        }
    }

    fn with<T>(&self, key: &ObjectKey, f: impl FnOnce(&mut ObjectSockets) -> T) -> T {
        let mut map = self.objects.lock().expect("hub lock");
        let entry = map.entry(key.clone()).or_default();
        let out = f(entry);
        if entry.sockets.is_empty() && entry.pending.is_empty() && entry.auto_response.is_none() {
            map.remove(key);
        }
        out
    }

    /// Accepts a socket for the running upgrade event.
    pub fn accept(
        &self,
        key: &ObjectKey,
        fx: &mut WsEffects,
        tags: Vec<String>,
        hibernatable: bool,
    ) -> Result<u64, String> {
        let l = self.limits;
        if !fx.upgrade {
            return Err(
                "accept is only possible while handling a WebSocket upgrade request".into(),
            );
        }
        if fx.accepted.is_some() {
            return Err("this upgrade request's socket is already accepted".into());
        }
        if tags.len() > l.max_tags {
            return Err(format!(
                "{} tags, over the limit of {}",
                tags.len(),
                l.max_tags
            ));
        }
        if let Some(t) = tags.iter().find(|t| t.chars().count() > l.max_tag_chars) {
            return Err(format!(
                "a tag of {} characters is over the limit of {}",
                t.chars().count(),
                l.max_tag_chars
            ));
        }
        self.with(key, |o| {
            if o.sockets.len() >= l.max_sockets_per_object {
                return Err(format!(
                    "the object has {} open sockets, the limit",
                    o.sockets.len()
                ));
            }
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let (tx, rx) = outbox(l.max_outbox_bytes);
            o.sockets.insert(
                id,
                Socket {
                    outbox: tx,
                    tags,
                    attachment: None,
                    pinned: !hibernatable,
                    auto_response_at: None,
                    closed: false,
                },
            );
            o.pending.insert(id, rx);
            fx.accepted = Some(id);
            Ok(id)
        })
    }

    /// Sockets of `key`, all or those with `tag`, in accept order.
    pub fn sockets(&self, key: &ObjectKey, tag: Option<&str>) -> Vec<u64> {
        self.with(key, |o| {
            o.sockets
                .iter()
                .filter(|(_, s)| !s.closed)
                .filter(|(_, s)| tag.is_none_or(|t| s.tags.iter().any(|x| x == t)))
                .map(|(id, _)| *id)
                .collect()
        })
    }

    /// What the inspector shows of `key`'s open sockets, in accept order.
    pub fn describe(&self, key: &ObjectKey) -> Vec<SocketInfo> {
        self.with(key, |o| {
            o.sockets
                .iter()
                .filter(|(_, s)| !s.closed)
                .map(|(id, s)| SocketInfo {
                    id: *id,
                    tags: s.tags.clone(),
                    attachment: s.attachment.clone(),
                    hibernatable: !s.pinned,
                })
                .collect()
        })
    }

    pub fn tags(&self, key: &ObjectKey, socket: u64) -> Vec<String> {
        self.with(key, |o| {
            o.sockets
                .get(&socket)
                .map(|s| s.tags.clone())
                .unwrap_or_default()
        })
    }

    fn check(&self, key: &ObjectKey, socket: u64) -> Result<(), String> {
        if self.with(key, |o| o.sockets.get(&socket).is_some_and(|s| !s.closed)) {
            Ok(())
        } else {
            Err(format!("socket {socket} is not open on this object"))
        }
    }

    /// Stages a frame for after the commit.
    pub fn stage(
        &self,
        key: &ObjectKey,
        fx: &mut WsEffects,
        socket: u64,
        frame: Outgoing,
    ) -> Result<(), String> {
        self.check(key, socket)?;
        fx.sends.push((socket, frame));
        Ok(())
    }

    pub fn set_attachment(
        &self,
        key: &ObjectKey,
        fx: &mut WsEffects,
        socket: u64,
        value: Option<Vec<u8>>,
    ) -> Result<(), String> {
        if let Some(v) = &value
            && v.len() > self.limits.max_attachment_bytes
        {
            return Err(format!(
                "attachment of {} bytes is over the limit of {} bytes",
                v.len(),
                self.limits.max_attachment_bytes
            ));
        }
        self.with(key, |o| match o.sockets.get_mut(&socket) {
            Some(s) => {
                let old = std::mem::replace(&mut s.attachment, value);
                fx.attachment_undo.push((socket, old));
                Ok(())
            }
            None => Err(format!("socket {socket} is not open on this object")),
        })
    }

    pub fn attachment(&self, key: &ObjectKey, socket: u64) -> Option<Vec<u8>> {
        self.with(key, |o| o.sockets.get(&socket)?.attachment.clone())
    }

    pub fn set_auto_response(&self, key: &ObjectKey, pair: Option<(String, String)>) {
        self.with(key, |o| o.auto_response = pair);
    }

    pub fn auto_response_at(&self, key: &ObjectKey, socket: u64) -> Option<i64> {
        self.with(key, |o| o.sockets.get(&socket)?.auto_response_at)
    }

    /// Answers `text` on `socket` with the object's auto-response, if it set one that matches,
    /// and records when; returns whether it answered.
    pub fn auto_respond(&self, key: &ObjectKey, socket: u64, text: &str, now_ms: i64) -> bool {
        let mut map = self.objects.lock().expect("hub lock");
        let Some(o) = map.get_mut(key) else {
            return false;
        };
        let Some((req, resp)) = &o.auto_response else {
            return false;
        };
        if req != text {
            return false;
        }
        let resp = resp.clone();
        match o.sockets.get_mut(&socket) {
            Some(s) => {
                s.auto_response_at = Some(now_ms);
                push(s, Outgoing::Text(resp));
                true
            }
            None => false,
        }
    }

    /// Sends a frame now, outside any event (the host's own close frames).
    pub fn send_now(&self, key: &ObjectKey, socket: u64, frame: Outgoing) {
        let map = self.objects.lock().expect("hub lock");
        if let Some(s) = map.get(key).and_then(|o| o.sockets.get(&socket)) {
            push(s, frame);
        }
    }

    /// Whether the object has sockets that keep it resident.
    pub fn pinned(&self, key: &ObjectKey) -> bool {
        let map = self.objects.lock().expect("hub lock");
        map.get(key)
            .is_some_and(|o| o.sockets.values().any(|s| s.pinned))
    }

    /// Closes the object's pinned (non-hibernatable) sockets with 1011 when its instance is
    /// discarded (a trap, a failed commit): their listeners lived in that instance's memory, as
    /// on Cloudflare, where an object's reset disconnects them. No close event follows (for any
    /// of the `close_*` here). Returns how many were closed.
    pub fn close_pinned(&self, key: &ObjectKey) -> usize {
        self.close_where(
            key,
            true,
            INTERNAL_ERROR,
            "the object was reset after a failure",
        )
    }

    /// Closes the object's non-hibernatable sockets with 1012 (their listeners lived in an
    /// instance a code update replaced); hibernatable ones stay open. Returns how many closed.
    pub fn close_pinned_for_update(&self, key: &ObjectKey) -> usize {
        self.close_where(key, true, SERVICE_RESTART, "the object's code was updated")
    }

    /// Closes every open socket of the object with 1012 (its class was removed from the
    /// config); returns how many.
    pub fn close_all_for_removal(&self, key: &ObjectKey) -> usize {
        self.close_where(
            key,
            false,
            SERVICE_RESTART,
            "the object's class is no longer served",
        )
    }

    fn close_where(&self, key: &ObjectKey, only_pinned: bool, code: u16, reason: &str) -> usize {
        self.with(key, |o| {
            let ids: Vec<u64> = o
                .sockets
                .iter()
                .filter(|(_, s)| (s.pinned || !only_pinned) && !s.closed)
                .map(|(id, _)| *id)
                .collect();
            for id in &ids {
                if let Some(s) = o.sockets.remove(id) {
                    push(&s, Outgoing::Close(code, reason.into()));
                }
                o.pending.remove(id);
            }
            ids.len()
        })
    }

    /// Applies a committed event's effects: its sends go out.
    pub fn commit(&self, key: &ObjectKey, fx: WsEffects) {
        if fx.sends.is_empty() {
            return;
        }
        self.with(key, |o| {
            for (socket, frame) in fx.sends {
                let closing = matches!(frame, Outgoing::Close(..));
                if let Some(s) = o.sockets.get(&socket) {
                    push(s, frame);
                }
                if closing {
                    // Closed by the object: no close event follows.
                    o.sockets.remove(&socket);
                }
            }
        });
    }

    /// Undoes a failed event's effects: attachments restored, the accepted socket refused.
    pub fn abort(&self, key: &ObjectKey, mut fx: WsEffects) {
        self.with(key, |o| {
            while let Some((socket, old)) = fx.attachment_undo.pop() {
                if let Some(s) = o.sockets.get_mut(&socket) {
                    s.attachment = old;
                }
            }
            if let Some(id) = fx.accepted {
                o.sockets.remove(&id);
                o.pending.remove(&id);
            }
        });
    }

    /// The writer's receiver of an accepted socket, once, when its connection starts.
    pub fn claim(&self, key: &ObjectKey, socket: u64) -> Option<OutboxReceiver> {
        self.with(key, |o| o.pending.remove(&socket))
    }

    /// Marks a socket whose connection ended as closed; returns whether it was open (then the
    /// object gets a close event, after which [`Hub::remove`] forgets it).
    pub fn mark_closed(&self, key: &ObjectKey, socket: u64) -> bool {
        self.with(key, |o| match o.sockets.get_mut(&socket) {
            Some(s) if !s.closed => {
                s.closed = true;
                s.pinned = false;
                true
            }
            _ => false,
        })
    }

    /// Forgets a socket whose connection ended, once its object has seen the close event.
    pub fn forget_closed(&self, key: &ObjectKey, socket: u64) {
        self.with(key, |o| {
            if o.sockets.get(&socket).is_some_and(|s| s.closed) {
                o.sockets.remove(&socket);
                o.pending.remove(&socket);
            }
        });
    }

    /// Forgets a socket.
    pub fn remove(&self, key: &ObjectKey, socket: u64) {
        self.with(key, |o| {
            o.pending.remove(&socket);
            o.sockets.remove(&socket);
        });
    }

    /// Forgets a socket whose upgrade never completed (the client left before the 101, or the
    /// upgrade failed); returns whether the object should hear of its close, as for any socket
    /// that was open.
    pub fn abandon(&self, key: &ObjectKey, socket: u64) -> bool {
        self.with(key, |o| {
            o.pending.remove(&socket);
            match o.sockets.get_mut(&socket) {
                Some(s) if !s.closed => {
                    s.closed = true;
                    s.pinned = false;
                    true
                }
                _ => false,
            }
        })
    }

    /// Open sockets of every object (for metrics).
    pub fn count(&self) -> usize {
        let map = self.objects.lock().expect("hub lock");
        map.values().map(|o| o.sockets.len()).sum()
    }
}

/// Queues a frame for a socket; a client that is not reading is severed instead.
fn push(s: &Socket, frame: Outgoing) {
    if let Err(full) = s.outbox.push(frame) {
        s.outbox.sever(
            NOT_READING,
            format!(
                "the client is not reading: {} bytes queued, over the limit of {}",
                full.queued, full.limit
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::ObjectId;

    #[test]
    fn a_full_outbox_severs_the_socket_with_1008() {
        let hub = Hub::new(WsLimits {
            max_outbox_bytes: 1000,
            ..WsLimits::default()
        });
        let mut fx = WsEffects::for_event(true);
        let id = hub.accept(&key(), &mut fx, vec![], true).unwrap();
        hub.commit(&key(), fx);
        let rx = hub.claim(&key(), id).unwrap();
        for _ in 0..3 {
            let mut fx = WsEffects::for_event(false);
            hub.stage(&key(), &mut fx, id, Outgoing::Text("x".repeat(400)))
                .unwrap();
            hub.commit(&key(), fx);
        }
        let severed = rx.severed.borrow().clone().expect("severed");
        assert_eq!(severed.code, NOT_READING);
        assert_eq!(
            severed.reason,
            "the client is not reading: 1392 bytes queued, over the limit of 1000"
        );
    }

    fn key() -> ObjectKey {
        ObjectKey::new("chat", &ObjectId::from_bytes([7; 32]))
    }

    #[test]
    fn accept_only_in_an_upgrade_and_abort_refuses_the_socket() {
        let hub = Hub::new(WsLimits::default());
        let mut not_upgrade = WsEffects::for_event(false);
        assert!(hub.accept(&key(), &mut not_upgrade, vec![], true).is_err());
        let mut fx = WsEffects::for_event(true);
        let id = hub.accept(&key(), &mut fx, vec!["t".into()], true).unwrap();
        assert!(
            hub.accept(&key(), &mut fx, vec![], true).is_err(),
            "one per request"
        );
        assert_eq!(hub.sockets(&key(), Some("t")), [id]);
        hub.abort(&key(), fx);
        assert_eq!(hub.count(), 0);
        assert!(hub.claim(&key(), id).is_none());
    }

    #[test]
    fn sends_wait_for_commit_and_attachments_roll_back() {
        let hub = Hub::new(WsLimits::default());
        let mut fx = WsEffects::for_event(true);
        let id = hub.accept(&key(), &mut fx, vec![], true).unwrap();
        hub.commit(&key(), fx);
        let mut rx = hub.claim(&key(), id).unwrap();

        let mut fx = WsEffects::for_event(false);
        hub.stage(&key(), &mut fx, id, Outgoing::Text("hi".into()))
            .unwrap();
        hub.set_attachment(&key(), &mut fx, id, Some(b"new".to_vec()))
            .unwrap();
        assert!(rx.try_recv().is_none(), "nothing leaves before the commit");
        hub.abort(&key(), fx);
        assert!(rx.try_recv().is_none(), "an aborted event sends nothing");
        assert_eq!(hub.attachment(&key(), id), None, "its attachment is undone");

        let mut fx = WsEffects::for_event(false);
        hub.stage(&key(), &mut fx, id, Outgoing::Text("hi".into()))
            .unwrap();
        hub.commit(&key(), fx);
        assert!(matches!(rx.try_recv(), Some(Outgoing::Text(t)) if t == "hi"));
        let too_big = Some(vec![0; 16 * 1024 + 1]);
        let mut fx = WsEffects::for_event(false);
        let e = hub
            .set_attachment(&key(), &mut fx, id, too_big)
            .unwrap_err();
        assert_eq!(
            e,
            "attachment of 16385 bytes is over the limit of 16384 bytes"
        );
    }
}
