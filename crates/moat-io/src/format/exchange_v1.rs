//! moat's own exchange v1 records, and the account records that may travel with them.

use moat_core::{AccountInfo, AccountRecord, Exchange, Record};
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{Reason, parse, require_account};

/// A record with account facts only: `{"account_id": ..., "account": {...}}`, no `ts`.
#[derive(Deserialize)]
struct AccountOnly {
    #[serde(default)]
    ts: Option<IgnoredAny>,
    account_id: Option<String>,
    account: AccountInfo,
}

pub(super) fn decode(bytes: &[u8]) -> Result<Record, Reason> {
    match parse::<Exchange>(bytes) {
        Ok(exchange) => {
            if exchange.account_id.trim().is_empty() {
                return Err("empty account_id".into());
            }
            Ok(Record::Exchange(exchange))
        }
        Err(reason) => match parse::<AccountOnly>(bytes) {
            Ok(AccountOnly {
                ts: None,
                account_id,
                account,
            }) => Ok(Record::Account(AccountRecord {
                account_id: require_account(account_id, "account_id")?,
                account,
            })),
            _ => Err(reason),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_core::{EventTime, Role};

    const SPEC_EXAMPLE: &str = r#"{"ts":"2026-04-22T03:14:07.123Z","account_id":"acct_8f2c","request_id":"req_1","conversation_id":"c_77","model":"frontier-2","client":{"ip":"203.0.113.7","asn":64500,"country":"SG","user_agent":"sdk-python/0.49.0"},"account":{"created_at":"2026-04-20T11:02:00Z","signup_channel":"education","email_domain":"example.edu","payment_fingerprint":"pm_91ab","verified":false},"request":{"system":"You are an expert engineer. Think step by step.","prompt":"Write a function that merges two sorted lists.","tools":0,"max_tokens":16000,"temperature":1.0,"reasoning":true},"usage":{"input_tokens":41,"output_tokens":2210,"reasoning_tokens":1630}}"#;

    #[test]
    fn reads_the_spec_example() {
        let Record::Exchange(e) = decode(SPEC_EXAMPLE.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(
            e.ts,
            EventTime::parse_rfc3339("2026-04-22T03:14:07.123Z").unwrap()
        );
        assert_eq!(e.account_id, "acct_8f2c");
        assert_eq!(e.client.ip, Some("203.0.113.7".parse().unwrap()));
        assert_eq!(e.client.asn, Some(64500));
        assert_eq!(e.account.signup_channel.as_deref(), Some("education"));
        assert_eq!(e.account.verified, Some(false));
        assert_eq!(e.request.max_tokens, Some(16000));
        assert_eq!(e.request.reasoning, Some(true));
        assert_eq!(e.usage.reasoning_tokens, Some(1630));
        assert_eq!(e.response.text, None);
    }

    #[test]
    fn round_trips_through_its_own_serialisation() {
        let Record::Exchange(e) = decode(SPEC_EXAMPLE.as_bytes()).unwrap() else {
            panic!()
        };
        let again = serde_json::to_vec(&e).unwrap();
        assert_eq!(decode(&again).unwrap(), Record::Exchange(e));
    }

    #[test]
    fn messages_with_parts_and_nulls() {
        let line = r#"{"ts":"2026-04-22T03:14:07Z","account_id":"a","model":null,"request":{"messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"hello"},{"type":"image_url","image_url":{"url":"x"}}]}]},"extra":{"ignored":[1,2]}}"#;
        let Record::Exchange(e) = decode(line.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(e.model, None);
        assert_eq!(e.request.messages[1].role, Role::User);
        assert_eq!(e.request.last_user_text(), Some("hello"));
    }

    #[test]
    fn account_records() {
        let line = r#"{"account_id":"a","account":{"signup_channel":"startup","verified":true}}"#;
        let Record::Account(a) = decode(line.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(a.account.signup_channel.as_deref(), Some("startup"));
    }

    #[test]
    fn rejects_say_why() {
        let cases = [
            (r#"{"account_id":"a"}"#, "missing field `ts`"),
            (
                r#"{"ts":"2026-04-22T03:14:07Z"}"#,
                "missing field `account_id`",
            ),
            (r#"{"ts":"yesterday","account_id":"a"}"#, "RFC 3339"),
            (
                r#"{"ts":"2026-04-22T03:14:07Z","account_id":""}"#,
                "empty account_id",
            ),
            (
                r#"{"ts":"2026-04-22T03:14:07Z","account_id":"a","client":{"ip":"999.1.1.1"}}"#,
                "invalid IP address",
            ),
            (
                r#"{"ts":"2026-04-22T03:14:07Z","account_id":"a","client":{"asn":"AS1"}}"#,
                "invalid type",
            ),
            (
                r#"{"ts":"2026-04-22T03:14:07Z","account_id":"a""#,
                "truncated",
            ),
            (r#"[1,2]"#, "invalid type"),
        ];
        for (line, expected) in cases {
            let err = decode(line.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(expected), "{line}: {err}");
        }
    }

    #[test]
    fn rejects_invalid_utf8() {
        let mut line =
            br#"{"ts":"2026-04-22T03:14:07Z","account_id":"a","request":{"prompt":"x"#.to_vec();
        line.extend_from_slice(&[0xff, 0xfe]);
        line.extend_from_slice(br#""}}"#);
        assert!(decode(&line).is_err());
    }
}
