//! Link keys: the values accounts can share (a card, an address, a template) and by which
//! the Linker ties accounts run by one operator together. Only hashes are kept.

use std::net::IpAddr;

use compact_str::CompactString;
use smallvec::SmallVec;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::content::{ContentSignals, SIGNATURE_BINS, Signature};
use crate::exchange::{AccountInfo, Client, Exchange};

/// What kind of value a key stands for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum KeyKind {
    /// The payment instrument's fingerprint.
    Payment,
    /// A non-personal e-mail domain (a company's or a university's).
    EmailDomain,
    /// The hour in which the account was opened, with its sign-up channel.
    SignupHour,
    /// A client address.
    Ip,
    /// A client's /24 (IPv4) or /48 (IPv6) network.
    Prefix,
    /// The client software: user agent and TLS fingerprint together.
    Client,
    /// A normalised system prompt.
    SystemPrompt,
    /// One band of a prompt's template signature.
    Template,
}

impl KeyKind {
    /// Every kind, in a fixed order.
    pub const ALL: [KeyKind; 8] = [
        KeyKind::Payment,
        KeyKind::EmailDomain,
        KeyKind::SignupHour,
        KeyKind::Ip,
        KeyKind::Prefix,
        KeyKind::Client,
        KeyKind::SystemPrompt,
        KeyKind::Template,
    ];

    /// The name used in evidence and configuration.
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::Payment => "payment",
            KeyKind::EmailDomain => "email_domain",
            KeyKind::SignupHour => "signup_hour",
            KeyKind::Ip => "ip",
            KeyKind::Prefix => "prefix",
            KeyKind::Client => "client",
            KeyKind::SystemPrompt => "system_prompt",
            KeyKind::Template => "template",
        }
    }

    fn tag(self) -> u64 {
        self as u64
    }
}

/// A hashed link key; its kind is kept in the low bits.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Key(u64);

/// The seed keys are hashed with (plus the kind's tag). Frozen: stored verdicts, snapshots
/// and partners' STIX bundles hold keys made with it, and a key made with another seed
/// would match none of them.
const KEY_SEED: u64 = 0x6b65_7973;

impl Key {
    /// The key of `bytes` as a value of `kind`.
    pub fn new(kind: KeyKind, bytes: &[u8]) -> Self {
        let h = xxh3_64_with_seed(bytes, KEY_SEED + kind.tag());
        Key((h & !0xf) | kind.tag())
    }

    /// Rebuilds a key from [`Key::raw`].
    pub fn from_raw(raw: u64) -> Self {
        Key(raw)
    }

    /// The key as a number.
    pub fn raw(self) -> u64 {
        self.0
    }

    /// Its kind.
    pub fn kind(self) -> KeyKind {
        KeyKind::ALL[(self.0 & 0xf) as usize % KeyKind::ALL.len()]
    }
}

/// How many bands a template signature is cut into.
pub const TEMPLATE_BANDS: usize = 8;
const BAND_WIDTH: usize = SIGNATURE_BINS / TEMPLATE_BANDS;

/// The band keys of a signature: two prompts cut from one template share some.
pub fn template_bands(signature: &Signature) -> [Option<Key>; TEMPLATE_BANDS] {
    let mut bands = [None; TEMPLATE_BANDS];
    for (band, slot) in bands.iter_mut().enumerate() {
        let bins = &signature.0[band * BAND_WIDTH..(band + 1) * BAND_WIDTH];
        if bins.contains(&u32::MAX) {
            continue;
        }
        let mut bytes = [0u8; 4 * BAND_WIDTH + 1];
        bytes[0] = band as u8;
        for (chunk, bin) in bytes[1..].chunks_exact_mut(4).zip(bins) {
            chunk.copy_from_slice(&bin.to_le_bytes());
        }
        *slot = Some(Key::new(KeyKind::Template, &bytes));
    }
    bands
}

/// The address and network keys of a client. Loopback, unspecified and link-local
/// addresses are the gateway's own side of a connection, not a client's: a proxy that logs
/// them for every caller would otherwise tie all its callers together.
pub fn network_keys(client: &Client) -> (Option<Key>, Option<Key>) {
    let Some(ip) = client.ip.filter(|ip| !is_local(*ip)) else {
        return (None, None);
    };
    let prefix = match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            Key::new(KeyKind::Prefix, &[4, o[0], o[1], o[2]])
        }
        IpAddr::V6(v6) => {
            let o = v6.octets();
            Key::new(KeyKind::Prefix, &[6, o[0], o[1], o[2], o[3], o[4], o[5]])
        }
    };
    let exact = match ip {
        IpAddr::V4(v4) => Key::new(KeyKind::Ip, &v4.octets()),
        IpAddr::V6(v6) => Key::new(KeyKind::Ip, &v6.octets()),
    };
    (Some(exact), Some(prefix))
}

