//! `holdfast:object/storage`: forwards to the object's [`ObjectStorage`] view. A refused call
//! becomes the WIT `storage-error` value; a store failure traps the guest and is recorded, so
//! the event fails as the host failure it is.

use wasmtime::Result;

use crate::runtime::bindings::storage;
use crate::runtime::store_data::StoreData;
use crate::store::{BookmarkError, CallResult, ListOptions, Refusal};

type Guest<T> = std::result::Result<T, storage::StorageError>;

fn to_wit(e: Refusal) -> storage::StorageError {
    let kind = match &e {
        Refusal::KeyTooLarge { .. } => storage::ErrorKind::KeyTooLarge,
        Refusal::ValueTooLarge { .. } | Refusal::EntryTooLarge { .. } => {
            storage::ErrorKind::ValueTooLarge
        }
        Refusal::TooManyKeys { .. } => storage::ErrorKind::TooManyKeys,
        Refusal::EventBytes { .. }
        | Refusal::EventKeys { .. }
        | Refusal::ListTooLarge { .. }
        | Refusal::InvalidArgument(_) => storage::ErrorKind::InvalidArgument,
    };
    storage::StorageError {
        kind,
        message: e.to_string(),
    }
}

/// A refused point-in-time recovery call, as the guest gets it.
fn refused(e: BookmarkError) -> storage::StorageError {
    storage::StorageError {
        kind: storage::ErrorKind::InvalidArgument,
        message: e.to_string(),
    }
}

impl StoreData {
    /// A point-in-time recovery call's outcome: refusals are the guest's, store failures trap.
    fn lift_history<T>(&mut self, r: Result<T, BookmarkError>) -> Result<Guest<T>> {
        match r {
            Ok(v) => Ok(Ok(v)),
            Err(BookmarkError::Storage(e)) => Err(self.fault(e)),
            Err(e) => Ok(Err(refused(e))),
        }
    }

    fn lift<T>(&mut self, r: CallResult<T>) -> Result<Guest<T>> {
        match r {
            Ok(inner) => Ok(inner.map_err(to_wit)),
            Err(e) => Err(self.fault(e)),
        }
    }
}

impl storage::Host for StoreData {
    fn get(&mut self, key: String) -> Result<Guest<Option<Vec<u8>>>> {
        let r = self.storage()?.get(&key);
        self.lift(r)
    }

    fn get_many(&mut self, keys: Vec<String>) -> Result<Guest<Vec<Option<Vec<u8>>>>> {
        let r = self.storage()?.get_many(&keys);
        self.lift(r)
    }

    fn put(&mut self, key: String, value: Vec<u8>) -> Result<Guest<()>> {
        Ok(self.storage()?.put(key, value).map_err(to_wit))
    }

    fn put_many(&mut self, entries: Vec<(String, Vec<u8>)>) -> Result<Guest<()>> {
        Ok(self.storage()?.put_many(entries).map_err(to_wit))
    }

    fn delete(&mut self, key: String) -> Result<Guest<bool>> {
        let r = self.storage()?.delete(&key);
        self.lift(r)
    }

    fn delete_many(&mut self, keys: Vec<String>) -> Result<Guest<u32>> {
        let r = self.storage()?.delete_many(&keys);
        self.lift(r)
    }

    fn delete_all(&mut self) -> Result<()> {
        match self.storage()?.delete_all() {
            Ok(()) => Ok(()),
            Err(e) => Err(self.fault(e)),
        }
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
        let r = self.storage()?.list(&opts);
        self.lift(r)
    }

    fn transaction_begin(&mut self) -> Result<Guest<()>> {
        Ok(self.storage()?.begin_nested().map_err(to_wit))
    }

    fn transaction_commit(&mut self) -> Result<Guest<()>> {
        Ok(self.storage()?.commit_nested().map_err(to_wit))
    }

    fn transaction_rollback(&mut self) -> Result<Guest<()>> {
        Ok(self.storage()?.rollback_nested().map_err(to_wit))
    }

    fn get_alarm(&mut self) -> Result<Option<i64>> {
        match self.storage()?.get_alarm() {
            Ok(a) => Ok(a),
            Err(e) => Err(self.fault(e)),
        }
    }

    fn set_alarm(&mut self, scheduled_time: i64) -> Result<()> {
        self.storage()?.set_alarm(Some(scheduled_time));
        Ok(())
    }

    fn delete_alarm(&mut self) -> Result<()> {
        self.storage()?.set_alarm(None);
        Ok(())
    }

    async fn get_current_bookmark(&mut self) -> Result<Guest<String>> {
        let _waiting = self.reach.waiting();
        let r = self.storage()?.history().current_bookmark().await;
        self.lift_history(r.map(|b| b.to_string()))
    }

    fn get_bookmark_for_time(&mut self, time: i64) -> Result<Guest<String>> {
        let r = self.storage()?.history().bookmark_for_time(time);
        self.lift_history(r.map(|b| b.to_string()))
    }

    async fn on_next_session_restore_bookmark(
        &mut self,
        bookmark: String,
    ) -> Result<Guest<String>> {
        let _waiting = self.reach.waiting();
        let r = self
            .storage()?
            .history()
            .restore_on_next_start(&bookmark)
            .await;
        self.lift_history(r.map(|b| b.to_string()))
    }

    async fn snapshot(&mut self) -> Result<Guest<String>> {
        let _waiting = self.reach.waiting();
        let class = self.identity.class.clone();
        let r = self.storage()?.history().snapshot(&class).await;
        self.lift_history(r)
    }

    async fn on_next_session_restore(&mut self, snapshot: String) -> Result<Guest<String>> {
        let _waiting = self.reach.waiting();
        let class = self.identity.class.clone();
        let r = self
            .storage()?
            .history()
            .restore_snapshot_on_next_start(&snapshot, &class)
            .await;
        self.lift_history(r.map(|b| b.to_string()))
    }
}
