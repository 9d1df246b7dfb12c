//! Reading a batch of rows: each mapped column read as its Arrow type says, every value
//! checked, and each row turned into a record.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use moat_core::{
    AccountInfo, Client, CompactString, EventTime, Exchange, Message, Record, Request, Response,
    Role, Usage, exchange::parse_ip,
};

use crate::format::loose::messages_of;

use super::{ColumnMap, FIELD_PATHS};

/// A field's column in a batch, with the struct columns above it (a null parent means null).
pub(super) struct Column<'a> {
    /// Where the column is, as the file names it.
    path: &'a str,
    parents: Vec<&'a dyn Array>,
    leaf: &'a dyn Array,
}

impl<'a> Column<'a> {
    fn find(batch: &'a RecordBatch, path: &'a str) -> Option<Self> {
        if let Some(col) = batch.column_by_name(path) {
            return Some(Column {
                path,
                parents: Vec::new(),
                leaf: col.as_ref(),
            });
        }
        let mut parts = path.split('.');
        let mut current: &ArrayRef = batch.column_by_name(parts.next()?)?;
        let mut parents = Vec::new();
        for part in parts {
            let s = current.as_struct_opt()?;
            parents.push(current.as_ref());
            current = s.column_by_name(part)?;
        }
        Some(Column {
            path,
            parents,
            leaf: current.as_ref(),
        })
    }

    fn is_null(&self, row: usize) -> bool {
        self.leaf.is_null(row) || self.parents.iter().any(|p| p.is_null(row))
    }

    fn type_error(&self, expected: &str) -> String {
        format!(
            "column {} has type {}, expected {expected}",
            self.path,
            self.leaf.data_type()
        )
    }

