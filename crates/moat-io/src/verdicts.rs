//! The scan's verdicts on disk: `accounts.csv` and `report.json` (verdicts v1).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use moat_core::share::CampaignShare;
use moat_core::{AccountVerdict, EventTime, Report, Story, Verdict};

use crate::FileError;

/// The columns of `accounts.csv`, in order.
pub const ACCOUNTS_HEADER: [&str; 8] = [
    "account_id",
    "verdict",
    "score",
    "campaign_id",
    "flagged_at",
    "exchanges",
    "signals",
    "campaign_share",
];

/// The columns a reader needs: those of the first version of the file.
const REQUIRED_COLUMNS: usize = 7;

/// Writes `path` through a temporary file beside it, renamed into place once complete, so
/// that a crash never leaves a half-written file under the real name.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = path.with_extension("partial");
    let mut out = BufWriter::new(File::create(&tmp)?);
    write(&mut out)?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn csv_error(e: csv::Error) -> io::Error {
    io::Error::other(e)
}

/// Writes `accounts.csv` and `report.json` into `dir` (created if missing).
pub fn write_verdicts<'a>(
    dir: &Path,
    accounts: impl IntoIterator<Item = &'a AccountVerdict>,
    report: &Report,
) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    write_atomically(&dir.join("accounts.csv"), |out| {
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record(ACCOUNTS_HEADER).map_err(csv_error)?;
        for a in accounts {
            let score = format!("{:.4}", a.score.clamp(0.0, 1.0));
            let flagged_at = a.flagged_at.map(|t| t.to_string()).unwrap_or_default();
            let exchanges = a.exchanges.to_string();
            let signals = a.signals.join(";");
            let share = a
                .campaign_share
                .filter(|_| a.campaign_id.is_some())
                .map(|s| format!("{:.3}", s.estimate))
                .unwrap_or_default();
            csv.write_record([
                a.account_id.as_str(),
                a.verdict.as_str(),
                &score,
                a.campaign_id.as_deref().unwrap_or(""),
                &flagged_at,
                &exchanges,
                &signals,
                &share,
            ])
            .map_err(csv_error)?;
        }
        csv.flush()
    })?;
    write_atomically(&dir.join("report.json"), |out| {
        serde_json::to_writer_pretty(&mut *out, report).map_err(io::Error::other)?;
        out.write_all(b"\n")
    })
}

/// Writes `story.json` (what a report draws: traffic over time, the campaigns' timelines,
/// sign-ups, capability mix and networks of linked accounts) into `dir`.
pub fn write_story(dir: &Path, story: &Story) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    write_atomically(&dir.join("story.json"), |out| {
        serde_json::to_writer(&mut *out, story).map_err(io::Error::other)?;
        out.write_all(b"\n")
    })
}

