//! `list`: the bounds of its options, and a lazy merge of the three layers of an object's view
//! (the running event's writes over the activation's cache over committed rows). Committed
//! rows are read in pages, so a list never builds more than what it returns plus one page.

use std::ops::Bound;

use super::db::Db;
use super::error::StoreError;
use super::key::{ObjectKey, successor};
use super::refusal::Refusal;

/// Options of `list`, as in the contract.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    pub start: Option<String>,
    pub start_after: Option<String>,
    pub end: Option<String>,
    pub prefix: Option<String>,
    pub reverse: bool,
    pub limit: Option<u32>,
}

/// Lower and upper key bounds.
pub(super) type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// Committed rows read per page.
const PAGE: usize = 256;

/// The key bounds of `opts`; `Ok(None)` when the range is empty.
pub(super) fn bounds(opts: &ListOptions) -> Result<Option<KeyRange>, Refusal> {
    if opts.start.is_some() && opts.start_after.is_some() {
        return Err(Refusal::InvalidArgument(
            "`start` and `start-after` cannot both be set".into(),
        ));
    }
    let mut lower: Bound<Vec<u8>> = match (&opts.start, &opts.start_after) {
        (Some(s), _) => Bound::Included(s.as_bytes().to_vec()),
        (_, Some(s)) => Bound::Excluded(s.as_bytes().to_vec()),
        _ => Bound::Unbounded,
    };
    let mut upper: Bound<Vec<u8>> = match &opts.end {
        Some(e) => Bound::Excluded(e.as_bytes().to_vec()),
        None => Bound::Unbounded,
    };
    if let Some(p) = &opts.prefix {
        let p = p.as_bytes().to_vec();
        let raise = match &lower {
            Bound::Unbounded => true,
            Bound::Included(l) | Bound::Excluded(l) => l < &p,
        };
        if raise {
            lower = Bound::Included(p.clone());
        }
        if let Some(s) = successor(&p) {
            let lower_it = match &upper {
                Bound::Unbounded => true,
                Bound::Excluded(u) | Bound::Included(u) => &s < u,
            };
            if lower_it {
                upper = Bound::Excluded(s);
            }
        }
    }
    let empty = match (&lower, &upper) {
        (Bound::Included(l), Bound::Excluded(u)) => l >= u,
        (Bound::Excluded(l), Bound::Excluded(u)) => l >= u,
        _ => false,
    };
    Ok(if empty { None } else { Some((lower, upper)) })
}

pub(super) fn as_ref_bound(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// One layer's entries: key, and value or `None` for a deletion that hides lower layers.
pub(super) type Entry = (Vec<u8>, Option<Vec<u8>>);

/// Committed rows of one object within a range, fetched a page at a time.
pub(super) struct CommittedRows<'a> {
    db: &'a Db,
    object: &'a ObjectKey,
    /// The bound the next page starts from (moves past each page).
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    reverse: bool,
    page: std::vec::IntoIter<(Vec<u8>, Vec<u8>)>,
    done: bool,
    /// The first read error; the iteration ends at it.
    pub error: Option<StoreError>,
}

impl<'a> CommittedRows<'a> {
    pub fn new(db: &'a Db, object: &'a ObjectKey, range: &KeyRange, reverse: bool) -> Self {
        CommittedRows {
            db,
            object,
            lower: range.0.clone(),
            upper: range.1.clone(),
            reverse,
            page: Vec::new().into_iter(),
            done: false,
            error: None,
        }
    }
}

impl Iterator for CommittedRows<'_> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        loop {
            if let Some((k, v)) = self.page.next() {
                return Some((k, Some(v)));
            }
            if self.done {
                return None;
            }
            let rows = self.db.scan(
                self.object,
                as_ref_bound(&self.lower),
                as_ref_bound(&self.upper),
                self.reverse,
                PAGE,
            );
            let rows = match rows {
                Ok(r) => r,
                Err(e) => {
                    self.error = Some(e);
                    self.done = true;
                    return None;
                }
            };
            if rows.len() < PAGE {
                self.done = true;
            }
            if let Some((last, _)) = rows.last() {
                if self.reverse {
                    self.upper = Bound::Excluded(last.clone());
                } else {
                    self.lower = Bound::Excluded(last.clone());
                }
            }
            self.page = rows.into_iter();
        }
    }
}

