//! `moat intel export`: the campaigns of a scan as a STIX 2.1 bundle to share with other
//! providers: network indicators as they are, everything else as keyed hashes, never a
//! prompt, an e-mail address or a payment value.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use moat_core::keys::{self, EmailKind};
use moat_core::{CampaignReport, ContentSignals, EventTime, Exchange, Record, Report};
use moat_io::stix::{self, BundleInput, CampaignIntel, Indicator, IndicatorKind};

use crate::config::Config;
use crate::input::{InputArgs, Output};

/// Most indicators of one kind per campaign.
const MAX_PER_KIND: usize = 500;

/// `moat intel` commands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write the campaigns of a scan as a STIX 2.1 bundle: campaigns, indicators of their
    /// infrastructure and keyed fingerprints of what their accounts shared, sightings,
    /// relationships, the ATLAS technique, TLP markings. Reads the scan's folder and the
    /// logs it scanned (for the values behind the indicators).
    Export(ExportArgs),
}

/// Arguments of `moat intel export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The folder `moat scan --out` wrote (accounts.csv, report.json).
    #[arg(long, value_name = "DIR")]
    scan: PathBuf,

    /// The logs that were scanned.
    #[command(flatten)]
    input: InputArgs,

    /// A file holding the key the sharing partners agreed on (its bytes, at least 32).
    #[arg(long, value_name = "FILE")]
    key_file: PathBuf,

    /// A name for the key (never the key itself), so partners know which one to use.
    #[arg(long, default_value = "shared-key-1")]
    key_id: String,

    /// Who produces the bundle.
    #[arg(long, default_value = "moat")]
    producer: String,

    /// Traffic Light Protocol level: clear, green, amber or red.
    #[arg(long, default_value = "amber")]
    tlp: String,

    /// Where to write the bundle.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Runs an intel command.
pub fn run(command: Command, config: &Config, out: Output) -> anyhow::Result<ExitCode> {
    match command {
        Command::Export(args) => export(args, config, out),
    }
}

/// What is known of one value: who used it, how often, when.
#[derive(Default)]
struct Seen {
    /// Accounts of each campaign that used it (by campaign number).
    members: HashMap<u32, HashSet<u32>>,
    /// Some account outside every campaign used it.
    outsider: bool,
    exchanges: u64,
    first: i64,
    last: i64,
}

