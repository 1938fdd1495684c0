//! `holdfast:object/websockets`: the object's host-owned sockets; sends and accepts are staged
//! in the event's effects and happen only after its commit.

use wasmtime::Result;

use crate::runtime::bindings::{types, websockets};
use crate::runtime::store_data::StoreData;
use crate::sockets::Outgoing;

fn frame(msg: types::Message) -> Outgoing {
    match msg {
        types::Message::Text(t) => Outgoing::Text(t),
        types::Message::Binary(b) => Outgoing::Binary(b),
    }
}

impl websockets::Host for StoreData {
    fn accept(
        &mut self,
        tags: Vec<String>,
        hibernatable: bool,
    ) -> Result<std::result::Result<u64, String>> {
        let key = self.object()?.clone();
        Ok(self.hub.accept(&key, &mut self.ws, tags, hibernatable))
    }

    fn get_websockets(&mut self, tag: Option<String>) -> Result<Vec<u64>> {
        Ok(self.hub.sockets(self.object()?, tag.as_deref()))
    }

    fn get_tags(&mut self, socket: u64) -> Result<Vec<String>> {
        Ok(self.hub.tags(self.object()?, socket))
    }

    fn send(
        &mut self,
        socket: u64,
        msg: types::Message,
    ) -> Result<std::result::Result<(), String>> {
        let key = self.object()?.clone();
        Ok(self.hub.stage(&key, &mut self.ws, socket, frame(msg)))
    }

    fn send_many(&mut self, sockets: Vec<u64>, msg: types::Message) -> Result<Vec<u64>> {
        let frame = frame(msg);
        let key = self.object()?.clone();
        let mut not_open = Vec::new();
        for socket in sockets {
            if self
                .hub
                .stage(&key, &mut self.ws, socket, frame.clone())
                .is_err()
            {
                not_open.push(socket);
            }
        }
        Ok(not_open)
    }

    fn close(
        &mut self,
        socket: u64,
        code: u16,
        reason: String,
    ) -> Result<std::result::Result<(), String>> {
        if !(code == 1000 || (3000..=4999).contains(&code)) {
            return Ok(Err(format!(
                "close code {code} is not allowed: use 1000 or 3000-4999"
            )));
        }
        if reason.len() > 123 {
            return Ok(Err(format!(
                "close reason of {} bytes is over the limit of 123 bytes",
                reason.len()
            )));
        }
        let key = self.object()?.clone();
        Ok(self
            .hub
            .stage(&key, &mut self.ws, socket, Outgoing::Close(code, reason)))
    }

    fn set_attachment(
        &mut self,
        socket: u64,
        value: Option<Vec<u8>>,
    ) -> Result<std::result::Result<(), String>> {
        let key = self.object()?.clone();
        Ok(self.hub.set_attachment(&key, &mut self.ws, socket, value))
    }

    fn get_attachment(&mut self, socket: u64) -> Result<Option<Vec<u8>>> {
        Ok(self.hub.attachment(self.object()?, socket))
    }

    fn set_auto_response(&mut self, pair: Option<(String, String)>) -> Result<()> {
        self.hub.set_auto_response(self.object()?, pair);
        Ok(())
    }

    fn get_auto_response_timestamp(&mut self, socket: u64) -> Result<Option<i64>> {
        Ok(self.hub.auto_response_at(self.object()?, socket))
    }
}
