//! [`Value`]: any stored value, in the form every Holdfast SDK writes — JSON, with a tag object
//! (one `$` key) for what JSON cannot hold, such as the JavaScript SDK's structured-clone values
//! (`undefined`, `Date`, `Map`, `Set`, `BigInt`, ...). Read a key written by a JavaScript or
//! Python object as a `Value` to see those as they are; plain serde types read plain JSON.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value as Json, json};

/// A stored value with the tags decoded. Serializes back to the same tagged JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// JavaScript's `undefined` (`{"$undefined": true}`).
    Undefined,
    Null,
    Bool(bool),
    /// A JSON integer that fits in an `i64`.
    Int(i64),
    /// Any other number, `NaN`, the infinities and `-0` included.
    Number(f64),
    /// A `BigInt`, in decimal.
    BigInt(String),
    String(String),
    Array(Vec<Value>),
    Object(BTreeMap<String, Value>),
    /// A `Date`: milliseconds since the Unix epoch, `None` for an invalid date.
    Date(Option<i64>),
    /// A `Map`, in insertion order.
    Map(Vec<(Value, Value)>),
    /// A `Set`, in insertion order.
    Set(Vec<Value>),
    /// A `Uint8Array` (or an `ArrayBuffer`, read as its bytes).
    Bytes(Vec<u8>),
    RegExp {
        source: String,
        flags: String,
    },
    /// An `Error`: its name (`RangeError`, ...) and message.
    Error {
        name: String,
        message: String,
    },
}

/// Why JSON is not a well-formed tagged value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedValue(String);

impl fmt::Display for MalformedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed {} value", self.0)
    }
}

impl std::error::Error for MalformedValue {}

impl Value {
    /// The value tagged JSON `json` stands for.
    pub fn from_json(json: Json) -> Result<Value, MalformedValue> {
        Ok(match json {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
            },
            Json::String(s) => Value::String(s),
            Json::Array(a) => Value::Array(
                a.into_iter()
                    .map(Value::from_json)
                    .collect::<Result<_, _>>()?,
            ),
            Json::Object(o) => {
                if o.len() == 1 {
                    let (tag, x) = o.iter().next().expect("one entry");
                    if tag.starts_with('$')
                        && let Some(v) = tagged(tag, x)?
                    {
                        return Ok(v);
                    }
                }
                let mut out = BTreeMap::new();
                for (k, v) in o {
                    out.insert(k, Value::from_json(v)?);
                }
                Value::Object(out)
            }
        })
    }

    /// The tagged JSON of this value.
    pub fn to_json(&self) -> Json {
        match self {
            Value::Undefined => json!({ "$undefined": true }),
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Int(i) => json!(i),
            Value::Number(f) if f.is_nan() => json!({ "$number": "NaN" }),
            Value::Number(f) if f.is_infinite() => {
                json!({ "$number": if *f > 0.0 { "Infinity" } else { "-Infinity" } })
            }
            Value::Number(f) if *f == 0.0 && f.is_sign_negative() => json!({ "$number": "-0" }),
            Value::Number(f) => json!(f),
            Value::BigInt(s) => json!({ "$bigint": s }),
            Value::String(s) => Json::String(s.clone()),
            Value::Array(a) => Json::Array(a.iter().map(Value::to_json).collect()),
            Value::Object(o) => {
                let map: serde_json::Map<String, Json> =
                    o.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
                if map.len() == 1 && map.keys().all(|k| k.starts_with('$')) {
                    json!({ "$object": map })
                } else {
                    Json::Object(map)
                }
            }
            Value::Date(ms) => json!({ "$date": ms.map(iso_date) }),
            Value::Map(m) => json!({
                "$map": m.iter().map(|(k, v)| json!([k.to_json(), v.to_json()])).collect::<Vec<_>>()
            }),
            Value::Set(s) => json!({ "$set": s.iter().map(Value::to_json).collect::<Vec<_>>() }),
            Value::Bytes(b) => json!({ "$bytes": B64.encode(b) }),
            Value::RegExp { source, flags } => json!({ "$regexp": [source, flags] }),
            Value::Error { name, message } => {
                json!({ "$error": { "name": name, "message": message } })
            }
        }
    }
}

