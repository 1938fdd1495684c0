//! Cloudflare's rules for SQL in a Durable Object, enforced the same way: an authorizer refuses
//! transaction control, `ATTACH`, PRAGMAs outside an allow-list, extension loading and names
//! reserved for the host; SQLite's limits are set to the documented values.

use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;

/// The documented limits (Cloudflare's; `SQLITE_LIMIT_*`).
pub const MAX_COLUMNS: i32 = 100;
/// Bytes of one string, BLOB or row.
pub const MAX_VALUE_BYTES: i32 = 2_000_000;
/// Bytes of one query.
pub const MAX_QUERY_BYTES: usize = 100_000;
pub const MAX_BINDINGS: usize = 100;
pub const MAX_LIKE_PATTERN_BYTES: i32 = 50;
pub const MAX_FUNCTION_ARGS: i32 = 32;

/// PRAGMAs a guest may run (reading schema and checking integrity; the settings that hold for
/// the running transaction only).
pub const ALLOWED_PRAGMAS: &[&str] = &[
    "table_list",
    "table_info",
    "table_xinfo",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "foreign_key_check",
    "foreign_keys",
    "defer_foreign_keys",
    "case_sensitive_like",
    "ignore_check_constraints",
    "legacy_alter_table",
    "recursive_triggers",
    "reverse_unordered_selects",
    "quick_check",
    "integrity_check",
    "optimize",
    "page_count",
    "page_size",
    "freelist_count",
    "data_version",
];

/// Name prefixes reserved for the host (Cloudflare's `_cf_`, and `_hf_`).
const RESERVED: &[&str] = &["_cf_", "_hf_"];

/// What the authorizer decided last, shared with the connection's callback. Why a lock: the
/// callback must be `Send`; it runs on the thread running the statement, never concurrently.
#[derive(Debug, Default)]
pub(super) struct Verdict {
    /// The reason for the last denial (taken when SQLite reports `SQLITE_AUTH`).
    pub denied: Option<String>,
    /// The host's own statements (delete-all, settings) are not checked.
    pub internal: bool,
}

pub(super) type SharedVerdict = Arc<Mutex<Verdict>>;

const TRANSACTIONS: &str = "transactions are not allowed in exec(): each event is one transaction \
already; use ctx.storage.transactionSync() (or transaction()) for a nested one";

fn reserved(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    RESERVED.iter().any(|p| lower.starts_with(p))
}

fn decide(action: &AuthAction<'_>) -> Result<(), String> {
    use AuthAction::*;
    match action {
        Transaction { .. } => Err(format!("BEGIN, COMMIT and ROLLBACK: {TRANSACTIONS}")),
        Savepoint { .. } => Err(format!("SAVEPOINT and RELEASE: {TRANSACTIONS}")),
        Attach { .. } | Detach { .. } => {
            Err("ATTACH and DETACH are not allowed: an object has one database".into())
        }
        Pragma { pragma_name, .. } => {
            let name = pragma_name.to_ascii_lowercase();
            if ALLOWED_PRAGMAS.contains(&name.as_str()) {
                Ok(())
            } else {
                Err(format!(
                    "PRAGMA {pragma_name} is not allowed (allowed: {})",
                    ALLOWED_PRAGMAS.join(", ")
                ))
            }
        }
        Function { function_name } if function_name.eq_ignore_ascii_case("load_extension") => {
            Err("loading extensions is not allowed".into())
        }
        CreateIndex { index_name: n, .. }
        | CreateTempIndex { index_name: n, .. }
        | CreateTrigger {
            trigger_name: n, ..
        }
        | CreateTempTrigger {
            trigger_name: n, ..
        }
        | CreateView { view_name: n }
        | CreateTempView { view_name: n }
            if reserved(n) =>
        {
            Err(format!(
                "`{n}`: names starting with _cf_ or _hf_ are reserved"
            ))
        }
        CreateTable { table_name: n }
        | CreateTempTable { table_name: n }
        | CreateVtable { table_name: n, .. }
        | DropTable { table_name: n }
        | DropTempTable { table_name: n }
        | Read { table_name: n, .. }
        | Insert { table_name: n }
        | Update { table_name: n, .. }
        | Delete { table_name: n }
        | AlterTable { table_name: n, .. }
        | Analyze { table_name: n }
            if reserved(n) =>
        {
            Err(format!(
                "`{n}`: names starting with _cf_ or _hf_ are reserved"
            ))
        }
        _ => Ok(()),
    }
}

/// Sets the documented limits and installs the authorizer.
pub(super) fn install(conn: &mut Connection, verdict: SharedVerdict) -> rusqlite::Result<()> {
    for (limit, value) in [
        (Limit::SQLITE_LIMIT_COLUMN, MAX_COLUMNS),
        (Limit::SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES),
        (Limit::SQLITE_LIMIT_SQL_LENGTH, MAX_QUERY_BYTES as i32),
        (Limit::SQLITE_LIMIT_VARIABLE_NUMBER, MAX_BINDINGS as i32),
        (
            Limit::SQLITE_LIMIT_LIKE_PATTERN_LENGTH,
            MAX_LIKE_PATTERN_BYTES,
        ),
        (Limit::SQLITE_LIMIT_FUNCTION_ARG, MAX_FUNCTION_ARGS),
        (Limit::SQLITE_LIMIT_COMPOUND_SELECT, 5),
        (Limit::SQLITE_LIMIT_EXPR_DEPTH, 100),
        (Limit::SQLITE_LIMIT_TRIGGER_DEPTH, 10),
        (Limit::SQLITE_LIMIT_ATTACHED, 0),
    ] {
        conn.set_limit(limit, value)?;
    }
    conn.authorizer(Some(move |ctx: AuthContext<'_>| {
        let mut v = verdict.lock().expect("verdict lock");
        if v.internal {
            return Authorization::Allow;
        }
        match decide(&ctx.action) {
            Ok(()) => Authorization::Allow,
            Err(why) => {
                v.denied = Some(why);
                Authorization::Deny
            }
        }
    }))
}

/// A statement kind the authorizer never sees: `VACUUM` (also `VACUUM INTO`, which would write
/// a file) is refused by its first word.
pub(super) fn check_text(sql: &str) -> Result<(), String> {
    if first_word(sql).eq_ignore_ascii_case("vacuum") {
        return Err(
            "VACUUM is not allowed: the database's free pages are reclaimed as it shrinks (auto_vacuum is on)"
                .into(),
        );
    }
    Ok(())
}

/// The first word of a statement, after whitespace and comments.
fn first_word(sql: &str) -> &str {
    let mut s = sql;
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix("--") {
            s = rest.find('\n').map_or("", |i| &rest[i..]);
        } else if let Some(rest) = s.strip_prefix("/*") {
            s = rest.find("*/").map_or("", |i| &rest[i + 2..]);
        } else {
            break;
        }
    }
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_word_skips_comments() {
        assert_eq!(first_word("  -- x\n /* y */ VACUUM INTO 'f'"), "VACUUM");
        assert!(check_text("vacuum").is_err());
        assert!(check_text("SELECT 'vacuum'").is_ok());
    }
}
