//! `moat send`: logs of any accepted format, streamed to a running `moat serve` in
//! batches, each named by its content so that a retried or re-run batch is never taken in
//! twice.

use std::collections::VecDeque;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use moat_core::Record;
use reqwest::StatusCode;
use xxhash_rust::xxh3::xxh3_128;

use crate::config::Config;
use crate::input::{InputArgs, Output, finish};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: InputArgs,

    /// The running server's address.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:7878")]
    to: String,

    /// The server's ingest token.
    #[arg(
        long,
        env = "MOAT_INGEST_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: String,

    /// Records per batch. A batch the server finds too large is split in two and sent
    /// again.
    #[arg(long, value_name = "N", default_value_t = 5000)]
    batch_records: usize,

    /// Tries per batch while the server cannot take it yet (no answer, 408, 429, 5xx),
    /// waiting twice as long each time (or as long as it asks).
    #[arg(long, value_name = "N", default_value_t = 8)]
    tries: u32,
}

/// Records on their way, as exchange v1 JSON Lines.
struct Batch {
    lines: Vec<u8>,
    records: usize,
    /// The number of the batch's first record among all sent.
    first: u64,
}

/// What the server said of the batches sent.
#[derive(Debug, Default)]
struct Sent {
    batches: u64,
    records: u64,
    /// Batches the server had taken in already (by their key): a re-run, or a retry whose
    /// first answer was lost.
    duplicates: u64,
}

/// The longest wait between two tries.
const MOST_WAIT: Duration = Duration::from_secs(30);
/// How long one try may take.
const TRY_TIMEOUT: Duration = Duration::from_secs(120);

pub fn run(args: Args, config: &Config, out: Output) -> anyhow::Result<ExitCode> {
    if args.batch_records == 0 {
        bail!("--batch-records must be at least 1");
    }
    let url = format!("{}/v1/exchanges", args.to.trim_end_matches('/'));
    let started = Instant::now();
    let (batches, arriving) = crossbeam_channel::bounded::<Batch>(2);
    let sender = {
        let (url, token, tries) = (url.clone(), args.token.clone(), args.tries.max(1));
        std::thread::Builder::new()
            .name("moat-send".into())
            .spawn(move || send_all(&url, &token, tries, &arriving))
            .context("cannot start the sending thread")?
    };
    let mut batch = Batch::starting_at(0);
    let read = args.input.read(config, out, |record| {
        batch.push(&record);
        if batch.records >= args.batch_records {
            let next = Batch::starting_at(batch.first + batch.records as u64);
            if batches.send(std::mem::replace(&mut batch, next)).is_err() {
                bail!("sending stopped");
            }
        }
        Ok(())
    });
    if batch.records > 0 {
        let _ = batches.send(batch);
    }
    drop(batches);
    let sent = sender
        .join()
        .map_err(|_| anyhow::anyhow!("the sending thread panicked"))?;
    let (stats, stopped) = match (read, sent) {
        (_, Err(e)) => return Err(e),
        (Err(e), _) => return Err(e),
        (Ok(read), Ok(sent)) => {
            println!(
                "sent {} records in {} batches to {url} in {:.1} s; {} batch(es) the server \
                 had taken in already, recognised by their key",
                sent.records,
                sent.batches,
                started.elapsed().as_secs_f64(),
                sent.duplicates,
            );
            read
        }
    };
    Ok(finish(&stats, stopped))
}

impl Batch {
    fn starting_at(first: u64) -> Self {
        Self {
            lines: Vec::new(),
            records: 0,
            first,
        }
    }

    fn push(&mut self, record: &Record) {
        match record {
            Record::Exchange(e) => serde_json::to_writer(&mut self.lines, e),
            Record::Account(a) => serde_json::to_writer(&mut self.lines, a),
        }
        .expect("records serialise");
        self.lines.push(b'\n');
        self.records += 1;
    }

    /// The batch cut in two halves of records, in order.
    fn halves(self) -> [Batch; 2] {
        let keep = self.records / 2;
        let cut = self
            .lines
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(keep - 1)
            .map_or(self.lines.len(), |(at, _)| at + 1);
        let (head, tail) = self.lines.split_at(cut);
        [
            Batch {
                lines: head.to_vec(),
                records: keep,
                first: self.first,
            },
            Batch {
                lines: tail.to_vec(),
                records: self.records - keep,
                first: self.first + keep as u64,
            },
        ]
    }

