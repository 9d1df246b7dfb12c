//! Apache Parquet input: the exchange v1 fields as columns, either flat with dotted names
//! (`client.ip`) or nested in struct columns (`client` with a child `ip`), or under other
//! names a [`ColumnMap`] gives. Each column's type is checked once, when the file is
//! opened: a column of the wrong type refuses the file with one reason, not every row.

use std::collections::BTreeMap;
use std::fs::File;
use std::sync::Arc;

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
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use parquet::file::reader::ChunkReader;

use super::loose::messages_of;

/// The exchange v1 fields, by dotted path: each is a column of that name, or a child of
/// struct columns along the path.
const FIELD_PATHS: [&str; 29] = [
    "ts",
    "account_id",
    "request_id",
    "org_id",
    "api_key_id",
    "conversation_id",
    "model",
    "client.ip",
    "client.asn",
    "client.country",
    "client.user_agent",
    "client.tls_fingerprint",
    "account.created_at",
    "account.signup_channel",
    "account.email_domain",
    "account.payment_fingerprint",
    "account.verified",
    "request.system",
    "request.prompt",
    "request.messages",
    "request.tools",
    "request.max_tokens",
    "request.temperature",
    "request.reasoning",
    "usage.input_tokens",
    "usage.output_tokens",
    "usage.reasoning_tokens",
    "response.text",
    "response.finish_reason",
];

/// What a field's column may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Integer,
    Number,
    Boolean,
    Time,
    Messages,
}

impl Kind {
    fn of(field: &str) -> Self {
        match field {
            "ts" | "account.created_at" => Kind::Time,
            "client.asn"
            | "request.tools"
            | "request.max_tokens"
            | "usage.input_tokens"
            | "usage.output_tokens"
            | "usage.reasoning_tokens" => Kind::Integer,
            "request.temperature" => Kind::Number,
            "account.verified" | "request.reasoning" => Kind::Boolean,
            "request.messages" => Kind::Messages,
            _ => Kind::Text,
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Kind::Text => "a string",
            Kind::Integer => "an integer",
            Kind::Number => "a number",
            Kind::Boolean => "a boolean",
            Kind::Time => "a timestamp, an integer since the Unix epoch or an RFC 3339 string",
            Kind::Messages => "a list of {role, content} or a JSON string",
        }
    }

    fn accepts(self, t: &DataType) -> bool {
        let text = matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
        match self {
            Kind::Text => text,
            Kind::Integer => t.is_integer(),
            Kind::Number => t.is_integer() || t.is_floating(),
            Kind::Boolean => *t == DataType::Boolean,
            Kind::Time => {
                text || matches!(t, DataType::Timestamp(..))
                    || matches!(
                        t,
                        DataType::Int32 | DataType::Int64 | DataType::UInt32 | DataType::UInt64
                    )
            }
            Kind::Messages => {
                text || matches!(t, DataType::List(item) | DataType::LargeList(item)
                    if matches!(item.data_type(), DataType::Struct(_)))
            }
        }
    }
}

/// Which column holds which exchange v1 field, where a file names its columns otherwise:
/// field path (`client.ip`) → column (`src_ip`, or `meta.src_ip` inside a struct column).
/// A field not named is looked for under its own path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnMap {
    columns: BTreeMap<String, String>,
}

impl ColumnMap {
    /// The map of `pairs` (field, column); fails on a field that exchange v1 does not have.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Self, String> {
        let mut columns = BTreeMap::new();
        for (field, column) in pairs {
            if !FIELD_PATHS.contains(&field.as_str()) {
                return Err(format!(
                    "{field:?} is not an exchange v1 field (one of: {})",
                    FIELD_PATHS.join(", ")
                ));
            }
            if column.trim().is_empty() {
                return Err(format!("the column for {field} is empty"));
            }
            columns.insert(field, column);
        }
        Ok(Self { columns })
    }

    /// The column that holds `field`.
    fn column<'a>(&'a self, field: &'a str) -> &'a str {
        self.columns.get(field).map_or(field, String::as_str)
    }
}

/// True when a top-level column `name` holds a field: it is a field's column, or a struct
/// column on the way to one.
fn is_field_column(name: &str, map: &ColumnMap) -> bool {
    FIELD_PATHS.iter().any(|field| {
        let path = map.column(field);
        path == name
            || path
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// The type of the column at `path` in `schema`: a flat column of that name, or a child
/// of struct columns along it.
fn column_type<'a>(schema: &'a arrow_schema::Schema, path: &str) -> Option<&'a DataType> {
    if let Ok(field) = schema.field_with_name(path) {
        return Some(field.data_type());
    }
    let mut parts = path.split('.');
    let mut current = schema.field_with_name(parts.next()?).ok()?.data_type();
    for part in parts {
        let DataType::Struct(children) = current else {
            return None;
        };
        current = children.iter().find(|c| c.name() == part)?.data_type();
    }
    Some(current)
}

/// Why the file's columns cannot be read as the fields they hold, if they cannot: the first
/// column of a type its field does not take.
fn check_types(schema: &arrow_schema::Schema, map: &ColumnMap) -> Result<(), String> {
    for field in FIELD_PATHS {
        let column = map.column(field);
        let Some(t) = column_type(schema, column) else {
            continue;
        };
        let kind = Kind::of(field);
        if !kind.accepts(t) {
            let read_as = if column == field {
                String::new()
            } else {
                format!(" (read as {field})")
            };
            return Err(format!(
                "column {column}{read_as} has type {t}, expected {}: cast it, or read {field} \
                 from another column (--parquet-column {field}=COLUMN)",
                kind.expected()
            ));
        }
    }
    Ok(())
}

/// How many rows a batch holds.
const BATCH_ROWS: usize = 8192;

/// Something Parquet can be read from, and opened again for each row group.
pub(crate) trait Reopen: ChunkReader + Sized + 'static {
    /// Another handle on the same bytes.
    fn reopen(&self) -> std::io::Result<Self>;
}

