//! Pure helpers that take a request URL apart: path, path segments, query parameters and
//! percent-decoding. No host calls, so they are unit-tested natively.

/// The path of `url` (everything before `?` or `#`).
pub(crate) fn path(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    &url[..end]
}

/// The query of `url` (between `?` and `#`), without the `?`; empty when there is none.
pub(crate) fn query(url: &str) -> &str {
    let without_fragment = &url[..url.find('#').unwrap_or(url.len())];
    match without_fragment.find('?') {
        Some(start) => &without_fragment[start + 1..],
        None => "",
    }
}

/// The non-empty segments of `path`, split on `/`, exactly as written (not percent-decoded).
pub(crate) fn segments(path: &str) -> Vec<&str> {
    path.split('/')
        .filter(|segment| !segment.is_empty())
        .collect()
}

/// Every `name=value` pair of `query`, in order, both decoded as in HTML forms (`+` is a space,
/// `%XX` a byte). A pair without `=` has an empty value; empty pairs are skipped.
pub(crate) fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(name), form_decode(value))
        })
}

/// Decodes one query component: `+` becomes a space and `%XX` the byte `XX`. A `%` not followed by
/// two hex digits is kept as it is; bytes that are not UTF-8 become U+FFFD.
pub(crate) fn form_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match bytes
                .get(i + 1..i + 3)
                .and_then(|hex| hex_pair(hex[0], hex[1]))
            {
                Some(byte) => {
                    out.push(byte);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn hex_pair(high: u8, low: u8) -> Option<u8> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    Some(digit(high)? << 4 | digit(low)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_query_are_split() {
        assert_eq!(path("/increment?amount=2"), "/increment");
        assert_eq!(query("/increment?amount=2"), "amount=2");
        assert_eq!(path("/a#frag?x"), "/a");
        assert_eq!(query("/a?x=1#frag"), "x=1");
        assert_eq!(query("/a"), "");
        assert_eq!(path(""), "");
    }

    #[test]
    fn segments_drop_empty_parts() {
        assert_eq!(segments("/increment"), ["increment"]);
        assert!(segments("/").is_empty());
        assert!(segments("").is_empty());
        assert_eq!(segments("//a///b/"), ["a", "b"]);
    }

    #[test]
    fn query_pairs_are_decoded() {
        let pairs: Vec<_> = query_pairs("a=1&b=x+y&&c&d=%41%zz%4").collect();
        let expected = [("a", "1"), ("b", "x y"), ("c", ""), ("d", "A%zz%4")];
        assert_eq!(pairs.len(), expected.len());
        for ((name, value), (want_name, want_value)) in pairs.iter().zip(expected) {
            assert_eq!((name.as_str(), value.as_str()), (want_name, want_value));
        }
    }

    #[test]
    fn form_decode_handles_utf8_and_invalid_bytes() {
        assert_eq!(form_decode("caf%C3%A9"), "café");
        assert_eq!(form_decode("%FF"), "\u{FFFD}");
        assert_eq!(form_decode("100%"), "100%");
        assert_eq!(form_decode("a%2Bb"), "a+b");
    }
}
