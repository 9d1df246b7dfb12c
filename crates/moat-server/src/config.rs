//! The `[serve]` section of moat.toml: where the service listens, who may call it, where
//! it keeps its state, and how decisions are taken.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::Deserialize;
use subtle::ConstantTimeEq;

/// The whole `[serve]` section. Every key has a default except the tokens, which must be
/// set here or in the environment (`MOAT_INGEST_TOKEN`, `MOAT_ADMIN_TOKEN`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Address of the HTTP API.
    pub listen: SocketAddr,
    /// Address of the Envoy external authorization gRPC API; `"off"` turns it off.
    #[serde(deserialize_with = "address_or_off")]
    pub grpc_listen: Option<SocketAddr>,
    /// Folder of the embedded store (created if missing).
    pub data_dir: PathBuf,
    /// Bearer token for ingest (`/v1/exchanges`). The admin token is accepted too.
    pub ingest_token: Option<String>,
    /// Bearer token for queries and admin actions, and the dashboard's sign-in; actions
    /// taken with it are logged as operator `admin`.
    pub admin_token: Option<String>,
    /// Operators by name, each with a token of their own that has the admin token's
    /// rights: the audit log names who authenticated for each action.
    pub operators: BTreeMap<String, String>,
    /// Networks allowed to ask for decisions (`/v1/check`, the guardrail API, ext_authz);
    /// empty: any address.
    pub check_from: Vec<IpNet>,
    /// Token the LiteLLM guardrail must send in `x-api-key`; none: no token asked.
    pub guardrail_token: Option<String>,
    /// Networks allowed to read `/metrics`; empty: any address.
    pub metrics_from: Vec<IpNet>,
    /// Failed authentications (a wrong or missing token, a failed sign-in) one address
    /// may make within `auth_failure_window_seconds` before it is refused (429) without
    /// its token being looked at, until the window has passed; 0: no limit.
    pub max_auth_failures: u32,
    /// The window of `max_auth_failures`, in seconds.
    pub auth_failure_window_seconds: u64,
    /// Largest request body accepted, in bytes (as sent, compressed or not).
    pub max_body_bytes: usize,
    /// Largest `/v1/check` body accepted, in bytes: a decision reads a few fields, and a
    /// large body would hold up the decisions of everyone else.
    pub max_check_body_bytes: usize,
    /// Bytes an ingest body may expand to once decompressed.
    pub max_decoded_bytes: u64,
    /// Records an ingest body may hold.
    pub max_records_per_body: usize,
    /// Ingest bodies decoded at once; more wait their turn (default: the number of cores).
    pub max_concurrent_decodes: usize,
    /// HTTP connections open at once; past it, new ones wait for one to close.
    pub max_connections: usize,
    /// Connections one address may hold open on each port at once; past it, its new ones
    /// are closed at once.
    pub max_connections_per_address: usize,
    /// Bytes a request's target and headers may take together: a longer target is answered
    /// 414, longer headers 431, each with a JSON error.
    pub max_head_bytes: usize,
    /// Seconds a connection has to send a whole request head once it waits for one (a
    /// connection idle between requests is closed after as long).
    pub header_timeout_seconds: u64,
    /// Seconds a request's body has to arrive whole (408 past it).
    pub body_timeout_seconds: u64,
    /// Seconds between the HTTP/2 pings the gRPC port sends a connection, and that a
    /// connection has to answer one before it is closed (a connection that sends nothing
    /// at all is closed after `header_timeout_seconds`).
    pub grpc_keepalive_seconds: u64,
    /// Seconds an ingested exchange's timestamp may lie ahead of the server's clock; a body
    /// holding one further ahead is refused.
    pub max_clock_skew_seconds: u64,
    /// Keep prompt and answer text in the store (off: only what the signals read of it).
    pub store_prompts: bool,
    /// Exchanges taken in between two snapshots of the engine kept in the store (and one
    /// when the service stops), so that a restart replays only the records after the
    /// latest; 0: none (every start replays the whole store).
    pub snapshot_every_exchanges: u64,
    /// Delete the stored exchanges behind the older of the two snapshots kept, so that the
    /// store stops growing with history (off: every exchange is kept, and a start whose
    /// snapshots cannot be used replays them all).
    pub retire_behind_snapshots: bool,
    /// What to answer for an account whose verdict is `watch`.
    pub on_watch: Action,
    /// What to answer for a request that counts as a carried campaign's, on an account that
    /// carries the campaign's traffic among its customers' (a reseller or relay); its other
    /// requests are allowed, whatever `on_watch` says. To stop the whole account instead,
    /// block it by hand (the admin API).
    pub on_carried: Action,
    /// Answers to gateways (`/v1/check`, the guardrail API, ext_authz denials) name the
    /// campaign, the score and the signals behind a decision. Off (the default), they say
    /// only the action and an opaque reference: they reach the people being refused, and
    /// the evidence is for operators (the admin API).
    pub explain_decisions: bool,
    /// Rate budgets, per account and per campaign.
    pub budget: Budget,
    /// The Envoy external authorization API.
    pub authz: AuthzConfig,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7878)),
            grpc_listen: Some(SocketAddr::from(([127, 0, 0, 1], 7879))),
            data_dir: PathBuf::from("moat-data"),
            ingest_token: None,
            admin_token: None,
            operators: BTreeMap::new(),
            check_from: Vec::new(),
            guardrail_token: None,
            metrics_from: vec![
                IpNet {
                    addr: IpAddr::from([127, 0, 0, 0]),
                    prefix: 8,
                },
                IpNet {
                    addr: IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
                    prefix: 128,
                },
            ],
            max_auth_failures: 10,
            auth_failure_window_seconds: 60,
            max_body_bytes: 16 << 20,
            max_check_body_bytes: 64 << 10,
            max_decoded_bytes: 256 << 20,
            max_records_per_body: 100_000,
            max_concurrent_decodes: std::thread::available_parallelism().map_or(2, usize::from),
            max_connections: 1024,
            max_connections_per_address: 512,
            max_head_bytes: 32 << 10,
            header_timeout_seconds: 30,
            body_timeout_seconds: 60,
            grpc_keepalive_seconds: 60,
            max_clock_skew_seconds: 300,
            store_prompts: false,
            snapshot_every_exchanges: 1_000_000,
            retire_behind_snapshots: true,
            on_watch: Action::Challenge,
            on_carried: Action::Block,
            explain_decisions: false,
            budget: Budget::default(),
            authz: AuthzConfig::default(),
        }
    }
}

