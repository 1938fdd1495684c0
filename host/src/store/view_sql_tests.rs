//! Tests of SQL on the storage view against a real database and committer: durability across
//! activations, atomicity with failed events and nested transactions, the rules and limits.

use std::sync::{Arc, mpsc};

use tokio::sync::Notify;

use crate::id::ObjectId;
use crate::store::commit::{CommitLimits, CommitState, Committer, Job};
use crate::store::{
    Db, ObjectKey, ObjectStorage, SqlLimits, SqlOutput, SqlRefusal, SqlValue, ViewLimits,
};

fn limits(max_database_bytes: u64) -> ViewLimits {
    ViewLimits {
        max_key_bytes: 2_000_000,
        max_value_bytes: 2_000_000,
        max_keys_per_call: 128,
        max_event_write_bytes: 64 << 20,
        max_event_write_keys: 100_000,
        cache_bytes: 1 << 20,
        max_list_bytes: 64 << 20,
        sql: SqlLimits {
            enabled: true,
            max_database_bytes,
            max_event_bytes: 8 << 20,
            max_result_bytes: 1 << 20,
            cache_bytes: 256 << 10,
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
        let db = Db::open(&dir.path().join("s.redb"), 1 << 20, None).unwrap();
        let committer =
            Committer::start(db.clone(), Arc::new(Notify::new()), CommitLimits::default());
        Fixture {
            _dir: dir,
            db,
            committer,
            object: ObjectKey::new("ns", &ObjectId::from_bytes([7; 32])),
            commit: Arc::default(),
        }
    }

    fn view_with(&self, max_database_bytes: u64) -> ObjectStorage {
        ObjectStorage::new(
            self.db.clone(),
            self.object.clone(),
            limits(max_database_bytes),
            self.commit.clone(),
            self.committer.clone(),
        )
    }

    fn view(&self) -> ObjectStorage {
        self.view_with(1 << 30)
    }

    /// Ends the view's event as the actor does and waits until its writes are durable.
    fn commit(&self, view: &mut ObjectStorage) {
        view.commit_sql().unwrap().unwrap();
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

fn run(v: &mut ObjectStorage, q: &str, params: &[SqlValue]) -> SqlOutput {
    v.sql_exec(q, params)
        .unwrap()
        .unwrap_or_else(|e| panic!("{q}: {e}"))
}

fn refused(v: &mut ObjectStorage, q: &str) -> SqlRefusal {
    match v.sql_exec(q, &[]).unwrap() {
        Ok(out) => panic!("{q} ran: {out:?}"),
        Err(e) => e,
    }
}

fn ints(v: &mut ObjectStorage, q: &str) -> Vec<i64> {
    run(v, q, &[])
        .rows
        .into_iter()
        .map(|r| match r[0] {
            SqlValue::Integer(i) => i,
            ref other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn rows_are_durable_across_activations_and_failed_events_keep_nothing() {
    let f = Fixture::new();
    let mut v = f.view();
    run(
        &mut v,
        "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT)",
        &[],
    );
    let out = run(
        &mut v,
        "INSERT INTO t(id, name) VALUES (?, ?), (2, 'b') RETURNING id",
        &[SqlValue::Integer(1), SqlValue::Text("a".into())],
    );
    assert_eq!(out.columns, ["id"]);
    assert_eq!(out.rows_written, 2);
    f.commit(&mut v);

    // A failed event: its SQL writes vanish, and the next event sees the committed state.
    run(&mut v, "INSERT INTO t VALUES (3, 'c')", &[]);
    run(&mut v, "CREATE TABLE lost(x)", &[]);
    v.abort_event();
    assert_eq!(ints(&mut v, "SELECT id FROM t ORDER BY id"), [1, 2]);
    assert!(
        matches!(refused(&mut v, "SELECT * FROM lost"), SqlRefusal::Sqlite { message, .. } if message.contains("no such table"))
    );
    v.abort_event();
    drop(v);

    // A new activation reads the pages from redb.
    let mut v = f.view();
    assert_eq!(ints(&mut v, "SELECT id FROM t ORDER BY id"), [1, 2]);
    let size = v.sql_size().unwrap().unwrap();
    assert!(size >= 2 * 4096, "{size}");
    let check = run(&mut v, "PRAGMA integrity_check", &[]);
    assert_eq!(check.rows, [[SqlValue::Text("ok".into())]]);
    v.abort_event();
}

#[test]
fn nested_transactions_roll_sql_and_keys_back_together() {
    let f = Fixture::new();
    let mut v = f.view();
    run(&mut v, "CREATE TABLE t(x)", &[]);
    v.begin_nested().unwrap();
    run(&mut v, "INSERT INTO t VALUES (1)", &[]);
    v.put("k".into(), b"1".to_vec()).unwrap();
    v.rollback_nested().unwrap();
    assert!(ints(&mut v, "SELECT x FROM t").is_empty());
    assert_eq!(v.get("k").unwrap().unwrap(), None);

    // SQL first used inside a nested transaction joins it.
    f.commit(&mut v);
    let mut v = f.view();
    v.begin_nested().unwrap();
    v.begin_nested().unwrap();
    run(&mut v, "INSERT INTO t VALUES (2)", &[]);
    v.commit_nested().unwrap();
    run(&mut v, "INSERT INTO t VALUES (3)", &[]);
    v.rollback_nested().unwrap();
    run(&mut v, "INSERT INTO t VALUES (4)", &[]);
    f.commit(&mut v);
    assert_eq!(ints(&mut v, "SELECT x FROM t ORDER BY x"), [4]);
    v.abort_event();
}

#[test]
fn several_statements_fail_together_and_bindings_go_to_the_last() {
    let f = Fixture::new();
    let mut v = f.view();
    run(&mut v, "CREATE TABLE t(x UNIQUE)", &[]);
    let e = refused(&mut v, "INSERT INTO t VALUES (1); INSERT INTO t VALUES (1)");
    assert!(
        matches!(e, SqlRefusal::Sqlite { ref code, .. } if code == "SQLITE_CONSTRAINT"),
        "{e}"
    );
    assert!(ints(&mut v, "SELECT x FROM t").is_empty());
    let out = run(
        &mut v,
        "INSERT INTO t VALUES (5); SELECT x + ? FROM t",
        &[SqlValue::Integer(10)],
    );
    assert_eq!(out.rows, [[SqlValue::Integer(15)]]);
    let e = v
        .sql_exec("SELECT ?, ?", &[SqlValue::Integer(1)])
        .unwrap()
        .unwrap_err();
    assert_eq!(e.to_string(), "the query takes 2 bindings, got 1");
    v.abort_event();
}

#[test]
fn the_rules_refuse_with_their_messages() {
    let f = Fixture::new();
    let mut v = f.view();
    let cases = [
        (
            "BEGIN",
            "BEGIN, COMMIT and ROLLBACK: transactions are not allowed in exec()",
        ),
        (
            "SAVEPOINT a",
            "SAVEPOINT and RELEASE: transactions are not allowed in exec()",
        ),
        ("ATTACH 'x.db' AS x", "ATTACH and DETACH are not allowed"),
        (
            "PRAGMA journal_mode = DELETE",
            "PRAGMA journal_mode is not allowed",
        ),
        ("VACUUM", "VACUUM is not allowed"),
        ("VACUUM INTO '/tmp/x.db'", "VACUUM is not allowed"),
        (
            "CREATE TABLE _cf_KV(k)",
            "`_cf_KV`: names starting with _cf_ or _hf_ are reserved",
        ),
        (
            "SELECT load_extension('x')",
            "loading extensions is not allowed",
        ),
    ];
    for (q, want) in cases {
        let e = refused(&mut v, q);
        assert!(matches!(e, SqlRefusal::NotAllowed(_)), "{q}: {e:?}");
        assert!(e.to_string().starts_with(want), "{q}: {e}");
    }
    // Allowed PRAGMAs run.
    run(&mut v, "CREATE TABLE t(a, b)", &[]);
    assert_eq!(run(&mut v, "PRAGMA table_info(t)", &[]).rows.len(), 2);
    v.abort_event();
}

#[test]
fn a_full_database_is_an_error_not_a_corruption() {
    let f = Fixture::new();
    // 64 pages.
    let mut v = f.view_with(64 * 4096);
    run(&mut v, "CREATE TABLE t(x BLOB)", &[]);
    f.commit(&mut v);
    let mut full = None;
    for i in 0..200 {
        match v
            .sql_exec(
                "INSERT INTO t VALUES (?)",
                &[SqlValue::Blob(vec![i as u8; 3000])],
            )
            .unwrap()
        {
            Ok(_) => {}
            Err(e) => {
                full = Some(e);
                break;
            }
        }
    }
    let e = full.expect("the database filled up");
    assert!(matches!(e, SqlRefusal::Full { .. }), "{e:?}");
    assert!(
        e.to_string().starts_with(
            "the object's SQL database is full: it may hold at most 262144 bytes (limits.max_sql_bytes)"
        ),
        "{e}"
    );
    // SQLite gives up the event's transaction on a full database: the event cannot commit
    // (it fails whole), and the committed state is intact.
    let end = v.commit_sql().unwrap().unwrap_err();
    assert!(end.to_string().contains("the event cannot commit"), "{end}");
    v.abort_event();
    assert_eq!(ints(&mut v, "SELECT count(*) FROM t")[0], 0);
    for _ in 0..10 {
        run(
            &mut v,
            "INSERT INTO t VALUES (?)",
            &[SqlValue::Blob(vec![1; 3000])],
        );
    }
    f.commit(&mut v);
    drop(v);
    let mut v = f.view_with(64 * 4096);
    assert_eq!(ints(&mut v, "SELECT count(*) FROM t")[0], 10);
    let check = run(&mut v, "PRAGMA integrity_check", &[]);
    assert_eq!(check.rows, [[SqlValue::Text("ok".into())]]);
    v.abort_event();
}

#[test]
fn delete_all_drops_every_table_and_shrinks_the_file() {
    let f = Fixture::new();
    let mut v = f.view();
    run(
        &mut v,
        "CREATE TABLE a(id INTEGER PRIMARY KEY); CREATE TABLE b(a REFERENCES a(id)); CREATE VIEW c AS SELECT * FROM a",
        &[],
    );
    run(
        &mut v,
        "INSERT INTO a VALUES (1); INSERT INTO b VALUES (1)",
        &[],
    );
    run(
        &mut v,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO a SELECT i + 1 FROM n",
        &[],
    );
    f.commit(&mut v);
    let before = v.sql_size().unwrap().unwrap();
    v.put("k".into(), b"v".to_vec()).unwrap();
    v.delete_all().unwrap();
    f.commit(&mut v);
    drop(v);
    let mut v = f.view();
    let names = run(&mut v, "SELECT name FROM sqlite_schema", &[]);
    assert!(names.rows.is_empty(), "{names:?}");
    let after = v.sql_size().unwrap().unwrap();
    assert!(after < before, "{after} < {before}");
    assert_eq!(v.get("k").unwrap().unwrap(), None);
    v.abort_event();
}

#[test]
fn a_key_value_class_has_no_sql() {
    let f = Fixture::new();
    let mut l = limits(1 << 30);
    l.sql.enabled = false;
    let mut v = ObjectStorage::new(
        f.db.clone(),
        f.object.clone(),
        l,
        f.commit.clone(),
        f.committer.clone(),
    );
    let e = refused(&mut v, "SELECT 1");
    assert_eq!(
        e.to_string(),
        "SQL storage is not available: namespace `ns` is key-value backed; declare its class in `new_sqlite_classes` (wrangler) or set `storage = \"sqlite\"` on its [[class]] (holdfast.toml)"
    );
}