impl Reopen for File {
    fn reopen(&self) -> std::io::Result<Self> {
        self.try_clone()
    }
}

impl Reopen for bytes::Bytes {
    fn reopen(&self) -> std::io::Result<Self> {
        Ok(self.clone())
    }
}

/// Reads a Parquet file row group by row group, only the columns moat knows.
pub(crate) struct ParquetBatches<T> {
    file: T,
    columns: Arc<ColumnMap>,
    metadata: ArrowReaderMetadata,
    mask: ProjectionMask,
    next_group: usize,
    next_row: u64,
    current: Option<(u64, ParquetRecordBatchReader)>,
}

/// Runs a call into the Parquet library, turning a panic into an error: the library panics
/// on some corrupt pages instead of returning an error, and a corrupt file must cost its
/// own rows, not the whole reading.
fn guarded<R>(what: &str, call: impl FnOnce() -> R) -> Result<R, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).map_err(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        format!("corrupt Parquet data in {what} ({message}); its remaining rows are skipped")
    })
}

/// A batch of rows, with the row group it came from and the file row of its first row.
pub(crate) struct RowBatch {
    pub group: u64,
    pub first_row: u64,
    pub batch: RecordBatch,
    /// Which column holds which field.
    pub columns: Arc<ColumnMap>,
}

impl<T: Reopen> ParquetBatches<T> {
    /// Opens `file`, whose fields are in the `columns` the map names; fails if it is not a
    /// readable Parquet file, or holds a field in a column of a type the field does not
    /// take.
    pub fn open(file: T, columns: Arc<ColumnMap>) -> Result<Self, String> {
        let metadata = guarded("the footer", || {
            ArrowReaderMetadata::load(&file, Default::default())
        })?
        .map_err(|e| format!("not a readable Parquet file: {e}"))?;
        check_types(metadata.schema(), &columns)?;
        let schema = metadata.parquet_schema();
        let roots: Vec<usize> = (0..schema.root_schema().get_fields().len())
            .filter(|&i| is_field_column(schema.root_schema().get_fields()[i].name(), &columns))
            .collect();
        let mask = ProjectionMask::roots(schema, roots);
        Ok(Self {
            file,
            columns,
            metadata,
            mask,
            next_group: 0,
            next_row: 0,
            current: None,
        })
    }

    /// The next batch, or `None` after the last row group.
    pub fn next_batch(&mut self) -> Result<Option<RowBatch>, String> {
        loop {
            if let Some((group, reader)) = &mut self.current {
                let group_name = format!("row group {group}");
                let next = match guarded(&group_name, || reader.next()) {
                    Ok(next) => next,
                    Err(reason) => {
                        self.current = None;
                        return Err(reason);
                    }
                };
                match next {
                    Some(Ok(batch)) => {
                        let first_row = self.next_row;
                        self.next_row += batch.num_rows() as u64;
                        return Ok(Some(RowBatch {
                            group: *group,
                            first_row,
                            batch,
                            columns: self.columns.clone(),
                        }));
                    }
                    Some(Err(e)) => {
                        let group = *group;
                        self.current = None;
                        return Err(format!("row group {group}: {e}"));
                    }
                    None => self.current = None,
                }
            }
            let groups = self.metadata.metadata().num_row_groups();
            if self.next_group >= groups {
                return Ok(None);
            }
            let group = self.next_group;
            self.next_group += 1;
            let file = self.file.reopen().map_err(|e| e.to_string())?;
            let (metadata, mask) = (self.metadata.clone(), self.mask.clone());
            let reader = guarded(&format!("row group {group}"), || {
                ParquetRecordBatchReaderBuilder::new_with_metadata(file, metadata)
                    .with_row_groups(vec![group])
                    .with_projection(mask)
                    .with_batch_size(BATCH_ROWS)
                    .build()
            })?
            .map_err(|e| format!("row group {group}: {e}"))?;
            self.current = Some((group as u64, reader));
            if group > 0 {
                self.next_row = (0..group)
                    .map(|g| self.metadata.metadata().row_group(g).num_rows() as u64)
                    .sum();
            }
        }
    }
}

/// A field's column in a batch, with the struct columns above it (a null parent means null).
struct Column<'a> {
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
struct Columns<'a> {
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
fn epoch_micros(value: i128) -> i128 {
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