/// Why a `[serve]` section was refused: the setting and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ServeConfigError(pub String);

impl ServeConfig {
    /// Fills the tokens from the environment where the file left them out, and checks the
    /// whole: the service does not start without its tokens.
    pub fn resolve(self) -> Result<Self, ServeConfigError> {
        self.resolved().map_err(ServeConfigError)
    }

    fn resolved(mut self) -> Result<Self, String> {
        let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        self.ingest_token = self.ingest_token.or_else(|| from_env("MOAT_INGEST_TOKEN"));
        self.admin_token = self.admin_token.or_else(|| from_env("MOAT_ADMIN_TOKEN"));
        self.guardrail_token = self
            .guardrail_token
            .or_else(|| from_env("MOAT_GUARDRAIL_TOKEN"));
        for (name, token) in [
            ("ingest_token", &self.ingest_token),
            ("admin_token", &self.admin_token),
        ] {
            if token.is_none() {
                return Err(format!(
                    "serve.{name} is not set: set it in moat.toml or in MOAT_{}",
                    name.to_uppercase()
                ));
            }
        }
        for name in self.operators.keys() {
            check_operator_name(name)?;
        }
        let operators: Vec<(String, Option<String>)> = self
            .operators
            .iter()
            .map(|(name, token)| (format!("operators.{name}"), Some(token.clone())))
            .collect();
        let mut tokens = vec![
            ("ingest_token".to_owned(), self.ingest_token.clone()),
            ("admin_token".to_owned(), self.admin_token.clone()),
            ("guardrail_token".to_owned(), self.guardrail_token.clone()),
        ];
        tokens.extend(operators);
        for (i, (name, token)) in tokens.iter().enumerate() {
            let Some(token) = token else { continue };
            check_token(name, token)?;
            if let Some((other, _)) = tokens[..i]
                .iter()
                .find(|(_, t)| t.as_deref() == Some(token.as_str()))
            {
                return Err(format!(
                    "serve.{name} is the same as serve.{other}: each right and each operator needs its own token"
                ));
            }
        }
        if self.auth_failure_window_seconds == 0 {
            return Err("serve.auth_failure_window_seconds must be at least 1".into());
        }
        if self.max_body_bytes < 1024 || self.max_check_body_bytes < 1024 {
            return Err(
                "serve.max_body_bytes and serve.max_check_body_bytes must be at least 1024".into(),
            );
        }
        if self.max_decoded_bytes < self.max_body_bytes as u64 {
            return Err("serve.max_decoded_bytes is below serve.max_body_bytes".into());
        }
        if self.max_records_per_body == 0 || self.max_concurrent_decodes == 0 {
            return Err(
                "serve.max_records_per_body and serve.max_concurrent_decodes must be at least 1"
                    .into(),
            );
        }
        self.budget.validate()?;
        if !(100..=599).contains(&self.authz.block_status)
            || !(100..=599).contains(&self.authz.throttle_status)
        {
            return Err("serve.authz statuses must be HTTP statuses (100-599)".into());
        }
        Ok(self)
    }

