//! Tests of the object's storage view against a real database: the cache bound, the undo
//! journal of nested transactions, and `list` paging through committed rows.

use std::sync::mpsc;

use tokio::sync::Notify;

use super::*;
use crate::id::ObjectId;
use crate::store::commit::{CommitLimits, Committer, Job};

fn limits(cache_bytes: usize) -> ViewLimits {
    ViewLimits {
        max_key_bytes: 2048,
        max_value_bytes: 1 << 20,
        max_keys_per_call: 128,
        max_event_write_bytes: 64 << 20,
        max_event_write_keys: 100_000,
        cache_bytes,
        max_list_bytes: 64 << 20,
        sql: crate::store::SqlLimits {
            enabled: false,
            max_database_bytes: 1 << 30,
            max_event_bytes: 64 << 20,
            max_result_bytes: 64 << 20,
            cache_bytes: 1 << 20,
        },
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    db: Db,
    committer: Committer,
    object: ObjectKey,
    commit: Arc<CommitState>,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("v.redb"), 1 << 20, None).unwrap();
        let committer =
            Committer::start(db.clone(), Arc::new(Notify::new()), CommitLimits::default());
        Fixture {
            _dir: dir,
            db,
            committer,
            object: ObjectKey::new("ns", &ObjectId::from_bytes([3; 32])),
            commit: Arc::default(),
        }
    }

    fn view(&self, cache_bytes: usize) -> ObjectStorage {
        ObjectStorage::new(
            self.db.clone(),
            self.object.clone(),
            limits(cache_bytes),
            self.commit.clone(),
            self.committer.clone(),
        )
    }

    /// Ends the view's event and waits until its writes are durable.
    fn commit(&self, view: &mut ObjectStorage) {
        let Some((ws, n)) = view.finish_event() else {
            return;
        };
        let (tx, rx) = mpsc::channel();
        self.committer.submit(Job {
            object: self.object.clone(),
            state: self.commit.clone(),
            generation: 0,
            writes: Some(ws),
            event_no: n,
            release: Box::new(move |r| tx.send(r).unwrap()),
        });
        rx.recv().unwrap().unwrap();
    }
}

fn key(i: usize) -> String {
    format!("k{i:05}")
}

#[test]
fn the_cache_stays_within_its_bytes_and_reads_stay_right() {
    let f = Fixture::new();
    let mut v = f.view(20_000);
    for i in 0..200 {
        v.put(key(i), vec![b'a' + (i % 26) as u8; 1000]).unwrap();
    }
    f.commit(&mut v);
    // A second event: its reads go to the database past the bound, and the cache sheds
    // durable entries instead of growing.
    for round in 0..3 {
        for i in 0..200 {
            let got = v.get(&key(i)).unwrap().unwrap().unwrap();
            assert_eq!(
                got,
                vec![b'a' + (i % 26) as u8; 1000],
                "round {round} key {i}"
            );
            assert!(
                v.cache.bytes <= 20_000 + 1100,
                "cache at {} bytes",
                v.cache.bytes
            );
        }
    }
    v.abort_event();
}

#[test]
fn entries_not_yet_durable_are_never_dropped() {
    let f = Fixture::new();
    let mut v = f.view(5_000);
    for i in 0..50 {
        v.put(key(i), vec![b'x'; 1000]).unwrap();
    }
    // Not committed: the cache must keep them all (the database does not have them).
    let (_ws, _) = v.finish_event().unwrap();
    assert!(v.cache.bytes > 5_000);
    for i in 0..50 {
        assert_eq!(v.get(&key(i)).unwrap().unwrap(), Some(vec![b'x'; 1000]));
    }
}

#[test]
fn list_pages_through_committed_rows_under_the_event_and_cache() {
    let f = Fixture::new();
    let mut v = f.view(1 << 20);
    for i in 0..700 {
        v.put(key(i), i.to_string().into_bytes()).unwrap();
    }
    f.commit(&mut v);
    let mut v = f.view(1 << 20); // a new activation: nothing cached
    // Overlay: a committed-then-cached change, and the running event's own writes.
    v.delete(&key(3)).unwrap().unwrap();
    f.commit(&mut v);
    v.put(key(300), b"event".to_vec()).unwrap();
    v.delete(&key(650)).unwrap().unwrap();
    v.put("k99999".into(), b"new".to_vec()).unwrap();
    let all = v.list(&ListOptions::default()).unwrap().unwrap();
    assert_eq!(all.len(), 700 - 2 + 1);
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "in key order");
    let find = |k: &str| all.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
    assert_eq!(find(&key(300)), Some(b"event".to_vec()));
    assert_eq!(find(&key(3)), None);
    assert_eq!(find(&key(650)), None);
    assert_eq!(find(&key(699)), Some(b"699".to_vec()));
    let rev = v
        .list(&ListOptions {
            reverse: true,
            limit: Some(300),
            ..ListOptions::default()
        })
        .unwrap()
        .unwrap();
    let expect: Vec<_> = all.iter().rev().take(300).cloned().collect();
    assert_eq!(rev, expect);
    let small = v
        .list(&ListOptions {
            start_after: Some(key(255)),
            limit: Some(3),
            ..ListOptions::default()
        })
        .unwrap()
        .unwrap();
    let keys: Vec<_> = small.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, [key(256), key(257), key(258)]);
}

#[test]
fn nested_transactions_undo_through_the_journal() {
    let f = Fixture::new();
    let mut v = f.view(1 << 20);
    v.put("a".into(), b"1".to_vec()).unwrap();
    v.begin_nested().unwrap();
    v.put("a".into(), b"2".to_vec()).unwrap();
    v.put("b".into(), b"2".to_vec()).unwrap();
    v.set_alarm(Some(5));
    v.begin_nested().unwrap();
    v.delete_all().unwrap();
    v.put("c".into(), b"3".to_vec()).unwrap();
    v.commit_nested().unwrap(); // the delete-all and c now belong to the outer one
    assert_eq!(v.get("a").unwrap().unwrap(), None);
    assert_eq!(v.get("c").unwrap().unwrap(), Some(b"3".to_vec()));
    v.rollback_nested().unwrap();
    assert_eq!(v.get("a").unwrap().unwrap(), Some(b"1".to_vec()));
    assert_eq!(v.get("b").unwrap().unwrap(), None);
    assert_eq!(v.get("c").unwrap().unwrap(), None);
    assert_eq!(v.get_alarm().unwrap(), None);
    assert!(!v.event.cleared);
    assert_eq!(v.event_bytes, 2, "the budget counts only what is left");
    assert_eq!(
        v.rollback_nested().unwrap_err(),
        Refusal::InvalidArgument("no transaction is open".into())
    );
}