    /// The key the server knows this batch by: its content's hash, so the same records
    /// sent again (a retry, or the command run again) are recognised.
    fn key(&self) -> String {
        format!("moat-send-{:032x}", xxh3_128(&self.lines))
    }

    /// Which records these are, for a message.
    fn span(&self) -> String {
        format!(
            "records {} to {}",
            self.first + 1,
            self.first + self.records as u64
        )
    }
}

/// Sends every batch arriving, in order, one at a time.
fn send_all(
    url: &str,
    token: &str,
    tries: u32,
    arriving: &crossbeam_channel::Receiver<Batch>,
) -> anyhow::Result<Sent> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the HTTP client")?;
    let client = reqwest::Client::builder()
        .timeout(TRY_TIMEOUT)
        .build()
        .context("cannot start the HTTP client")?;
    let mut sent = Sent::default();
    for batch in arriving {
        let mut pending = VecDeque::from([batch]);
        while let Some(batch) = pending.pop_front() {
            let taken = runtime
                .block_on(send_one(&client, url, token, tries, &batch))
                .with_context(|| {
                    format!(
                        "{} were not taken in; {} records in {} batches were before them: run \
                         the same command again to go on (batches taken in already are \
                         recognised by their key and not counted twice)",
                        batch.span(),
                        sent.records,
                        sent.batches
                    )
                })?;
            match taken {
                Taken::Whole { duplicate } => {
                    sent.batches += 1;
                    sent.records += batch.records as u64;
                    sent.duplicates += u64::from(duplicate);
                }
                Taken::TooLarge if batch.records > 1 => {
                    let [head, tail] = batch.halves();
                    pending.push_front(tail);
                    pending.push_front(head);
                }
                Taken::TooLarge => {
                    bail!(
                        "{} alone is larger than the server takes in one body (its \
                         max_body_bytes, max_decoded_bytes)",
                        batch.span()
                    );
                }
            }
        }
    }
    Ok(sent)
}

/// What became of one batch.
enum Taken {
    Whole { duplicate: bool },
    TooLarge,
}

/// Posts `batch`, trying again while the server cannot take it yet.
async fn send_one(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    tries: u32,
    batch: &Batch,
) -> anyhow::Result<Taken> {
    let body = zstd::bulk::compress(&batch.lines, 3).context("cannot compress a batch")?;
    let key = batch.key();
    let mut wait = Duration::from_millis(500);
    for attempt in 1..=tries {
        let answer = client
            .post(url)
            .bearer_auth(token)
            .header("content-type", "application/x-ndjson")
            .header("idempotency-key", &key)
            .body(body.clone())
            .send()
            .await;
        let why = match answer {
            Ok(answer) => {
                let status = answer.status();
                let asked = retry_after(&answer);
                let text = answer.text().await.unwrap_or_default();
                match status {
                    StatusCode::OK => {
                        let duplicate = serde_json::from_str::<serde_json::Value>(&text)
                            .is_ok_and(|v| v["duplicate"] == true);
                        return Ok(Taken::Whole { duplicate });
                    }
                    StatusCode::PAYLOAD_TOO_LARGE => return Ok(Taken::TooLarge),
                    StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => {}
                    s if s.is_server_error() => {}
                    s => bail!("the server answered {s}: {}", error_of(&text)),
                }
                if let Some(asked) = asked {
                    wait = asked.min(MOST_WAIT);
                }
                format!("{status}: {}", error_of(&text))
            }
            Err(e) => format!("no answer ({e})"),
        };
        if attempt == tries {
            bail!("the server could not take them after {tries} tries; last: {why}");
        }
        tracing::warn!(
            "{} not taken in yet ({why}); trying again in {:.1} s",
            batch.span(),
            wait.as_secs_f64()
        );
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MOST_WAIT);
    }
    unreachable!("the last try returns")
}

/// The wait a `Retry-After` header asks for, in seconds.
fn retry_after(answer: &reqwest::Response) -> Option<Duration> {
    let seconds = answer
        .headers()
        .get("retry-after")?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

/// The message of a JSON error answer (its `error` field), or the answer itself, cut short.
fn error_of(text: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) if v["error"].is_string() => {
            let mut message = v["error"].as_str().unwrap_or_default().to_owned();
            if let Some(first) = v["rejects"].get(0) {
                message.push_str(&format!(
                    "; first reject: {} {}",
                    first["location"].as_str().unwrap_or_default(),
                    first["reason"].as_str().unwrap_or_default()
                ));
            }
            message
        }
        _ => text.chars().take(200).collect(),
    }
}
