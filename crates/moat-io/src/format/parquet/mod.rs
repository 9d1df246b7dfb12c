//! Apache Parquet input: the exchange v1 fields as columns, either flat with dotted names
//! (`client.ip`) or nested in struct columns (`client` with a child `ip`), or under other
//! names a [`ColumnMap`] gives. Each column's type is checked once, when the file is
//! opened: a column of the wrong type refuses the file with one reason, not every row.

use std::collections::BTreeMap;
use std::fs::File;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::DataType;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use parquet::file::reader::ChunkReader;

mod columns;

pub(crate) use columns::decode_batch;

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

/// Why a map of fields to Parquet columns was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ColumnMapError {
    /// A field exchange v1 does not have.
    #[error("{0:?} is not an exchange v1 field (one of: {fields})", fields = FIELD_PATHS.join(", "))]
    NotAField(String),
    /// A field mapped to an empty column name.
    #[error("the column for {0} is empty")]
    EmptyColumn(String),
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
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Self, ColumnMapError> {
        let mut columns = BTreeMap::new();
        for (field, column) in pairs {
            if !FIELD_PATHS.contains(&field.as_str()) {
                return Err(ColumnMapError::NotAField(field));
            }
            if column.trim().is_empty() {
                return Err(ColumnMapError::EmptyColumn(field));
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
