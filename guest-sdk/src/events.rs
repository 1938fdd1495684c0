//! The payloads of the non-HTTP events: [`AlarmInfo`] and WebSocket [`Message`]s.

use serde::{Deserialize, Serialize};

use crate::bindings::holdfast::object::types as wit;

/// What an [`alarm`](crate::DurableObject::alarm) handler is told about the alarm that fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AlarmInfo {
    /// The time the alarm was set for, in milliseconds since the Unix epoch.
    pub scheduled_time: i64,
    /// 0 on the first attempt, then 1, 2, ... on retries after failures.
    pub retry_count: u32,
    /// Whether this delivery is a retry of a failed one.
    pub is_retry: bool,
}

impl From<wit::AlarmInfo> for AlarmInfo {
    fn from(info: wit::AlarmInfo) -> Self {
        AlarmInfo {
            scheduled_time: info.scheduled_time,
            retry_count: info.retry_count,
            is_retry: info.is_retry,
        }
    }
}

/// A WebSocket message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
}

impl Message {
    /// The text of a text message; `None` for a binary one.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(text) => Some(text),
            Message::Binary(_) => None,
        }
    }

    /// The payload bytes, whichever kind the message is.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(text) => text.as_bytes(),
            Message::Binary(bytes) => bytes,
        }
    }
}

impl From<wit::Message> for Message {
    fn from(message: wit::Message) -> Self {
        match message {
            wit::Message::Text(text) => Message::Text(text),
            wit::Message::Binary(bytes) => Message::Binary(bytes),
        }
    }
}
