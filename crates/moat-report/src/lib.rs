//! moat's reports: a scan as one self-contained HTML page (styles, scripts and charts
//! inline; nothing fetched when it is opened), and the same views for `moat serve`'s live
//! dashboard.
//!
//! The page is built from what a scan writes ([`Report`], the accounts' verdicts and the
//! [`Story`]): an overview, the traffic over time, the campaigns, the score distribution,
//! then per campaign its timeline, sign-ups, network of linked accounts, evidence,
//! capability mix and member accounts.

mod chart;
mod format;
mod network;
mod sections;

use std::collections::HashMap;

use maud::{DOCTYPE, Markup, PreEscaped, html};
use moat_core::{AccountVerdict, Report, Story};

/// What a page shows.
pub struct ReportData<'a> {
    /// What the page is about (a folder, a server).
    pub source: String,
    /// The campaigns and totals.
    pub report: &'a Report,
    /// Every account's verdict.
    pub accounts: &'a [AccountVerdict],
    /// The traffic over time and the campaigns' stories.
    pub story: &'a Story,
    /// The score from which an account is watched.
    pub watch: f64,
    /// The score from which an account is blocked.
    pub block: f64,
    /// The ground truth, when known (a simulation): per account, whether it belongs to a
    /// campaign.
    pub truth: Option<&'a HashMap<String, bool>>,
    /// The manual decisions standing (the live dashboard; none in a report of a scan).
    pub manual: &'a [ManualDecision],
}

/// What tells one set of manual decisions from another, for the live dashboard's
/// refreshes: how many there are and when the latest was taken.
pub fn manual_version(manual: &[ManualDecision]) -> String {
    let latest = manual.iter().map(|m| m.at.as_str()).max().unwrap_or("");
    format!("{}@{latest}", manual.len())
}

/// A decision an operator took by hand, which wins over the engine's verdict.
#[derive(Debug, Clone)]
pub struct ManualDecision {
    /// `account` or `campaign`.
    pub kind: String,
    /// The account's or campaign's id.
    pub id: String,
    /// `block` or `allow`.
    pub action: String,
    /// Why, in the operator's words.
    pub reason: String,
    /// Who took it.
    pub actor: String,
    /// When (RFC 3339, wall clock).
    pub at: String,
}

/// Where a page is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A file, read offline.
    Static,
    /// `moat serve`'s dashboard: refreshed as traffic flows, with admin actions.
    Live,
}

/// At most this many campaigns are shown in detail; the others are listed.
pub const DETAILED_CAMPAIGNS: usize = 25;

const STYLE: &str = include_str!("assets/report.css");
const SCRIPT: &str = include_str!("assets/report.js");

/// The whole report as one HTML document.
pub fn report_page(data: &ReportData) -> String {
    page(
        "moat report",
        Mode::Static,
        sections::body(data, Mode::Static),
    )
    .into_string()
}

/// The live dashboard as one HTML document; it refreshes its content from the same URL.
pub fn dashboard_page(data: &ReportData) -> String {
    page("moat live", Mode::Live, sections::body(data, Mode::Live)).into_string()
}

/// The live dashboard's content alone, for its refreshes.
pub fn dashboard_content(data: &ReportData) -> String {
    sections::body(data, Mode::Live).into_string()
}

/// The dashboard's sign-in page.
pub fn sign_in_page(failed: bool) -> String {
    page(
        "moat live: sign in",
        Mode::Static,
        html! {
            main.sign-in {
                h1 { "moat live" }
                form method="post" action="/dashboard/sign-in" {
                    label for="token" { "Admin token" }
                    input #token type="password" name="token" autocomplete="current-password" required;
                    button type="submit" { "Sign in" }
                    @if failed { p.error role="alert" { "That token is not the admin token." } }
                }
            }
        },
    )
    .into_string()
}

fn page(title: &str, mode: Mode, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                // First, so that errors anywhere later on the page are caught.
                script { (PreEscaped("window.moatErrors=[];window.addEventListener('error',function(e){window.moatErrors.push(String(e.message))});")) }
                style { (PreEscaped(STYLE)) }
            }
            body data-mode=(if mode == Mode::Live { "live" } else { "static" }) {
                div #content { (body) }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    }
}

/// JSON for a `<script type="application/json">` block: `<` escaped so no text closes it.
fn script_json(value: &impl serde::Serialize) -> PreEscaped<String> {
    let json = serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned());
    PreEscaped(json.replace('<', "\\u003c"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_core::story::{CampaignStory, Timeline};
    use moat_core::{CampaignReport, EventTime, Verdict};

    fn data<'a>(
        report: &'a Report,
        accounts: &'a [AccountVerdict],
        story: &'a Story,
    ) -> ReportData<'a> {
        ReportData {
            source: "test <scan>".into(),
            report,
            accounts,
            story,
            watch: 0.5,
            block: 0.8,
            truth: None,
            manual: &[],
        }
    }

    #[test]
    fn empty_and_partial_inputs_render() {
        let empty = Report::default();
        let story = Story::default();
        let page = report_page(&data(&empty, &[], &story));
        assert!(page.contains("No campaign found."));
        assert!(page.contains("test &lt;scan&gt;"), "text is escaped");

        // A campaign the story knows nothing of, and a story with empty timelines.
        let mut report = Report::default();
        report.campaigns.push(CampaignReport {
            id: "campaign-1</script>".into(),
            accounts: 1,
            exchanges: 3,
            first_seen: EventTime::default(),
            last_seen: EventTime::default(),
            score: 0.9,
            evidence: Vec::new(),
            carriers: vec![moat_core::Carrier {
                account_id: "a</script><script>alert(1)</script>".into(),
                exchanges: 3,
                campaign_share: moat_core::share::CampaignShare {
                    estimate: 0.4,
                    low: 0.3,
                    high: 0.5,
                },
            }],
        });
        let accounts = [AccountVerdict {
            account_id: "a</script><script>alert(1)</script>".into(),
            verdict: Verdict::Block,
            campaign_id: Some("campaign-1</script>".into()),
            ..AccountVerdict::default()
        }];
        let story = Story {
            all: Timeline::default(),
            campaigns: vec![CampaignStory {
                id: "campaign-1</script>".into(),
                ..CampaignStory::default()
            }],
        };
        for page in [
            report_page(&data(&report, &accounts, &story)),
            dashboard_page(&data(&report, &accounts, &story)),
        ] {
            assert!(!page.contains("<script>alert(1)"), "no markup injected");
            assert_eq!(
                page.matches("</script>").count(),
                page.matches("<script").count()
            );
        }
    }
}