    /// Whether `addr` may ask for decisions.
    pub fn may_check(&self, addr: IpAddr) -> bool {
        self.check_from.is_empty() || self.check_from.iter().any(|net| net.contains(addr))
    }

    /// Whether `addr` may read the metrics.
    pub fn may_read_metrics(&self, addr: IpAddr) -> bool {
        self.metrics_from.is_empty() || self.metrics_from.iter().any(|net| net.contains(addr))
    }
}

/// The fewest characters a token may have.
const MIN_TOKEN_CHARS: usize = 16;
/// The fewest different characters a token may be made of: sixteen `a`s are no secret.
const MIN_TOKEN_DISTINCT: usize = 8;

/// Refuses a token that is too short or too plain to be a secret.
impl ServeConfig {
    /// The operator whose token `given` is (the admin token is operator `admin`), compared
    /// in constant time with every token.
    pub fn operator_for(&self, given: &[u8]) -> Option<&str> {
        let mut found = None;
        let admin = self.admin_token.as_deref().map(|t| ("admin", t));
        let named = self.operators.iter().map(|(n, t)| (n.as_str(), t.as_str()));
        for (name, token) in admin.into_iter().chain(named) {
            if bool::from(given.ct_eq(token.as_bytes())) {
                found = Some(name);
            }
        }
        found
    }
}

/// An operator's name, as the audit log shows it: 1 to 64 letters, digits, `.`, `_`, `-`
/// or `@`, and not `admin` (the admin token's own name).
fn check_operator_name(name: &str) -> Result<(), String> {
    let fits = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
    if !fits || name == "admin" {
        return Err(format!(
            "serve.operators: {name:?} is not an operator's name (1 to 64 letters, digits,              '.', '_', '-' or '@'; `admin` is the admin token's)"
        ));
    }
    Ok(())
}

fn check_token(name: &str, token: &str) -> Result<(), String> {
    let mut distinct: Vec<char> = token.chars().collect();
    if distinct.len() < MIN_TOKEN_CHARS {
        return Err(format!(
            "serve.{name} is shorter than {MIN_TOKEN_CHARS} characters (make one with `openssl rand -hex 24`)"
        ));
    }
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < MIN_TOKEN_DISTINCT {
        return Err(format!(
            "serve.{name} is made of fewer than {MIN_TOKEN_DISTINCT} different characters (make one with `openssl rand -hex 24`)"
        ));
    }
    Ok(())
}