/// Whether `ip` is a loopback, unspecified or link-local address (IPv4-mapped ones too).
fn is_local(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_unspecified() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unspecified() || v6.is_unicast_link_local(),
    }
}

/// The key of the client software, if anything is known of it.
pub fn client_key(client: &Client) -> Option<Key> {
    if client.user_agent.is_none() && client.tls_fingerprint.is_none() {
        return None;
    }
    let ua = client.user_agent.as_deref().unwrap_or("");
    let tls = client.tls_fingerprint.as_deref().unwrap_or("");
    let mut bytes = SmallVec::<[u8; 128]>::new();
    bytes.extend_from_slice(ua.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(tls.as_bytes());
    Some(Key::new(KeyKind::Client, &bytes))
}

/// The link keys an exchange carries: address, network, client software, system prompt
/// and template bands, and apart from them those of the account facts it holds. Worked out
/// once per exchange, for the account's state and for the blocklist.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Carried {
    /// The client's address.
    pub ip: Option<Key>,
    /// The client's network.
    pub prefix: Option<Key>,
    /// The client software.
    pub client: Option<Key>,
    /// The normalised system prompt.
    pub system: Option<Key>,
    /// The bands of the prompt's template signature.
    pub templates: [Option<Key>; TEMPLATE_BANDS],
    /// The keys of the account facts the exchange holds ([`account_keys`]): the account's
    /// own, not among [`Carried::keys`].
    pub account: AccountKeys,
}

impl Carried {
    /// The keys exchange `e`, whose content signals are `content`, carries.
    pub fn of(e: &Exchange, content: &ContentSignals) -> Self {
        let (ip, prefix) = network_keys(&e.client);
        Self {
            ip,
            prefix,
            client: client_key(&e.client),
            system: content
                .system_hash
                .map(|h| Key::new(KeyKind::SystemPrompt, &h.to_le_bytes())),
            templates: content
                .signature
                .as_ref()
                .map_or([None; TEMPLATE_BANDS], template_bands),
            account: account_keys(&e.account),
        }
    }

    /// Every key carried but the account facts'.
    pub fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        [self.ip, self.prefix, self.client, self.system]
            .into_iter()
            .chain(self.templates)
            .flatten()
    }
}

/// What kind of address an e-mail domain is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmailKind {
    /// Not known.
    #[default]
    Unknown,
    /// A public mailbox provider: shared by strangers, never a link.
    Personal,
    /// A school or university.
    Education,
    /// Anything else: a company's or a project's own domain.
    Organisation,
}

/// Public mailbox providers, whose domains strangers share.
const PERSONAL_MAIL: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "yahoo.com",
    "ymail.com",
    "icloud.com",
    "me.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "pm.me",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "mail.com",
    "mail.ru",
    "yandex.ru",
    "yandex.com",
    "qq.com",
    "163.com",
    "126.com",
    "sina.com",
    "naver.com",
    "fastmail.com",
    "tutanota.com",
    "zoho.com",
];

/// Classifies an e-mail domain.
pub fn email_kind(domain: &str) -> EmailKind {
    let d = lowered(domain.trim().trim_end_matches('.'));
    if d.is_empty() {
        return EmailKind::Unknown;
    }
    let personal = PERSONAL_MAIL.contains(&d.as_str())
        || d.starts_with("yahoo.")
        || d.starts_with("hotmail.")
        || d.starts_with("outlook.");
    if personal {
        EmailKind::Personal
    } else if d.ends_with(".edu") || d.contains(".edu.") || d.contains(".ac.") {
        EmailKind::Education
    } else {
        EmailKind::Organisation
    }
}

/// `text` in ASCII lower case, without allocating when it is short (as domains are).
fn lowered(text: &str) -> CompactString {
    let mut lowered = CompactString::from(text);
    lowered.make_ascii_lowercase();
    lowered
}

/// The keys an account's own record gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct AccountKeys {
    /// Its payment fingerprint.
    pub payment: Option<Key>,
    /// Its e-mail domain, when not a personal mail provider's.
    pub email_domain: Option<Key>,
    /// The hour it was opened in, with its sign-up channel.
    pub signup_hour: Option<Key>,
}

impl AccountKeys {
    /// The keys given.
    pub fn iter(&self) -> impl Iterator<Item = Key> {
        [self.payment, self.email_domain, self.signup_hour]
            .into_iter()
            .flatten()
    }

    /// Takes the keys `newer` gives, keeping these where it gives none.
    pub fn update(&mut self, newer: AccountKeys) {
        self.payment = newer.payment.or(self.payment);
        self.email_domain = newer.email_domain.or(self.email_domain);
        self.signup_hour = newer.signup_hour.or(self.signup_hour);
    }
}

