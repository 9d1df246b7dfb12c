//! Who sends the traffic: ids, addresses, networks, clients and account facts that look like
//! a real provider's, derived deterministically from the seed.

use std::net::{IpAddr, Ipv4Addr};

use compact_str::CompactString;
use moat_core::AccountInfo;
use rand::Rng;
use rand::seq::IndexedRandom;

/// Mixes a seed and a number into a well-spread 64-bit value (SplitMix64's finaliser).
pub fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// An opaque id with a prefix, the same for the same seed and number.
pub fn opaque_id(prefix: &str, seed: u64, n: u64) -> CompactString {
    hex_id(prefix, mix(seed, n), 12)
}

/// `prefix_` and the last `digits` hex digits of `value`, without the formatting machinery
/// (ids are made for every exchange).
pub fn hex_id(prefix: &str, value: u64, digits: usize) -> CompactString {
    let mut id = CompactString::with_capacity(prefix.len() + 1 + digits);
    hex_id_into(&mut id, prefix, value, digits);
    id
}

/// [`hex_id`], written over `id`.
pub fn hex_id_into(id: &mut CompactString, prefix: &str, value: u64, digits: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    id.clear();
    id.push_str(prefix);
    id.push('_');
    for i in (0..digits.min(16)).rev() {
        id.push(HEX[(value >> (4 * i) & 0xf) as usize] as char);
    }
}

/// A country: its code, its UTC offset in hours, and autonomous systems of its ISPs.
pub struct Country {
    pub code: &'static str,
    pub utc_offset: f64,
    pub isps: &'static [u32],
    /// Relative share of accounts.
    pub weight: f64,
}

pub const COUNTRIES: &[Country] = &[
    Country {
        code: "US",
        utc_offset: -5.0,
        isps: &[7922, 701, 7018, 20115, 22773],
        weight: 30.0,
    },
    Country {
        code: "US",
        utc_offset: -8.0,
        isps: &[7922, 701, 7018, 20001, 5650],
        weight: 12.0,
    },
    Country {
        code: "GB",
        utc_offset: 0.0,
        isps: &[2856, 5089, 5607],
        weight: 7.0,
    },
    Country {
        code: "DE",
        utc_offset: 1.0,
        isps: &[3320, 3209, 6805],
        weight: 7.0,
    },
    Country {
        code: "FR",
        utc_offset: 1.0,
        isps: &[3215, 12322, 5410],
        weight: 5.0,
    },
    Country {
        code: "IN",
        utc_offset: 5.5,
        isps: &[55836, 24560, 45609, 9829],
        weight: 12.0,
    },
    Country {
        code: "BR",
        utc_offset: -3.0,
        isps: &[28573, 18881, 26599],
        weight: 6.0,
    },
    Country {
        code: "JP",
        utc_offset: 9.0,
        isps: &[4713, 2516, 17676],
        weight: 5.0,
    },
    Country {
        code: "KR",
        utc_offset: 9.0,
        isps: &[4766, 9318],
        weight: 3.0,
    },
    Country {
        code: "SG",
        utc_offset: 8.0,
        isps: &[9506, 4773],
        weight: 2.0,
    },
    Country {
        code: "AU",
        utc_offset: 10.0,
        isps: &[1221, 4804],
        weight: 3.0,
    },
    Country {
        code: "NG",
        utc_offset: 1.0,
        isps: &[29465, 36873],
        weight: 2.0,
    },
    Country {
        code: "MX",
        utc_offset: -6.0,
        isps: &[8151, 28548],
        weight: 3.0,
    },
    Country {
        code: "CA",
        utc_offset: -5.0,
        isps: &[577, 812, 6327],
        weight: 3.0,
    },
];

/// Autonomous systems of cloud providers (servers, backends, and datacentre proxies).
pub const CLOUD_ASNS: &[u32] = &[16509, 15169, 8075, 14061, 24940, 16276, 63949, 20473];

/// Picks a country by weight.
pub fn country<R: Rng>(rng: &mut R) -> &'static Country {
    let total: f64 = COUNTRIES.iter().map(|c| c.weight).sum();
    let mut x = rng.random_range(0.0..total);
    for c in COUNTRIES {
        if x < c.weight {
            return c;
        }
        x -= c.weight;
    }
    &COUNTRIES[0]
}

/// A public-looking IPv4 address derived from `n` (never private, loopback or multicast).
pub fn public_ipv4(n: u64) -> IpAddr {
    let h = mix(0x001b_5eed, n);
    let mut a = (h >> 24) as u8 % 200 + 11;
    if matches!(a, 100 | 127 | 169 | 172 | 192 | 198 | 203) {
        a += 1;
    }
    IpAddr::V4(Ipv4Addr::new(
        a,
        (h >> 16) as u8,
        (h >> 8) as u8,
        (h as u8).max(1),
    ))
}