fn address_or_off<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let s = String::deserialize(d)?;
    if s == "off" {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| serde::de::Error::custom(format!("{s:?} is not an address or \"off\"")))
}

/// What the service tells a gateway to do with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Let it through.
    Allow,
    /// Slow it down: the account or its campaign spent its rate budget (HTTP 429).
    Throttle,
    /// Ask for proof of a person (a CAPTCHA, a re-verification) before letting it through.
    Challenge,
    /// Refuse it: the account is part of a campaign.
    Block,
}

impl Action {
    /// The name used in APIs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Throttle => "throttle",
            Action::Challenge => "challenge",
            Action::Block => "block",
        }
    }
}

/// GCRA rate budgets. An account in a campaign spends both its own budget and its
/// campaign's, so a hydra shares one budget once linked, however many heads it has.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Budget {
    /// Requests per minute one account may make; 0: no per-account budget.
    pub account_per_minute: u32,
    /// Requests one account may make at once above its rate.
    pub account_burst: u32,
    /// Requests per minute all accounts of one campaign may make together; 0: none.
    pub campaign_per_minute: u32,
    /// Requests a campaign may make at once above its rate.
    pub campaign_burst: u32,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            account_per_minute: 3000,
            account_burst: 600,
            campaign_per_minute: 60,
            campaign_burst: 30,
        }
    }
}

impl Budget {
    fn validate(&self) -> Result<(), String> {
        if (self.account_per_minute > 0 && self.account_burst == 0)
            || (self.campaign_per_minute > 0 && self.campaign_burst == 0)
        {
            return Err("serve.budget: a burst of 0 allows nothing; use at least 1".into());
        }
        Ok(())
    }
}

/// How the Envoy external authorization API reads requests and answers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthzConfig {
    /// The request header that names the account (lower case).
    pub account_header: String,
    /// HTTP status for blocked requests.
    pub block_status: u16,
    /// HTTP status for throttled requests.
    pub throttle_status: u16,
    /// Proxies of the operator's own in front of Envoy, each appending the address it saw
    /// to `x-forwarded-for`: with 0, the client is the address Envoy saw connect and
    /// `x-forwarded-for` (which the client writes as it likes) is never read; with N, the
    /// N-th entry from the right is the client.
    pub trusted_hops: u32,
}

impl Default for AuthzConfig {
    fn default() -> Self {
        Self {
            account_header: "x-moat-account".into(),
            block_status: 403,
            throttle_status: 429,
            trusted_hops: 0,
        }
    }
}

/// An IP network in CIDR notation (`10.0.0.0/8`, `::1/128`), or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Whether `ip` lies in the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            _ => ip,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an address or network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| format!("{s:?}: prefix length must be 0 to {max}"))?,
        };
        Ok(Self { addr, prefix })
    }
}