/// The keys an account's own record gives: payment, non-personal e-mail domain, sign-up hour.
pub fn account_keys(info: &AccountInfo) -> AccountKeys {
    let payment = info
        .payment_fingerprint
        .as_deref()
        .filter(|p| !p.is_empty())
        .map(|p| Key::new(KeyKind::Payment, p.as_bytes()));
    let email = info.email_domain.as_deref().and_then(|d| {
        matches!(
            email_kind(d),
            EmailKind::Education | EmailKind::Organisation
        )
        .then(|| Key::new(KeyKind::EmailDomain, lowered(d.trim()).as_bytes()))
    });
    let signup = info.created_at.map(|t| {
        let hour = t.as_unix_micros().div_euclid(crate::time::MICROS_PER_HOUR);
        let mut bytes = SmallVec::<[u8; 64]>::from_slice(&hour.to_le_bytes());
        bytes.extend_from_slice(info.signup_channel.as_deref().unwrap_or("").as_bytes());
        Key::new(KeyKind::SignupHour, &bytes)
    });
    AccountKeys {
        payment,
        email_domain: email,
        signup_hour: signup,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::signature;

    #[test]
    fn keys_keep_their_kind() {
        for kind in KeyKind::ALL {
            assert_eq!(Key::new(kind, b"x").kind(), kind);
        }
        assert_ne!(
            Key::new(KeyKind::Ip, b"x").raw(),
            Key::new(KeyKind::Prefix, b"x").raw()
        );
    }

    #[test]
    fn a_gateways_own_addresses_are_no_clients_key() {
        for local in [
            "127.0.0.1",
            "::1",
            "0.0.0.0",
            "169.254.3.4",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            let client = Client {
                ip: Some(local.parse().unwrap()),
                ..Client::default()
            };
            assert_eq!(network_keys(&client), (None, None), "{local}");
        }
        let public = Client {
            ip: Some("203.0.113.9".parse().unwrap()),
            ..Client::default()
        };
        assert!(network_keys(&public).0.is_some());
    }

    #[test]
    fn addresses_in_one_network_share_the_prefix_only() {
        let client = |ip: &str| Client {
            ip: Some(ip.parse().unwrap()),
            ..Client::default()
        };
        let (a, pa) = network_keys(&client("203.0.113.7"));
        let (b, pb) = network_keys(&client("203.0.113.200"));
        let (_, pc) = network_keys(&client("203.0.114.7"));
        assert_ne!(a, b);
        assert_eq!(pa, pb);
        assert_ne!(pa, pc);
        let (_, p6a) = network_keys(&client("2001:db8:1:2::1"));
        let (_, p6b) = network_keys(&client("2001:db8:1:ffff::1"));
        assert_eq!(p6a, p6b);
    }

    #[test]
    fn email_domains_by_kind() {
        assert_eq!(email_kind("Gmail.com"), EmailKind::Personal);
        assert_eq!(email_kind("yahoo.co.uk"), EmailKind::Personal);
        assert_eq!(email_kind("cs.stanford.edu"), EmailKind::Education);
        assert_eq!(email_kind("ox.ac.uk"), EmailKind::Education);
        assert_eq!(email_kind("initech.io"), EmailKind::Organisation);
        let personal = AccountInfo {
            email_domain: Some("gmail.com".into()),
            ..AccountInfo::default()
        };
        assert_eq!(account_keys(&personal).email_domain, None);
    }

    #[test]
    fn template_copies_share_bands() {
        let template = |task: &str, lang: &str| {
            format!(
                "You are a meticulous senior engineer and you always explain your reasoning in full. \
                 Task: {task}, written in {lang}, with tests. Before answering, reason through \
                 the problem in detail and show every step of your thinking, then list the edge \
                 cases you considered and give the final code in one block at the end."
            )
        };
        let shared = |x: &str, y: &str| {
            let (a, b) = (signature(x).unwrap(), signature(y).unwrap());
            template_bands(&a)
                .iter()
                .zip(template_bands(&b))
                .filter(|(p, q)| p.is_some() && **p == *q)
                .count()
        };
        let a = template("implement a parser for CSV files", "Rust");
        let b = template("build a cache for HTTP responses", "Go");
        let stranger = "My landlord has not fixed the heating for three weeks now, and I would \
                        like to write him a firm but polite letter that mentions my rights as \
                        a tenant and asks for a date by which the repair will be done.";
        assert!(
            shared(&a, &b) >= 2,
            "template copies share {}",
            shared(&a, &b)
        );
        assert_eq!(shared(&a, stranger), 0);
    }
}