/// Merges sorted layers (highest priority first): the first layer holding a key decides its
/// value, `None` hides it. Stops at `limit` entries; refuses past `max_bytes` of output.
pub(super) fn merge(
    mut layers: Vec<Box<dyn Iterator<Item = Entry> + '_>>,
    reverse: bool,
    limit: usize,
    max_bytes: usize,
) -> Result<Vec<(String, Vec<u8>)>, Refusal> {
    let mut heads: Vec<Option<Entry>> = layers.iter_mut().map(|l| l.next()).collect();
    let mut out = Vec::new();
    let mut bytes = 0usize;
    while out.len() < limit {
        let next_key = heads
            .iter()
            .filter_map(|h| h.as_ref().map(|(k, _)| k))
            .reduce(|a, b| if (b < a) != reverse { b } else { a })
            .cloned();
        let Some(key) = next_key else { break };
        let mut value: Option<Option<Vec<u8>>> = None;
        for (head, layer) in heads.iter_mut().zip(layers.iter_mut()) {
            if head.as_ref().is_some_and(|(k, _)| *k == key) {
                let (_, v) = head.take().expect("checked");
                *head = layer.next();
                if value.is_none() {
                    value = Some(v);
                }
            }
        }
        if let Some(Some(v)) = value {
            bytes += key.len() + v.len();
            if bytes > max_bytes {
                return Err(Refusal::ListTooLarge {
                    bytes,
                    limit: max_bytes,
                });
            }
            let key = String::from_utf8(key).expect("keys are written from strings");
            out.push((key, v));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> ListOptions {
        ListOptions::default()
    }

    #[test]
    fn prefix_bounds_handle_0xff_and_combine_with_start_and_end() {
        assert_eq!(successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(successor(b"\xff\xff"), None);
        let o = ListOptions {
            prefix: Some("b".into()),
            start: Some("a".into()),
            ..opts()
        };
        assert_eq!(
            bounds(&o).unwrap(),
            Some((
                Bound::Included(b"b".to_vec()),
                Bound::Excluded(b"c".to_vec())
            ))
        );
        let o = ListOptions {
            prefix: Some("b".into()),
            end: Some("ba".into()),
            ..opts()
        };
        assert_eq!(
            bounds(&o).unwrap(),
            Some((
                Bound::Included(b"b".to_vec()),
                Bound::Excluded(b"ba".to_vec())
            ))
        );
    }

    #[test]
    fn empty_and_contradictory_ranges() {
        let o = ListOptions {
            start: Some("b".into()),
            end: Some("a".into()),
            ..opts()
        };
        assert_eq!(bounds(&o).unwrap(), None);
        let o = ListOptions {
            start_after: Some("a".into()),
            end: Some("a".into()),
            ..opts()
        };
        assert_eq!(bounds(&o).unwrap(), None);
        let o = ListOptions {
            prefix: Some("b".into()),
            end: Some("a".into()),
            ..opts()
        };
        assert_eq!(bounds(&o).unwrap(), None);
        let o = ListOptions {
            start: Some("a".into()),
            start_after: Some("a".into()),
            ..opts()
        };
        assert!(matches!(bounds(&o), Err(Refusal::InvalidArgument(_))));
    }

    fn layer(v: &[(&str, Option<&str>)]) -> Box<dyn Iterator<Item = Entry>> {
        let v: Vec<Entry> = v
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec())))
            .collect();
        Box::new(v.into_iter())
    }

    #[test]
    fn merge_prefers_upper_layers_and_hides_deletions() {
        let event = layer(&[("b", None), ("c", Some("event"))]);
        let cache = layer(&[("a", Some("cache")), ("c", Some("old"))]);
        let db = layer(&[("a", Some("db")), ("b", Some("db")), ("d", Some("db"))]);
        let out = merge(vec![event, cache, db], false, usize::MAX, usize::MAX).unwrap();
        let got: Vec<_> = out
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        assert_eq!(
            got,
            [
                ("a", &b"cache"[..]),
                ("c", &b"event"[..]),
                ("d", &b"db"[..])
            ]
        );
    }

    #[test]
    fn merge_stops_at_the_limit_and_refuses_past_the_byte_cap() {
        let db = || {
            layer(&[
                ("a", Some("1234")),
                ("b", Some("1234")),
                ("c", Some("1234")),
            ])
        };
        assert_eq!(merge(vec![db()], false, 2, usize::MAX).unwrap().len(), 2);
        let e = merge(vec![db()], false, usize::MAX, 8).unwrap_err();
        assert_eq!(
            e,
            Refusal::ListTooLarge {
                bytes: 10,
                limit: 8
            }
        );
        assert_eq!(
            e.to_string(),
            "the listed entries reach 10 bytes, over the limit of 8 bytes for one list call: pass a limit"
        );
    }
}
