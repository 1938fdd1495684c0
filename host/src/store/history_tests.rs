//! Point-in-time recovery against a model: random commits (keys, deletes, delete-all, alarms,
//! SQL pages and cuts) on two interleaved objects, bookmarks taken at random moments; restoring
//! to each bookmark, in random order (so restores undo restores), gives exactly the model's
//! state at that moment, and so does forking a third object from it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc;

use proptest::prelude::*;
use tokio::sync::Notify;

use super::commit::{CommitLimits, CommitState, Committer, Job};
use super::db::Db;
use super::key::ObjectKey;
use super::sql::schema::{PAGE_SIZE, PageReader, SqlWrites, size};
use super::write_set::WriteSet;
use crate::id::ObjectId;

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u8),
    Delete(u8),
    DeleteAll,
    Alarm(Option<i64>),
    /// Writes page `n` filled with a byte (0: zeros), growing the file to hold it.
    Page(u32, u8),
    /// Cuts the file to `n` pages.
    Cut(u32),
    Bookmark,
}

fn op() -> impl Strategy<Value = (bool, Op)> {
    let op = prop_oneof![
        4 => (0u8..6, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        2 => (0u8..6).prop_map(Op::Delete),
        1 => Just(Op::DeleteAll),
        1 => proptest::option::of(1i64..1000).prop_map(Op::Alarm),
        2 => (0u32..5, 0u8..4).prop_map(|(p, b)| Op::Page(p, b)),
        1 => (0u32..4).prop_map(Op::Cut),
        2 => Just(Op::Bookmark),
    ];
    (any::<bool>(), op)
}

/// What one object holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Model {
    kv: BTreeMap<Vec<u8>, Vec<u8>>,
    alarm: Option<i64>,
    pages: BTreeMap<u32, u8>,
    size: u64,
}

impl Model {
    /// Applies `op`; the write set that does the same.
    fn apply(&mut self, op: &Op) -> WriteSet {
        let mut ws = WriteSet::default();
        match op {
            Op::Put(k, v) => {
                self.kv.insert(vec![*k], vec![*v]);
                ws.puts.insert(vec![*k], Some(vec![*v]));
            }
            Op::Delete(k) => {
                self.kv.remove(&vec![*k]);
                ws.puts.insert(vec![*k], None);
            }
            Op::DeleteAll => {
                self.kv.clear();
                ws.cleared = true;
            }
            Op::Alarm(a) => {
                self.alarm = *a;
                ws.alarm = Some(*a);
            }
            Op::Page(p, b) => {
                self.size = self.size.max(u64::from(*p + 1) * PAGE_SIZE as u64);
                self.pages.insert(*p, *b);
                let mut w = SqlWrites {
                    size: self.size,
                    ..SqlWrites::default()
                };
                w.pages.insert(*p, vec![*b; PAGE_SIZE]);
                ws.sql = Some(w);
            }
            Op::Cut(n) => {
                self.size = self.size.min(u64::from(*n) * PAGE_SIZE as u64);
                self.pages.retain(|p, _| *p < *n);
                ws.sql = Some(SqlWrites {
                    size: self.size,
                    cut: Some(*n),
                    ..SqlWrites::default()
                });
            }
            Op::Bookmark => {}
        }
        ws
    }

    fn read(db: &Db, obj: &ObjectKey) -> Model {
        let kv = db
            .scan(
                obj,
                std::ops::Bound::Unbounded,
                std::ops::Bound::Unbounded,
                false,
                usize::MAX,
            )
            .unwrap()
            .into_iter()
            .collect();
        let size = size(db, obj).unwrap();
        let reader = PageReader::open(db).unwrap();
        let mut pages = BTreeMap::new();
        let mut buf = vec![0u8; PAGE_SIZE];
        for p in 0..(size / PAGE_SIZE as u64) as u32 {
            reader.read(obj, p, &mut buf).unwrap();
            assert!(buf.iter().all(|b| *b == buf[0]), "page {p} is whole");
            pages.insert(p, buf[0]);
        }
        Model {
            kv,
            alarm: db.alarm(obj).unwrap(),
            pages,
            size,
        }
    }

    /// The pages as read back (pages never written read as zeros).
    fn normalized(&self) -> Model {
        let mut m = self.clone();
        m.pages = (0..(self.size / PAGE_SIZE as u64) as u32)
            .map(|p| (p, *self.pages.get(&p).unwrap_or(&0)))
            .collect();
        m
    }
}