fn tagged(tag: &str, x: &Json) -> Result<Option<Value>, MalformedValue> {
    let bad = || MalformedValue(tag.to_owned());
    Ok(Some(match tag {
        "$undefined" => Value::Undefined,
        "$number" => Value::Number(match x.as_str() {
            Some("NaN") => f64::NAN,
            Some("Infinity") => f64::INFINITY,
            Some("-Infinity") => f64::NEG_INFINITY,
            Some("-0") => -0.0,
            _ => return Err(bad()),
        }),
        "$bigint" => match x.as_str() {
            Some(s)
                if s.trim_start_matches('-')
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                    && !s.is_empty() =>
            {
                Value::BigInt(s.to_owned())
            }
            _ => return Err(bad()),
        },
        "$date" => match x {
            Json::Null => Value::Date(None),
            Json::String(s) => Value::Date(Some(parse_iso(s).ok_or_else(bad)?)),
            _ => return Err(bad()),
        },
        "$map" => {
            let mut out = Vec::new();
            for pair in x.as_array().ok_or_else(bad)? {
                let p = pair.as_array().filter(|p| p.len() == 2).ok_or_else(bad)?;
                out.push((
                    Value::from_json(p[0].clone())?,
                    Value::from_json(p[1].clone())?,
                ));
            }
            Value::Map(out)
        }
        "$set" => Value::Set(
            x.as_array()
                .ok_or_else(bad)?
                .iter()
                .map(|v| Value::from_json(v.clone()))
                .collect::<Result<_, _>>()?,
        ),
        "$bytes" | "$arraybuffer" => {
            Value::Bytes(B64.decode(x.as_str().ok_or_else(bad)?).map_err(|_| bad())?)
        }
        "$regexp" => {
            let p = x.as_array().filter(|p| p.len() == 2).ok_or_else(bad)?;
            let s = |i: usize| p[i].as_str().map(str::to_owned).ok_or_else(bad);
            Value::RegExp {
                source: s(0)?,
                flags: s(1)?,
            }
        }
        "$error" => {
            let s = |k: &str| x.get(k).and_then(Json::as_str).unwrap_or("").to_owned();
            Value::Error {
                name: s("name"),
                message: s("message"),
            }
        }
        "$object" => {
            let mut out = BTreeMap::new();
            for (k, v) in x.as_object().ok_or_else(bad)? {
                out.insert(k.clone(), Value::from_json(v.clone())?);
            }
            Value::Object(out)
        }
        _ => return Ok(None),
    }))
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        Value::from_json(Json::deserialize(d)?).map_err(D::Error::custom)
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` as milliseconds since the epoch (what `Date.toISOString` writes).
fn parse_iso(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || !s.ends_with('Z') {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let ms = match &s[19..s.len() - 1] {
        "" => 0,
        f if f.starts_with('.') && f.len() == 4 => f[1..].parse().ok()?,
        _ => return None,
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    Some(((days * 24 + h) * 60 + mi) * 60_000 + sec * 1000 + ms)
}

fn iso_date(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

// Howard Hinnant's algorithms for the proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the JavaScript SDK writes for `{ type: 'created', data: undefined, at: new Date(0), ... }`.
    #[test]
    fn reads_and_writes_the_javascript_sdks_tags() {
        let text = r#"{"type":"created","data":{"$undefined":true},"at":{"$date":"2026-12-01T10:00:00.250Z"},
            "m":{"$map":[["a",1],[2,{"$set":[{"$bigint":"1180591620717411303424"}]}]]},
            "b":{"$bytes":"AQL/"},"n":[{"$number":"NaN"},{"$number":"-0"},1.5,9007199254740993],
            "r":{"$regexp":["a+b","gi"]},"e":{"$error":{"name":"RangeError","message":"x"}},
            "d":{"$object":{"$date":"not a tag"}}}"#;
        let v: Value = serde_json::from_str(text).unwrap();
        let Value::Object(o) = &v else {
            panic!("{v:?}")
        };
        assert_eq!(o["data"], Value::Undefined);
        assert_eq!(o["at"], Value::Date(Some(1_796_119_200_250)));
        assert_eq!(
            o["m"],
            Value::Map(vec![
                (Value::String("a".into()), Value::Int(1)),
                (
                    Value::Int(2),
                    Value::Set(vec![Value::BigInt("1180591620717411303424".into())])
                ),
            ])
        );
        assert_eq!(o["b"], Value::Bytes(vec![1, 2, 255]));
        let Value::Array(n) = &o["n"] else { panic!() };
        assert!(matches!(n[0], Value::Number(f) if f.is_nan()));
        assert!(matches!(n[1], Value::Number(f) if f == 0.0 && f.is_sign_negative()));
        assert_eq!(
            n[3],
            Value::Int(9_007_199_254_740_993),
            "i64 precision is kept"
        );
        assert_eq!(
            o["d"],
            Value::Object([("$date".to_owned(), Value::String("not a tag".into()))].into())
        );
        // And back to the same JSON.
        let again: Json = serde_json::from_str(text).unwrap();
        assert_eq!(v.to_json(), again);
        assert_eq!(iso_date(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(parse_iso("1969-12-31T23:59:59.999Z"), Some(-1));
        let e = serde_json::from_str::<Value>(r#"{"$date":"yesterday"}"#).unwrap_err();
        assert!(e.to_string().contains("malformed $date value"), "{e}");
    }
}
