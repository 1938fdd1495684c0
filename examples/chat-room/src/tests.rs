//! Unit tests of the pure helpers (the handlers need the host: see the integration tests).

use super::*;

#[test]
fn names_are_trimmed_and_bounded() {
    assert_eq!(validate_name(Some(" Alice ".into())).unwrap(), "Alice");
    assert_eq!(validate_name(Some("é".repeat(32))).unwrap(), "é".repeat(32));
    assert!(validate_name(None).is_err());
    assert!(validate_name(Some("  ".into())).is_err());
    assert!(validate_name(Some("a".repeat(33))).is_err());
}

#[test]
fn frames_are_validated() {
    assert_eq!(
        parse_message(r#"{"type":"message","text":"hi"}"#).unwrap(),
        "hi"
    );
    let long = json!({ "type": "message", "text": "a".repeat(4097) });
    for bad in [
        "nope",
        r#"{"type":"dance"}"#,
        r#"{"type":"message"}"#,
        r#"{"text":"x"}"#,
    ] {
        assert!(parse_message(bad).is_err(), "{bad}");
    }
    assert!(parse_message(r#"{"type":"message","text":""}"#).is_err());
    assert!(parse_message(&long.to_string()).is_err());
}

#[test]
fn stored_messages_have_the_history_shape() {
    let chat = Chat {
        name: "Al".into(),
        text: "hi".into(),
        timestamp: 5,
    };
    let expected = json!({ "name": "Al", "text": "hi", "timestamp": 5 });
    assert_eq!(serde_json::to_value(&chat).unwrap(), expected);
}

#[test]
fn message_keys_sort_by_number() {
    assert_eq!(msg_key(7), "msg/00000000000000000007");
    assert!(msg_key(99) < msg_key(100));
}