fn commit(c: &Committer, obj: &ObjectKey, state: &Arc<CommitState>, ws: WriteSet) {
    let (tx, rx) = mpsc::channel();
    c.submit(Job {
        object: obj.clone(),
        state: state.clone(),
        generation: 0,
        writes: Some(ws),
        event_no: 0,
        release: Box::new(move |r| tx.send(r).unwrap()),
    });
    rx.recv().unwrap().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn restoring_to_a_bookmark_gives_the_state_it_was_taken_in(
        ops in proptest::collection::vec(op(), 1..60),
        order in proptest::collection::vec(any::<proptest::sample::Index>(), 1..12),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("h.redb"), 1 << 20, None).unwrap();
        let c = Committer::start(db.clone(), Arc::new(Notify::new()), CommitLimits::default());
        let objs = [
            ObjectKey::new("ns", &ObjectId::from_bytes([1; 32])),
            ObjectKey::new("ns", &ObjectId::from_bytes([2; 32])),
        ];
        let states = [Arc::new(CommitState::default()), Arc::new(CommitState::default())];
        let fork = ObjectKey::new("other", &ObjectId::from_bytes([3; 32]));
        let fork_state = Arc::new(CommitState::default());
        let mut models = [Model::default(), Model::default()];
        let mut marks: Vec<(usize, String, Model)> = Vec::new();
        for (second, op) in &ops {
            let i = usize::from(*second);
            if let Op::Bookmark = op {
                let b = db.current_bookmark(&objs[i]).unwrap().to_string();
                marks.push((i, b, models[i].normalized()));
                continue;
            }
            let ws = models[i].apply(op);
            commit(&c, &objs[i], &states[i], ws);
        }
        for i in 0..2 {
            prop_assert_eq!(Model::read(&db, &objs[i]), models[i].normalized());
        }
        if marks.is_empty() {
            return Ok(());
        }
        let retention = CommitLimits::default().history;
        for pick in order {
            let (i, bookmark, expected) = pick.get(&marks).clone();
            let other = Model::read(&db, &objs[1 - i]);
            let position = db.restore_position(&objs[i], &bookmark, retention).unwrap();
            commit(&c, &objs[i], &states[i], WriteSet { restore_to: Some(position), ..WriteSet::default() });
            prop_assert_eq!(Model::read(&db, &objs[i]), expected.clone(), "restored to {}", bookmark);
            prop_assert_eq!(Model::read(&db, &objs[1 - i]), other, "the other object is untouched");
            // A fork of the same bookmark makes a third object exactly that state.
            commit(&c, &fork, &fork_state, WriteSet {
                restore_to: Some(position),
                restore_from: Some(objs[i].clone()),
                ..WriteSet::default()
            });
            prop_assert_eq!(Model::read(&db, &fork), expected, "forked at {}", bookmark);
        }
    }
}

#[test]
fn bookmarks_are_checked_before_anything_changes() {
    use super::history::BookmarkError;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("h.redb"), 1 << 20, None).unwrap();
    let a = ObjectKey::new("ns", &ObjectId::from_bytes([1; 32]));
    let b = ObjectKey::new("ns", &ObjectId::from_bytes([2; 32]));
    let keep = Some(std::time::Duration::from_secs(3600));
    let mark = db.current_bookmark(&a).unwrap().to_string();
    let e = |r: Result<u64, BookmarkError>| r.unwrap_err().to_string();
    assert_eq!(
        e(db.restore_position(&b, &mark, keep)),
        format!("the bookmark `{mark}` belongs to another object")
    );
    assert_eq!(
        e(db.restore_position(&a, "nonsense", keep)),
        "`nonsense` is not a bookmark (a bookmark is three groups of hex digits, as getCurrentBookmark() returns)"
    );
    let now = super::clock::now_ms();
    let future = format!("{:016x}{}", now + 60_000, &mark[16..]);
    assert_eq!(
        e(db.restore_position(&a, &future, keep)),
        format!("the bookmark `{future}` is in the future")
    );
    let old = format!("{:016x}{}", now - 7_200_000, &mark[16..]);
    assert_eq!(
        e(db.restore_position(&a, &old, keep)),
        format!(
            "the bookmark `{old}` is older than the history kept (1 hour): that history was reclaimed"
        )
    );
    assert_eq!(
        db.bookmark_for_time(&a, now - 7_200_000, keep)
            .unwrap_err()
            .to_string(),
        format!(
            "the time {} is older than the history kept (1 hour): that history was reclaimed",
            now - 7_200_000
        )
    );
    assert_eq!(
        e(db.restore_position(&a, &mark, None)),
        "point-in-time recovery is off on this server ([history] retention_seconds = 0)"
    );
    // Bookmarks compare in time order as strings.
    let later = db
        .bookmark_for_time(&a, now + 500, keep)
        .unwrap()
        .to_string();
    let earlier = db
        .bookmark_for_time(&a, now - 500, keep)
        .unwrap()
        .to_string();
    assert!(earlier < later, "{earlier} < {later}");
}

#[test]
fn history_older_than_the_window_is_reclaimed() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("h.redb"), 1 << 20, None).unwrap();
    let c = Committer::start(
        db.clone(),
        Arc::new(Notify::new()),
        CommitLimits {
            history: Some(std::time::Duration::from_millis(1500)),
            ..CommitLimits::default()
        },
    );
    let a = ObjectKey::new("ns", &ObjectId::from_bytes([1; 32]));
    let s = Arc::new(CommitState::default());
    let put = |v: u8| {
        let mut ws = WriteSet::default();
        ws.puts.insert(b"k".to_vec(), Some(vec![v; 1000]));
        ws
    };
    for v in 0..50 {
        commit(&c, &a, &s, put(v));
    }
    assert_eq!(db.history(&a, None, 1000).unwrap().len(), 50);
    std::thread::sleep(std::time::Duration::from_millis(1600));
    // A steady load: what is older than the window goes with each commit.
    for v in 0..20 {
        commit(&c, &a, &s, put(v));
    }
    let kept = db.history(&a, None, 1000).unwrap();
    assert_eq!(kept.len(), 20, "only the last window's records stay");
}
