//! Snapshot tokens: what `snapshot()` hands out and `onNextSessionRestore` takes. A token names
//! a state of one object (its key and a bookmark of its history) and its class, behind a
//! checksum, so that a mangled token is refused as such rather than read as another state.
//! Taking one copies nothing: the state is copied when a destination restores it (`fork.rs`).

use serde::{Deserialize, Serialize};

use super::history::{Bookmark, BookmarkError};
use super::key::ObjectKey;

const PREFIX: &str = "snapshot1-";

/// A decoded snapshot token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The class of the object it was taken of (it restores only into that class).
    pub class: String,
    pub source: ObjectKey,
    pub bookmark: Bookmark,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    class: String,
    source: Vec<u8>,
    bookmark: String,
}

fn check(body: &str) -> String {
    hex::encode(&blake3::hash(body.as_bytes()).as_bytes()[..4])
}

impl Snapshot {
    /// The token (`snapshot1-{hex}-{checksum}`).
    pub fn token(&self) -> String {
        let wire = Wire {
            class: self.class.clone(),
            source: self.source.as_bytes().to_vec(),
            bookmark: self.bookmark.to_string(),
        };
        let body = hex::encode(postcard::to_allocvec(&wire).expect("a snapshot serializes"));
        format!("{PREFIX}{body}-{}", check(&body))
    }

    pub fn parse(token: &str) -> Result<Snapshot, BookmarkError> {
        let bad = || BookmarkError::NotASnapshot(token.chars().take(80).collect());
        let rest = token.strip_prefix(PREFIX).ok_or_else(bad)?;
        let (body, sum) = rest.rsplit_once('-').ok_or_else(bad)?;
        if check(body) != sum {
            return Err(bad());
        }
        let bytes = hex::decode(body).map_err(|_| bad())?;
        let wire: Wire = postcard::from_bytes(&bytes).map_err(|_| bad())?;
        Ok(Snapshot {
            class: wire.class,
            source: ObjectKey::from_stored(&wire.source).ok_or_else(bad)?,
            bookmark: Bookmark::parse(&wire.bookmark).map_err(|_| bad())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::ObjectId;

    #[test]
    fn a_token_round_trips_and_a_changed_one_is_refused() {
        let s = Snapshot {
            class: "Counter".into(),
            source: ObjectKey::new("counter", &ObjectId::from_bytes([9; 32])),
            bookmark: Bookmark {
                time_ms: 1_700_000_000_000,
                position: 4096 * 7 + 3,
                tag: 0xabcdef01,
            },
        };
        let token = s.token();
        assert_eq!(Snapshot::parse(&token).unwrap(), s);
        let mut changed = token.clone().into_bytes();
        let i = PREFIX.len() + 4;
        changed[i] = if changed[i] == b'0' { b'1' } else { b'0' };
        let changed = String::from_utf8(changed).unwrap();
        for bad in [changed.as_str(), "snapshot1-zz-00000000", "yesterday", ""] {
            let e = Snapshot::parse(bad).unwrap_err();
            // The message quotes at most 80 characters of it.
            let shown: String = bad.chars().take(80).collect();
            assert_eq!(
                e.to_string(),
                format!(
                    "`{shown}` is not a snapshot (a snapshot is the string snapshot() returns)"
                )
            );
        }
    }
}