/// Reads a JSON file `moat scan` wrote (`report.json`, `story.json`).
pub fn read_scan_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, FileError> {
    let bytes = std::fs::read(path).map_err(|e| FileError::new(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| FileError::new(path, e))
}

/// Reads an `accounts.csv` back; errors name the line and the column.
pub fn read_accounts_csv(path: &Path) -> Result<Vec<AccountVerdict>, FileError> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| FileError::new(path, e))?;
    let headers = reader
        .headers()
        .map_err(|e| FileError::new(path, e))?
        .clone();
    let column = |wanted: &str| {
        headers
            .iter()
            .position(|h| h == wanted)
            .ok_or_else(|| FileError::new(path, format!("no column {wanted:?}")))
    };
    let idx: Vec<usize> = ACCOUNTS_HEADER[..REQUIRED_COLUMNS]
        .iter()
        .map(|c| column(c))
        .collect::<Result<_, _>>()?;
    let share_column = column("campaign_share").ok();
    let mut out = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let line = i as u64 + 2;
        let row = row.map_err(|e| FileError::at_line(path, line, e))?;
        let field = |k: usize| row.get(idx[k]).unwrap_or_default();
        let bad = |what: &str| FileError::at_line(path, line, format!("bad {what}"));
        out.push(AccountVerdict {
            account_id: field(0).to_owned(),
            verdict: match field(1) {
                "allow" => Verdict::Allow,
                "watch" => Verdict::Watch,
                "block" => Verdict::Block,
                _ => return Err(bad("verdict")),
            },
            score: field(2).parse().map_err(|_| bad("score"))?,
            campaign_id: Some(field(3)).filter(|c| !c.is_empty()).map(str::to_owned),
            flagged_at: match field(4) {
                "" => None,
                t => Some(EventTime::parse_rfc3339(t).map_err(|_| bad("flagged_at"))?),
            },
            exchanges: field(5).parse().map_err(|_| bad("exchanges"))?,
            signals: field(6)
                .split(';')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            partners: Vec::new(),
            campaign_share: match share_column.and_then(|k| row.get(k)).unwrap_or_default() {
                "" => None,
                s => {
                    let estimate: f64 = s.parse().map_err(|_| bad("campaign_share"))?;
                    if !(0.0..=1.0).contains(&estimate) {
                        return Err(bad("campaign_share"));
                    }
                    Some(CampaignShare {
                        estimate,
                        low: estimate,
                        high: estimate,
                    })
                }
            },
            carried: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_core::{CampaignReport, Evidence, ScanSummary};

    #[test]
    fn writes_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let t = EventTime::parse_rfc3339("2026-04-22T03:14:07Z").unwrap();
        let accounts = vec![
            AccountVerdict {
                account_id: "acct,\"odd\"".into(),
                verdict: Verdict::Block,
                score: 0.97,
                campaign_id: Some("c1".into()),
                flagged_at: Some(t),
                exchanges: 40,
                signals: vec!["shared_payment".into(), "reasoning_asks".into()],
                partners: Vec::new(),
                // The file carries the estimate only, not its interval.
                campaign_share: Some(CampaignShare {
                    estimate: 0.25,
                    low: 0.25,
                    high: 0.25,
                }),
                carried: None,
            },
            AccountVerdict {
                account_id: "b".into(),
                exchanges: 3,
                ..Default::default()
            },
        ];
        let report = Report {
            summary: ScanSummary {
                exchanges: 43,
                accounts: 2,
                campaigns: 1,
                ..Default::default()
            },
            campaigns: vec![CampaignReport {
                id: "c1".into(),
                accounts: 1,
                exchanges: 40,
                first_seen: t,
                last_seen: t,
                score: 0.97,
                evidence: vec![Evidence {
                    signal: "shared_payment".into(),
                    weight: 0.4,
                    detail: "1 card".into(),
                    population_share: None,
                }],
                carriers: Vec::new(),
            }],
        };
        write_verdicts(dir.path(), &accounts, &report).unwrap();
        let csv = std::fs::read_to_string(dir.path().join("accounts.csv")).unwrap();
        assert!(csv.starts_with(
            "account_id,verdict,score,campaign_id,flagged_at,exchanges,signals,campaign_share\n"
        ));
        assert!(csv.contains("\"acct,\"\"odd\"\"\",block,0.9700,c1,2026-04-22T03:14:07Z,40,shared_payment;reasoning_asks,0.250\n"));
        assert!(csv.contains("\nb,allow,0.0000,,,3,,\n"));
        let back = read_accounts_csv(&dir.path().join("accounts.csv")).unwrap();
        assert_eq!(back, accounts);
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap())
                .unwrap();
        assert_eq!(json["campaigns"][0]["id"], "c1");
        assert_eq!(json["campaigns"][0]["first_seen"], "2026-04-22T03:14:07Z");
        assert_eq!(
            json["campaigns"][0]["evidence"][0]["signal"],
            "shared_payment"
        );
        assert_eq!(json["summary"]["exchanges"], 43);
        assert!(!dir.path().join("accounts.partial").exists());
    }
}