    fn str(&self, row: usize) -> Result<Option<&'a str>, String> {
        if self.is_null(row) {
            return Ok(None);
        }
        let a = self.leaf;
        match a.data_type() {
            DataType::Utf8 => Ok(Some(a.as_string::<i32>().value(row))),
            DataType::LargeUtf8 => Ok(Some(a.as_string::<i64>().value(row))),
            DataType::Utf8View => Ok(Some(a.as_string_view().value(row))),
            _ => Err(self.type_error("a string")),
        }
    }

    fn int(&self, row: usize) -> Result<Option<i128>, String> {
        if self.is_null(row) {
            return Ok(None);
        }
        let a = self.leaf;
        let v: i128 = match a.data_type() {
            DataType::Int8 => a.as_primitive::<Int8Type>().value(row).into(),
            DataType::Int16 => a.as_primitive::<Int16Type>().value(row).into(),
            DataType::Int32 => a.as_primitive::<Int32Type>().value(row).into(),
            DataType::Int64 => a.as_primitive::<Int64Type>().value(row).into(),
            DataType::UInt8 => a.as_primitive::<UInt8Type>().value(row).into(),
            DataType::UInt16 => a.as_primitive::<UInt16Type>().value(row).into(),
            DataType::UInt32 => a.as_primitive::<UInt32Type>().value(row).into(),
            DataType::UInt64 => a.as_primitive::<UInt64Type>().value(row).into(),
            _ => return Err(self.type_error("an integer")),
        };
        Ok(Some(v))
    }

    fn uint<T: TryFrom<i128>>(&self, row: usize) -> Result<Option<T>, String> {
        match self.int(row)? {
            None => Ok(None),
            Some(v) => T::try_from(v)
                .map(Some)
                .map_err(|_| format!("column {}: {v} is out of range", self.path)),
        }
    }

    fn float(&self, row: usize) -> Result<Option<f64>, String> {
        if self.is_null(row) {
            return Ok(None);
        }
        match self.leaf.data_type() {
            DataType::Float32 => Ok(Some(
                self.leaf.as_primitive::<Float32Type>().value(row).into(),
            )),
            DataType::Float64 => Ok(Some(self.leaf.as_primitive::<Float64Type>().value(row))),
            _ => self
                .int(row)
                .map(|v| v.map(|i| i as f64))
                .map_err(|_| self.type_error("a number")),
        }
    }

    fn bool(&self, row: usize) -> Result<Option<bool>, String> {
        if self.is_null(row) {
            return Ok(None);
        }
        match self.leaf.as_boolean_opt() {
            Some(b) => Ok(Some(b.value(row))),
            None => Err(self.type_error("a boolean")),
        }
    }

    fn time(&self, row: usize) -> Result<Option<EventTime>, String> {
        if self.is_null(row) {
            return Ok(None);
        }
        let a = self.leaf;
        let micros = match a.data_type() {
            DataType::Timestamp(TimeUnit::Second, _) => {
                i128::from(a.as_primitive::<TimestampSecondType>().value(row)) * 1_000_000
            }
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                i128::from(a.as_primitive::<TimestampMillisecondType>().value(row)) * 1_000
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => a
                .as_primitive::<TimestampMicrosecondType>()
                .value(row)
                .into(),
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                i128::from(a.as_primitive::<TimestampNanosecondType>().value(row)) / 1_000
            }
            DataType::Int32 | DataType::Int64 | DataType::UInt32 | DataType::UInt64 => {
                epoch_micros(self.int(row)?.unwrap_or_default())
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                let text = self.str(row)?.unwrap_or_default();
                return EventTime::parse_rfc3339(text)
                    .map(Some)
                    .map_err(|e| format!("column {}: {e}", self.path));
            }
            _ => {
                return Err(self.type_error(
                    "a timestamp, an integer since the Unix epoch or an RFC 3339 string",
                ));
            }
        };
        i64::try_from(micros)
            .ok()
            .and_then(EventTime::from_unix_micros)
            .map(Some)
            .ok_or_else(|| format!("column {}: time out of range", self.path))
    }

    /// Messages: a list of `{role, content}` structs, or a string holding their JSON.
    fn messages(&self, row: usize) -> Result<Vec<Message>, String> {
        if self.is_null(row) {
            return Ok(Vec::new());
        }
        let a = self.leaf;
        let items: ArrayRef = match a.data_type() {
            DataType::List(_) => a.as_list::<i32>().value(row),
            DataType::LargeList(_) => a.as_list::<i64>().value(row),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                let text = self.str(row)?.unwrap_or_default();
                let value: serde_json::Value = serde_json::from_str(text)
                    .map_err(|e| format!("column {}: invalid JSON ({e})", self.path))?;
                return Ok(messages_of(&value));
            }
            _ => return Err(self.type_error("a list of {role, content} or a JSON string")),
        };
        let Some(items) = items.as_struct_opt() else {
            return Err(self.type_error("a list of {role, content}"));
        };
        let string_at = |name: &str, i: usize| -> Option<String> {
            let col = items.column_by_name(name)?;
            if col.is_null(i) {
                return None;
            }
            match col.data_type() {
                DataType::Utf8 => Some(col.as_string::<i32>().value(i).to_owned()),
                DataType::LargeUtf8 => Some(col.as_string::<i64>().value(i).to_owned()),
                DataType::Utf8View => Some(col.as_string_view().value(i).to_owned()),
                _ => None,
            }
        };
        Ok((0..items.len())
            .filter(|&i| !items.is_null(i))
            .map(|i| Message {
                role: string_at("role", i)
                    .as_deref()
                    .map_or(Role::Other, Role::from_name),
                content: string_at("content", i).unwrap_or_default(),
            })
            .collect())
    }
}

/// The columns of one batch, looked up once.
pub(super) struct Columns<'a> {
    cols: Vec<(&'static str, Column<'a>)>,
}

impl<'a> Columns<'a> {
    fn new(batch: &'a RecordBatch, map: &'a ColumnMap) -> Self {
        let cols = FIELD_PATHS
            .iter()
            .filter_map(|p| Column::find(batch, map.column(p)).map(|c| (*p, c)))
            .collect();
        Columns { cols }
    }