impl<'de> Deserialize<'de> for IpNet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_contain_their_addresses_only() {
        let net: IpNet = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one: IpNet = "::1".parse().unwrap();
        assert!(one.contains("::1".parse().unwrap()));
        assert!(!one.contains("::2".parse().unwrap()));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.7".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("example.com".parse::<IpNet>().is_err());
    }

    #[test]
    fn the_file_reads_as_documented() {
        let c: ServeConfig = toml::from_str(
            "grpc_listen = \"off\"\ncheck_from = [\"10.0.0.0/8\"]\n[budget]\ncampaign_per_minute = 0\n",
        )
        .unwrap();
        assert_eq!(c.grpc_listen, None);
        assert_eq!(c.budget.campaign_per_minute, 0);
        assert!(c.may_check("10.9.9.9".parse().unwrap()));
        assert!(c.may_read_metrics("127.0.0.1".parse().unwrap()));
        assert!(c.may_read_metrics("::1".parse().unwrap()));
        assert!(!c.may_read_metrics("10.9.9.9".parse().unwrap()));
        assert!(!c.may_check("192.0.2.1".parse().unwrap()));
        let c: ServeConfig = toml::from_str("grpc_listen = \"0.0.0.0:9000\"").unwrap();
        assert_eq!(c.grpc_listen, Some("0.0.0.0:9000".parse().unwrap()));
        assert!(toml::from_str::<ServeConfig>("grpc_listen = \"nowhere\"").is_err());
        assert!(toml::from_str::<ServeConfig>("listen_on = \"x\"").is_err());
    }

    #[test]
    fn the_deployment_guides_sample_reads_and_lets_a_local_gateway_ask() {
        let guide = include_str!("../../../docs/deploy.md");
        let start = guide
            .find("```toml\n[serve]\n")
            .expect("docs/deploy.md has a [serve] sample");
        let sample = &guide[start + "```toml\n".len()..];
        let sample = &sample[..sample.find("```").expect("the sample ends")];
        #[derive(Deserialize)]
        struct File {
            serve: ServeConfig,
        }
        let File { mut serve } = toml::from_str(sample).expect("the sample is valid");
        assert!(serve.may_check("127.0.0.1".parse().unwrap()));
        assert!(serve.may_read_metrics("127.0.0.1".parse().unwrap()));
        serve.ingest_token = Some("0123456789abcdef-i".into());
        serve.admin_token = Some("0123456789abcdef-a".into());
        serve.resolve().expect("the sample with its tokens starts");
    }

    #[test]
    fn tokens_are_required_and_checked() {
        let bare = ServeConfig::default();
        let short = ServeConfig {
            ingest_token: Some("short".into()),
            admin_token: Some("a".repeat(20)),
            ..bare.clone()
        };
        assert!(short.resolve().unwrap_err().0.contains("shorter"));
        let plain = ServeConfig {
            ingest_token: Some("i".repeat(20)),
            admin_token: Some("a".repeat(20)),
            ..bare.clone()
        };
        assert!(
            plain
                .resolve()
                .unwrap_err()
                .0
                .contains("different characters")
        );
        let same = ServeConfig {
            ingest_token: Some("0123456789abcdef-x".into()),
            admin_token: Some("0123456789abcdef-x".into()),
            ..bare.clone()
        };
        assert!(
            same.resolve()
                .unwrap_err()
                .0
                .contains("the same as serve.ingest_token")
        );
        let guard_as_admin = ServeConfig {
            ingest_token: Some("0123456789abcdef-i".into()),
            admin_token: Some("0123456789abcdef-a".into()),
            guardrail_token: Some("0123456789abcdef-a".into()),
            ..bare.clone()
        };
        assert!(guard_as_admin.resolve().is_err());
        let ok = ServeConfig {
            ingest_token: Some("0123456789abcdef-i".into()),
            admin_token: Some("0123456789abcdef-a".into()),
            ..bare
        };
        assert!(ok.resolve().is_ok());
    }

    #[test]
    fn operators_need_names_and_tokens_of_their_own() {
        let base = || ServeConfig {
            ingest_token: Some("0123456789abcdef-i".into()),
            admin_token: Some("0123456789abcdef-a".into()),
            ..ServeConfig::default()
        };
        let with = |name: &str, token: &str| {
            let mut c = base();
            c.operators.insert(name.into(), token.into());
            c.resolve()
        };
        let c = with("jo.smith@trust", "0123456789abcdef-jo").unwrap();
        assert_eq!(
            c.operator_for(b"0123456789abcdef-jo"),
            Some("jo.smith@trust")
        );
        assert_eq!(c.operator_for(b"0123456789abcdef-a"), Some("admin"));
        assert_eq!(c.operator_for(b"0123456789abcdef-i"), None);
        assert_eq!(c.operator_for(b""), None);
        for bad in ["admin", "", "jo smith", "jo\n"] {
            let e = with(bad, "0123456789abcdef-jo").unwrap_err();
            assert!(e.0.contains("operator's name"), "{bad:?}: {e}");
        }
        let e = with("jo", "0123456789abcdef-a").unwrap_err();
        assert!(e.0.contains("own token"), "{e}");
        assert!(with("jo", "short").is_err());
    }
}