fn export(args: ExportArgs, config: &Config, out: Output) -> anyhow::Result<ExitCode> {
    let key = std::fs::read(&args.key_file)
        .with_context(|| format!("cannot read {}", args.key_file.display()))?;
    anyhow::ensure!(
        key.len() >= 32,
        "{}: the key must be at least 32 bytes",
        args.key_file.display()
    );
    let report_path = args.scan.join("report.json");
    let report: Report = serde_json::from_slice(
        &std::fs::read(&report_path)
            .with_context(|| format!("cannot read {}", report_path.display()))?,
    )
    .with_context(|| format!("{} is not a moat report", report_path.display()))?;
    let verdicts =
        moat_io::read_accounts_csv(&args.scan.join("accounts.csv")).map_err(anyhow::Error::msg)?;
    let campaign_number: HashMap<&str, u32> = report
        .campaigns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i as u32))
        .collect();
    let mut account_numbers: HashMap<String, u32> = HashMap::new();
    let mut campaign_of: Vec<Option<u32>> = Vec::new();
    for v in &verdicts {
        let n = account_numbers.len() as u32;
        account_numbers.insert(v.account_id.clone(), n);
        campaign_of.push(
            v.campaign_id
                .as_deref()
                .and_then(|c| campaign_number.get(c).copied()),
        );
    }

    let mut seen: HashMap<(IndicatorKind, String), Seen> = HashMap::new();
    let (_, stopped) = args.input.read(config, out, |record| {
        let Record::Exchange(e) = record else {
            return Ok(());
        };
        let account = account_numbers.get(e.account_id.as_str()).copied();
        let campaign = account.and_then(|a| campaign_of[a as usize]);
        let content = moat_core::analyse(&e.request);
        for (kind, value) in values(&e, &content, &key) {
            let s = seen.entry((kind, value)).or_insert_with(|| Seen {
                first: i64::MAX,
                last: i64::MIN,
                ..Seen::default()
            });
            match (campaign, account) {
                (Some(c), Some(a)) => {
                    s.members.entry(c).or_default().insert(a);
                }
                _ => s.outsider = true,
            }
            s.exchanges += 1;
            let ts = e.ts.as_unix_micros();
            s.first = s.first.min(ts);
            s.last = s.last.max(ts);
        }
        Ok(())
    })?;
    if let Some(e) = stopped {
        eprintln!("moat: {e}");
        eprintln!("moat: nothing written: the logs could not be read to the end");
        return Ok(ExitCode::from(1));
    }

    let mut campaigns: Vec<CampaignIntel> = report
        .campaigns
        .iter()
        .map(|c: &CampaignReport| CampaignIntel {
            report: c.clone(),
            indicators: Vec::new(),
        })
        .collect();
    for ((kind, value), s) in seen {
        // An indicator is a value one campaign's accounts shared and nobody else used.
        if s.outsider || s.members.len() != 1 {
            continue;
        }
        let (&campaign, accounts) = s.members.iter().next().expect("one campaign");
        // A template band is shared by chance by a few accounts of a large campaign; keep
        // the ones a real share of it used.
        let members = report.campaigns[campaign as usize].accounts;
        let least = match kind {
            IndicatorKind::Template => (members / 20).max(3),
            _ => 2,
        };
        if (accounts.len() as u64) < least {
            continue;
        }
        let at = |t| EventTime::from_unix_micros(t).unwrap_or_default();
        campaigns[campaign as usize].indicators.push(Indicator {
            kind,
            value,
            accounts: accounts.len() as u64,
            exchanges: s.exchanges,
            first_seen: at(s.first),
            last_seen: at(s.last),
        });
    }
    for c in &mut campaigns {
        c.indicators.sort_by(|a, b| {
            (a.kind, std::cmp::Reverse(a.accounts), &a.value).cmp(&(
                b.kind,
                std::cmp::Reverse(b.accounts),
                &b.value,
            ))
        });
        // At most MAX_PER_KIND indicators of each kind, the most used first.
        let mut kept: HashMap<IndicatorKind, usize> = HashMap::new();
        c.indicators.retain(|i| {
            let n = kept.entry(i.kind).or_default();
            *n += 1;
            *n <= MAX_PER_KIND
        });
    }
    let indicators: usize = campaigns.iter().map(|c| c.indicators.len()).sum();
    let bundle = stix::bundle(&BundleInput {
        producer: args.producer,
        tlp: args.tlp,
        key_id: args.key_id,
        created: moat_server::wall_clock(),
        campaigns,
    })
    .map_err(anyhow::Error::msg)?;
    std::fs::write(&args.out, serde_json::to_vec_pretty(&bundle)?)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    if !out.quiet {
        eprintln!(
            "wrote {} campaigns and {indicators} indicators to {}",
            report.campaigns.len(),
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The values an exchange carries that can become indicators: network values as text,
/// the others as keyed hashes (personal e-mail domains are never values: strangers share
/// them).
fn values(e: &Exchange, content: &ContentSignals, key: &[u8]) -> Vec<(IndicatorKind, String)> {
    let mut out = Vec::new();
    if let Some(ip) = e.client.ip {
        out.push((IndicatorKind::Ip, ip.to_string()));
        let network = match ip {
            std::net::IpAddr::V4(v4) => {
                let o = v4.octets();
                format!("{}.{}.{}.0/24", o[0], o[1], o[2])
            }
            std::net::IpAddr::V6(v6) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
            }
        };
        out.push((IndicatorKind::Network, network));
    }
    if let Some(asn) = e.client.asn {
        out.push((IndicatorKind::Asn, asn.to_string()));
    }
    let info = &e.account;
    if let Some(p) = info
        .payment_fingerprint
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        let h = stix::fingerprint(key, IndicatorKind::Payment, p.as_bytes());
        out.push((IndicatorKind::Payment, h));
    }
    if let Some(d) = info.email_domain.as_deref() {
        let domain = d.trim().to_ascii_lowercase();
        if matches!(
            keys::email_kind(&domain),
            EmailKind::Organisation | EmailKind::Education
        ) {
            let h = stix::fingerprint(key, IndicatorKind::EmailDomain, domain.as_bytes());
            out.push((IndicatorKind::EmailDomain, h));
        }
    }
    if let Some(h) = content.system_hash {
        let h = stix::fingerprint(key, IndicatorKind::SystemPrompt, &h.to_le_bytes());
        out.push((IndicatorKind::SystemPrompt, h));
    }
    if let Some(signature) = &content.signature {
        for band in keys::template_bands(signature).into_iter().flatten() {
            let h = stix::fingerprint(key, IndicatorKind::Template, &band.raw().to_le_bytes());
            out.push((IndicatorKind::Template, h));
        }
    }
    out
}
