//! `[[migrations]]`: changes to the set of namespaces (classes) that move or delete storage,
//! in Cloudflare's shape. The same schema in holdfast.toml and in a wrangler project.
//!
//! A migration is applied once, at start-up, and its tag recorded (the store does that in one
//! transaction); this module only reads and checks them.

use std::collections::HashSet;

use serde_json::Value;

/// One migration, in the order the config lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// Applied once: a tag already recorded is skipped.
    pub tag: String,
    /// Namespaces this migration creates (`new_classes` and `new_sqlite_classes`); recorded only,
    /// since a namespace comes into being with its first object.
    pub new_classes: Vec<String>,
    /// Those of `new_classes` created key-value backed (`new_classes`; `new_sqlite_classes`
    /// are SQLite-backed).
    pub new_kv_classes: Vec<String>,
    /// `(from, to)`: every object of `from` moves, with its storage, alarm and name, to `to`.
    pub renamed_classes: Vec<(String, String)>,
    /// Namespaces whose every object's storage is removed.
    pub deleted_classes: Vec<String>,
}

/// Reads `migrations` (an array). Unknown fields are errors when `strict` (holdfast.toml),
/// warnings otherwise (a wrangler project may use settings Holdfast does not have).
pub(super) fn parse(
    value: &Value,
    strict: bool,
    warnings: &mut Vec<String>,
) -> Result<Vec<Migration>, (String, String)> {
    let Some(items) = value.as_array() else {
        return Err(("migrations".into(), "must be an array of tables".into()));
    };
    let mut out = Vec::with_capacity(items.len());
    let mut tags = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let field = |name: &str| format!("migrations[{i}].{name}");
        let Some(table) = item.as_object() else {
            return Err((format!("migrations[{i}]"), "must be a table".into()));
        };
        let tag = match table.get("tag") {
            Some(Value::String(t)) if !t.is_empty() => t.clone(),
            Some(_) => return Err((field("tag"), "must be a non-empty string".into())),
            None => {
                return Err((
                    field("tag"),
                    "is missing: every migration needs a tag".into(),
                ));
            }
        };
        if !tags.insert(tag.clone()) {
            return Err((
                field("tag"),
                format!("tag `{tag}` is used by more than one migration"),
            ));
        }
        let mut m = Migration {
            tag,
            new_classes: Vec::new(),
            new_kv_classes: Vec::new(),
            renamed_classes: Vec::new(),
            deleted_classes: Vec::new(),
        };
        for (key, v) in table {
            match key.as_str() {
                "tag" => {}
                "new_classes" | "new_sqlite_classes" => {
                    let n = names(v).map_err(|e| (field(key), e))?;
                    if key == "new_classes" {
                        m.new_kv_classes.extend(n.iter().cloned());
                    }
                    m.new_classes.extend(n);
                }
                "deleted_classes" => m.deleted_classes = names(v).map_err(|e| (field(key), e))?,
                "renamed_classes" => {
                    m.renamed_classes = renames(v).map_err(|e| (field(key), e))?;
                }
                other if strict => {
                    return Err((field(other), "unknown field".into()));
                }
                "transferred_classes" => warnings.push(format!(
                    "{}: moving classes between scripts is not supported (one project per host); ignored",
                    field("transferred_classes")
                )),
                other => warnings.push(format!("{}: not supported by Holdfast; ignored", field(other))),
            }
        }
        out.push(m);
    }
    Ok(out)
}

/// How `class` keeps storage after `migrations`: key-value backed if it was created by
/// `new_classes` (or renamed from such a class), SQLite-backed otherwise.
pub(super) fn backend_of(migrations: &[Migration], class: &str) -> super::StorageBackend {
    let mut kv = HashSet::new();
    for m in migrations {
        kv.extend(m.new_kv_classes.iter().map(String::as_str));
        for (from, to) in &m.renamed_classes {
            if kv.remove(from.as_str()) {
                kv.insert(to.as_str());
            }
        }
        for d in &m.deleted_classes {
            kv.remove(d.as_str());
        }
    }
    if kv.contains(class) {
        super::StorageBackend::Kv
    } else {
        super::StorageBackend::Sqlite
    }
}

fn names(v: &Value) -> Result<Vec<String>, String> {
    let bad = || "must be an array of class names".to_string();
    v.as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|n| match n {
            Value::String(s) if !s.is_empty() => Ok(s.clone()),
            _ => Err(bad()),
        })
        .collect()
}

fn renames(v: &Value) -> Result<Vec<(String, String)>, String> {
    let bad = || "must be an array of { from = \"Old\", to = \"New\" }".to_string();
    let mut out = Vec::new();
    for r in v.as_array().ok_or_else(bad)? {
        let t = r.as_object().ok_or_else(bad)?;
        let get = |k: &str| match t.get(k) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(bad()),
        };
        if t.keys().any(|k| k != "from" && k != "to") {
            return Err(bad());
        }
        let (from, to) = (get("from")?, get("to")?);
        if from == to {
            return Err(format!("renames `{from}` to itself"));
        }
        out.push((from, to));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_cloudflare_migrations() {
        let mut w = Vec::new();
        let m = parse(
            &json!([
                {"tag": "v1", "new_classes": ["Counter"], "new_sqlite_classes": ["Room"]},
                {"tag": "v2", "renamed_classes": [{"from": "Room", "to": "ChatRoom"}]},
                {"tag": "v3", "deleted_classes": ["Counter"], "transferred_classes": []}
            ]),
            false,
            &mut w,
        )
        .unwrap();
        assert_eq!(m[0].new_classes, ["Counter", "Room"]);
        assert_eq!(m[1].renamed_classes, [("Room".into(), "ChatRoom".into())]);
        assert_eq!(m[2].deleted_classes, ["Counter"]);
        assert!(w[0].contains("migrations[2].transferred_classes"), "{w:?}");
        // The storage backend follows the migrations.
        use super::super::StorageBackend::{Kv, Sqlite};
        assert_eq!(backend_of(&m[..1], "Counter"), Kv);
        assert_eq!(backend_of(&m, "Counter"), Sqlite);
        assert_eq!(backend_of(&m, "ChatRoom"), Sqlite);
        let m2 = parse(
            &json!([
                {"tag": "v1", "new_classes": ["Old"]},
                {"tag": "v2", "renamed_classes": [{"from": "Old", "to": "New"}]}
            ]),
            false,
            &mut w,
        )
        .unwrap();
        assert_eq!(backend_of(&m2, "New"), Kv);
        assert_eq!(backend_of(&m2, "Unmigrated"), Sqlite);
    }

    #[test]
    fn refuses_what_cannot_be_applied() {
        let err = |v: Value| parse(&v, true, &mut Vec::new()).unwrap_err();
        assert_eq!(err(json!([{}])).0, "migrations[0].tag");
        assert_eq!(
            err(json!([{"tag": "a"}, {"tag": "a"}])).1,
            "tag `a` is used by more than one migration"
        );
        assert_eq!(
            err(json!([{"tag": "a", "renamed_classes": [{"from": "X"}]}])).0,
            "migrations[0].renamed_classes"
        );
        assert_eq!(err(json!([{"tag": "a", "typo": 1}])).1, "unknown field");
    }
}
