//! The WIT import traits, implemented on the store data. Thin: each call checks nothing itself
//! and forwards to the domain logic ([`ObjectStorage`](crate::object_storage::ObjectStorage),
//! [`Namespaces`](crate::namespaces::Namespaces)), translating types. A database failure
//! becomes a trap (`Err`), a refused call a WIT `storage-error` value.

use wasmtime::Result;

use crate::bindings::{context, objects, storage, types, websockets};
use crate::instance::StoreData;
use crate::object_storage::{ListOptions, Outcome, StorageError};
use crate::storage::DbError;
use crate::websocket::Outgoing;

type Guest<T> = std::result::Result<T, storage::StorageError>;

fn to_wit(e: StorageError) -> storage::StorageError {
    let kind = match &e {
        StorageError::KeyTooLarge { .. } => storage::ErrorKind::KeyTooLarge,
        StorageError::ValueTooLarge { .. } => storage::ErrorKind::ValueTooLarge,
        StorageError::TooManyKeys { .. } => storage::ErrorKind::TooManyKeys,
        StorageError::InvalidArgument(_) => storage::ErrorKind::InvalidArgument,
    };
    storage::StorageError {
        kind,
        message: e.to_string(),
    }
}

fn trap(e: DbError) -> wasmtime::Error {
    wasmtime::Error::msg(e.to_string())
}

fn lift<T>(r: Outcome<T>) -> Result<Guest<T>> {
    r.map_err(trap).map(|inner| inner.map_err(to_wit))
}

impl types::Host for StoreData {}

impl storage::Host for StoreData {
    fn get(&mut self, key: String) -> Result<Guest<Option<Vec<u8>>>> {
        lift(self.storage.get(&key))
    }

    fn get_many(&mut self, keys: Vec<String>) -> Result<Guest<Vec<Option<Vec<u8>>>>> {
        lift(self.storage.get_many(&keys))
    }

    fn put(&mut self, key: String, value: Vec<u8>) -> Result<Guest<()>> {
        Ok(self.storage.put(key, value).map_err(to_wit))
    }

    fn put_many(&mut self, entries: Vec<(String, Vec<u8>)>) -> Result<Guest<()>> {
        Ok(self.storage.put_many(entries).map_err(to_wit))
    }

    fn delete(&mut self, key: String) -> Result<Guest<bool>> {
        lift(self.storage.delete(&key))
    }

    fn delete_many(&mut self, keys: Vec<String>) -> Result<Guest<u32>> {
        lift(self.storage.delete_many(&keys))
    }

    fn delete_all(&mut self) -> Result<()> {
        self.storage.delete_all();
        Ok(())
    }

    fn list(&mut self, o: storage::ListOptions) -> Result<Guest<Vec<(String, Vec<u8>)>>> {
        let opts = ListOptions {
            start: o.start,
            start_after: o.start_after,
            end: o.end,
            prefix: o.prefix,
            reverse: o.reverse,
            limit: o.limit,
        };
        lift(self.storage.list(&opts))
    }

    fn transaction_begin(&mut self) -> Result<Guest<()>> {
        Ok(self.storage.begin_nested().map_err(to_wit))
    }

    fn transaction_commit(&mut self) -> Result<Guest<()>> {
        Ok(self.storage.commit_nested().map_err(to_wit))
    }

    fn transaction_rollback(&mut self) -> Result<Guest<()>> {
        Ok(self.storage.rollback_nested().map_err(to_wit))
    }

    fn get_alarm(&mut self) -> Result<Option<i64>> {
        self.storage.get_alarm().map_err(trap)
    }

    fn set_alarm(&mut self, scheduled_time: i64) -> Result<()> {
        self.storage.set_alarm(Some(scheduled_time));
        Ok(())
    }

    fn delete_alarm(&mut self) -> Result<()> {
        self.storage.set_alarm(None);
        Ok(())
    }
}

impl context::Host for StoreData {
    fn id(&mut self) -> Result<String> {
        Ok(self.identity.id.to_string())
    }

    fn name(&mut self) -> Result<Option<String>> {
        Ok(self.identity.name.clone())
    }

    fn namespace(&mut self) -> Result<String> {
        Ok(self.identity.namespace.clone())
    }
}

impl objects::Host for StoreData {
    fn namespaces(&mut self) -> Result<Vec<String>> {
        Ok(self.namespaces.names())
    }

    fn id_from_name(
        &mut self,
        namespace: String,
        name: String,
    ) -> Result<std::result::Result<String, String>> {
        Ok(self
            .namespaces
            .key(&namespace)
            .map(|k| k.id_from_name(&name).to_string())
            .map_err(|e| e.to_string()))
    }

    fn new_unique_id(&mut self, namespace: String) -> Result<std::result::Result<String, String>> {
        Ok(self
            .namespaces
            .key(&namespace)
            .map(|k| k.new_unique_id().to_string())
            .map_err(|e| e.to_string()))
    }

    fn id_from_string(
        &mut self,
        namespace: String,
        id: String,
    ) -> Result<std::result::Result<String, String>> {
        Ok(self
            .namespaces
            .parse(&namespace, &id)
            .map(|id| id.to_string())
            .map_err(|e| e.to_string()))
    }
}

impl websockets::Host for StoreData {
    fn accept(
        &mut self,
        tags: Vec<String>,
        hibernatable: bool,
    ) -> Result<std::result::Result<u64, String>> {
        let key = self.storage.object().clone();
        Ok(self.hub.accept(&key, &mut self.ws, tags, hibernatable))
    }

    fn get_websockets(&mut self, tag: Option<String>) -> Result<Vec<u64>> {
        Ok(self.hub.sockets(self.storage.object(), tag.as_deref()))
    }

    fn get_tags(&mut self, socket: u64) -> Result<Vec<String>> {
        Ok(self.hub.tags(self.storage.object(), socket))
    }

    fn send(
        &mut self,
        socket: u64,
        msg: types::Message,
    ) -> Result<std::result::Result<(), String>> {
        let frame = match msg {
            types::Message::Text(t) => Outgoing::Text(t),
            types::Message::Binary(b) => Outgoing::Binary(b),
        };
        let key = self.storage.object().clone();
        Ok(self.hub.stage(&key, &mut self.ws, socket, frame))
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
        let key = self.storage.object().clone();
        Ok(self
            .hub
            .stage(&key, &mut self.ws, socket, Outgoing::Close(code, reason)))
    }

    fn set_attachment(
        &mut self,
        socket: u64,
        value: Option<Vec<u8>>,
    ) -> Result<std::result::Result<(), String>> {
        let key = self.storage.object().clone();
        Ok(self.hub.set_attachment(&key, &mut self.ws, socket, value))
    }

    fn get_attachment(&mut self, socket: u64) -> Result<Option<Vec<u8>>> {
        Ok(self.hub.attachment(self.storage.object(), socket))
    }

    fn set_auto_response(&mut self, pair: Option<(String, String)>) -> Result<()> {
        self.hub.set_auto_response(self.storage.object(), pair);
        Ok(())
    }

    fn get_auto_response_timestamp(&mut self, socket: u64) -> Result<Option<i64>> {
        Ok(self.hub.auto_response_at(self.storage.object(), socket))
    }
}