    fn get(&self, path: &str) -> Option<&Column<'a>> {
        self.cols.iter().find(|(p, _)| *p == path).map(|(_, c)| c)
    }

    /// A string column's value, as the owned string the caller wants.
    fn str<S: for<'s> From<&'s str>>(&self, path: &str, row: usize) -> Result<Option<S>, String> {
        Ok(match self.get(path) {
            Some(c) => c.str(row)?.map(S::from),
            None => None,
        })
    }

    fn with<T>(
        &self,
        path: &str,
        read: impl FnOnce(&Column<'a>) -> Result<Option<T>, String>,
    ) -> Result<Option<T>, String> {
        self.get(path).map_or(Ok(None), read)
    }

    fn record(&self, row: usize) -> Result<Record, String> {
        let account_id = self
            .str::<CompactString>("account_id", row)?
            .filter(|a| !a.trim().is_empty())
            .ok_or("no account_id")?;
        let account = AccountInfo {
            created_at: self.with("account.created_at", |c| c.time(row))?,
            signup_channel: self.str("account.signup_channel", row)?,
            email_domain: self.str("account.email_domain", row)?,
            payment_fingerprint: self.str("account.payment_fingerprint", row)?,
            verified: self.with("account.verified", |c| c.bool(row))?,
        };
        let Some(ts) = self.with("ts", |c| c.time(row))? else {
            if account.is_empty() {
                return Err("no ts".to_owned());
            }
            return Ok(Record::Account(moat_core::AccountRecord {
                account_id,
                account,
            }));
        };
        let ip: Option<String> = self.str("client.ip", row)?;
        Ok(Record::Exchange(Exchange {
            ts,
            account_id,
            request_id: self.str("request_id", row)?,
            org_id: self.str("org_id", row)?,
            api_key_id: self.str("api_key_id", row)?,
            conversation_id: self.str("conversation_id", row)?,
            model: self.str("model", row)?,
            client: Client {
                ip: match ip {
                    Some(text) => Some(
                        parse_ip(&text).ok_or_else(|| format!("invalid IP address {text:?}"))?,
                    ),
                    None => None,
                },
                asn: self.with("client.asn", |c| c.uint(row))?,
                country: self.str("client.country", row)?,
                user_agent: self.str("client.user_agent", row)?,
                tls_fingerprint: self.str("client.tls_fingerprint", row)?,
            },
            account,
            request: Request {
                system: self.str("request.system", row)?,
                prompt: self.str("request.prompt", row)?,
                messages: match self.get("request.messages") {
                    Some(c) => c.messages(row)?,
                    None => Vec::new(),
                },
                tools: self.with("request.tools", |c| c.uint(row))?,
                max_tokens: self.with("request.max_tokens", |c| c.uint(row))?,
                temperature: self.with("request.temperature", |c| c.float(row))?,
                reasoning: self.with("request.reasoning", |c| c.bool(row))?,
            },
            usage: Usage {
                input_tokens: self.with("usage.input_tokens", |c| c.uint(row))?,
                output_tokens: self.with("usage.output_tokens", |c| c.uint(row))?,
                reasoning_tokens: self.with("usage.reasoning_tokens", |c| c.uint(row))?,
            },
            response: Response {
                text: self.str("response.text", row)?,
                finish_reason: self.str("response.finish_reason", row)?,
            },
        }))
    }
}

/// An integer time since the Unix epoch in microseconds, its unit told by its size: seconds
/// below 10^11 (dates before the year 5138), milliseconds below 10^14, microseconds below
/// 10^17, nanoseconds above.
pub(super) fn epoch_micros(value: i128) -> i128 {
    match value.unsigned_abs() {
        v if v < 100_000_000_000 => value * 1_000_000,
        v if v < 100_000_000_000_000 => value * 1_000,
        v if v < 100_000_000_000_000_000 => value,
        _ => value / 1_000,
    }
}

/// Turns every row of `batch` (its fields in the columns `map` names) into a record, or a
/// reject `(row in batch, reason)`.
pub(crate) fn decode_batch(
    batch: &RecordBatch,
    map: &ColumnMap,
    out: &mut Vec<Record>,
    rejects: &mut Vec<(u64, String)>,
) {
    let columns = Columns::new(batch, map);
    for row in 0..batch.num_rows() {
        match columns.record(row) {
            Ok(record) => out.push(record),
            Err(reason) => rejects.push((row as u64, reason)),
        }
    }
}
