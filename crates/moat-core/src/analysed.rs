//! An exchange with what was read from its text: the one shape in which readers, the
//! store and the engine pass an exchange on once its text was read. The text is read once
//! ([`Analysed::of`]); it may then be dropped ([`Analysed::drop_text`]) and what was read
//! from it stays, so nothing downstream reads a text that is gone.

use serde::{Deserialize, Serialize};

use crate::content::{self, ContentSignals};
use crate::exchange::{AccountRecord, Exchange, Record};
use crate::keys::Carried;

/// An exchange, its content signals, and the link keys it carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "Kept", into = "Kept")]
pub struct Analysed {
    exchange: Exchange,
    content: ContentSignals,
    carried: Carried,
}

/// What of an analysed exchange is kept on disk: the keys are worked out again from it.
#[derive(Serialize, Deserialize)]
struct Kept {
    exchange: Exchange,
    content: ContentSignals,
}

impl From<Kept> for Analysed {
    fn from(kept: Kept) -> Self {
        Self::with_content(kept.exchange, kept.content)
    }
}

impl From<Analysed> for Kept {
    fn from(a: Analysed) -> Self {
        Self {
            exchange: a.exchange,
            content: a.content,
        }
    }
}

impl Analysed {
    /// Reads `exchange`'s text: its content signals and the keys it carries. The text
    /// stays until [`Analysed::drop_text`].
    pub fn of(exchange: Exchange) -> Self {
        let content = content::analyse(&exchange.request);
        Self::with_content(exchange, content)
    }

    /// An exchange whose text was read as `content` before (and may be gone since):
    /// `content` must be [`analyse`](content::analyse) of its request as it was.
    pub fn with_content(exchange: Exchange, content: ContentSignals) -> Self {
        let carried = Carried::of(&exchange, &content);
        Self {
            exchange,
            content,
            carried,
        }
    }

    /// Drops the prompt and answer text; what was read from it stays.
    pub fn drop_text(&mut self) {
        self.exchange.drop_text();
    }

    /// The exchange (its text gone if dropped).
    pub fn exchange(&self) -> &Exchange {
        &self.exchange
    }

    /// What its text said.
    pub fn content(&self) -> &ContentSignals {
        &self.content
    }

    /// The link keys it carries.
    pub fn carried(&self) -> &Carried {
        &self.carried
    }
}

/// A record with its exchange analysed: what the engine reads and the store keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
#[allow(clippy::large_enum_variant)] // nearly every record is an exchange
pub enum AnalysedRecord {
    /// An exchange.
    Exchange(Analysed),
    /// Account facts given apart from the exchanges.
    Account(AccountRecord),
}

impl AnalysedRecord {
    /// The record read, its exchange analysed (the text kept).
    pub fn of(record: Record) -> Self {
        match record {
            Record::Exchange(e) => Self::Exchange(Analysed::of(e)),
            Record::Account(a) => Self::Account(a),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::Request;

    #[test]
    fn what_was_read_stays_when_the_text_goes_and_survives_the_store() {
        let exchange = Exchange {
            account_id: "a".into(),
            request: Request {
                system: Some("You are a careful assistant.".into()),
                prompt: Some("Explain step by step how to refactor this function.".into()),
                ..Request::default()
            },
            ..Exchange::default()
        };
        let mut a = Analysed::of(exchange);
        let read = (a.content().clone(), *a.carried());
        assert!(read.0.reasoning_ask && read.1.system.is_some());
        a.drop_text();
        assert!(a.exchange().request.prompt.is_none());
        assert_eq!((a.content().clone(), *a.carried()), read);
        let record = AnalysedRecord::Exchange(a);
        let json = serde_json::to_string(&record).unwrap();
        assert!(
            json.starts_with(r#"{"kind":"exchange","exchange":"#),
            "{json}"
        );
        let back: AnalysedRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, record);
    }
}