/// Host `host` (from 1) of the pool of addresses that starts at the /24 of `base`: within
/// that /24 up to host 255, in the /24s after it beyond.
pub fn pool_address(base: IpAddr, host: u16) -> IpAddr {
    match base {
        IpAddr::V4(v4) => {
            let first = u32::from(v4) & !0xff;
            IpAddr::V4(Ipv4Addr::from(first.wrapping_add(u32::from(host.max(1)))))
        }
        other => other,
    }
}

/// Client SDKs people use, with the TLS fingerprint each tends to have.
pub const CLIENTS: &[(&str, &str)] = &[
    ("sdk-python/1.40.2", "t13d1516h2_8daaf6152771_e5627efa2ab1"),
    ("sdk-python/1.38.0", "t13d1516h2_8daaf6152771_e5627efa2ab1"),
    ("sdk-node/4.73.1", "t13d1715h2_5b57614c22b0_3d5424432f57"),
    ("sdk-node/4.70.0", "t13d1715h2_5b57614c22b0_3d5424432f57"),
    ("curl/8.5.0", "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6"),
    ("Go-http-client/2.0", "t13d1311h2_f57a46bbacb6_ab7e3b40a677"),
    ("sdk-java/2.1.0", "t13d1812h2_85036bcba153_2fe1a7bd0d30"),
    (
        "langchain-python/0.3.4",
        "t13d1516h2_8daaf6152771_e5627efa2ab1",
    ),
    ("litellm/1.52.0", "t13d1516h2_8daaf6152771_e5627efa2ab1"),
];

/// Free mail providers (not evidence of anything on their own).
pub const WEBMAIL: &[&str] = &[
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "proton.me",
    "icloud.com",
    "qq.com",
    "hotmail.com",
];

/// A university's e-mail domain.
pub fn university_domain(seed: u64, n: u64) -> String {
    let names = [
        "northfield",
        "lakeside",
        "stmarks",
        "eastbay",
        "highland",
        "riverton",
        "kingsbridge",
        "westvale",
        "pinecrest",
        "harborview",
    ];
    let h = mix(seed ^ 0xed0, n);
    let suffix = ["edu", "ac.uk", "edu.au", "ac.in", "edu.sg", "ac.jp"][(h % 6) as usize];
    format!(
        "{}{}.{suffix}",
        names[(h >> 8) as usize % names.len()],
        h >> 40 & 0xff
    )
}

/// A company's e-mail domain.
pub fn company_domain(seed: u64, n: u64) -> String {
    let words = [
        "acme",
        "globex",
        "initech",
        "umbrella",
        "stark",
        "wayne",
        "hooli",
        "vandelay",
        "wonka",
        "cyberdyne",
        "soylent",
        "tyrell",
    ];
    let h = mix(seed ^ 0xc0, n);
    format!(
        "{}{}.{}",
        words[h as usize % words.len()],
        h >> 32 & 0xfff,
        ["com", "io", "co", "de", "co.uk"][(h >> 20) as usize % 5]
    )
}

/// A payment fingerprint (opaque).
pub fn card(seed: u64, n: u64) -> CompactString {
    opaque_id("pm", seed ^ 0xca5d, n)
}

/// A throwaway-looking mail domain of the kind campaigns use in bulk.
pub fn bulk_domain<R: Rng>(rng: &mut R) -> String {
    WEBMAIL
        .choose(rng)
        .copied()
        .unwrap_or("gmail.com")
        .to_owned()
}

/// What every exchange of an account carries. Held inline (short strings need no
/// allocation of their own), so that a step finds it in the actor's own memory.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub account_id: CompactString,
    /// The key the account sends with.
    pub api_key_id: CompactString,
    pub org_id: Option<CompactString>,
    pub account: AccountInfo,
    pub ip: IpAddr,
    /// How many addresses of the pool starting at the /24 of `ip` it sends from (1: always
    /// `ip`).
    pub hosts: u16,
    pub asn: u32,
    pub country: &'static str,
    pub utc_offset: f64,
    pub user_agent: &'static str,
    pub tls: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids_match_the_formatter() {
        for v in [0u64, 1, 0xdead_beef, u64::MAX, 0x0123_4567_89ab_cdef] {
            assert_eq!(hex_id("req", v, 16), format!("req_{v:016x}"));
            assert_eq!(
                hex_id("acct", v, 12),
                format!("acct_{:012x}", v & 0xffff_ffff_ffff)
            );
        }
    }

    #[test]
    fn public_addresses_are_public() {
        for n in 0..10_000 {
            let IpAddr::V4(ip) = public_ipv4(n) else {
                panic!()
            };
            assert!(
                !ip.is_private() && !ip.is_loopback() && !ip.is_multicast() && !ip.is_unspecified(),
                "{ip}"
            );
        }
    }
}
