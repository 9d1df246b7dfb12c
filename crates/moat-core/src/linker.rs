//! The Linker: ties accounts together by the keys they share, weighting each key by how
//! rare it is and by what the accounts sharing it do, and groups them into clusters.
//!
//! A key shared by a few accounts (a card, an address) links them whatever they do. A key
//! shared by many (a campus NAT, a cloud range, a popular system prompt) links them only
//! when the merged profile of everyone sharing it is suspicious, so a crowd of strangers is
//! never glued together by the network they happen to share.

use std::collections::HashMap;

use crate::account::AccountState;
use crate::config::DetectConfig;
use crate::keys::Key;

/// A key that links the accounts sharing it.
#[derive(Debug, Clone)]
pub struct SharedKey {
    /// The key.
    pub key: Key,
    /// The accounts that hold it (indices into the engine's accounts).
    pub members: Vec<u32>,
}

/// The result of one round of linking.
#[derive(Debug, Default)]
pub struct Links {
    /// The keys that link, each with its holders.
    pub shared: Vec<SharedKey>,
    /// Per account, the union-find root of its cluster (itself when alone).
    pub root: Vec<u32>,
    /// Per account, the summed strength of the linking keys it holds.
    pub fit: Vec<f32>,
}

impl Links {
    /// The clusters with at least `min` members: root → members, in account order.
    pub fn clusters(&self, min: usize) -> HashMap<u32, Vec<u32>> {
        let mut clusters: HashMap<u32, Vec<u32>> = HashMap::new();
        for (i, &r) in self.root.iter().enumerate() {
            clusters.entry(r).or_default().push(i as u32);
        }
        clusters.retain(|_, members| members.len() >= min.max(2));
        clusters
    }
}

/// Union-find with path halving; the smaller index becomes the root, so a cluster is
/// named by its earliest account.
fn find(parent: &mut [u32], mut i: u32) -> u32 {
    while parent[i as usize] != i {
        let p = parent[i as usize];
        parent[i as usize] = parent[p as usize];
        i = p;
    }
    i
}

fn union(parent: &mut [u32], a: u32, b: u32) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        let (low, high) = if ra < rb { (ra, rb) } else { (rb, ra) };
        parent[high as usize] = low;
    }
}

/// What the linker needs to know of each account.
#[derive(Debug, Clone, Copy)]
pub struct Judged {
    /// The account has enough traffic to be judged on its own.
    pub judged: bool,
    /// Its own score, from its own signals.
    pub score: f64,
}

/// What the holders of a key look like, on their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holders {
    /// Fewer than two have enough traffic to judge.
    Unknown,
    /// Nearly all of those judged are suspicious: a campaign's key.
    Suspicious,
    /// Anything else: a crowd, perhaps with a campaign hiding in it.
    Mixed,
}

/// Judges the holders of a key. A crowd in which a campaign hides beside ordinary customers
/// (a popular SDK, a cloud range) is mixed: only keys the suspicious accounts hold nearly
/// alone are a campaign's.
fn holders(members: &[u32], judged: &[Judged], config: &DetectConfig) -> Holders {
    let linking = &config.linking;
    let (mut seen, mut suspicious) = (0usize, 0usize);
    for &m in members {
        let j = judged[m as usize];
        if j.judged {
            seen += 1;
            suspicious += usize::from(j.score >= linking.suspicion);
        }
    }
    if seen < 2 {
        Holders::Unknown
    } else if suspicious as f64 >= linking.suspicious_share * seen as f64 {
        Holders::Suspicious
    } else {
        Holders::Mixed
    }
}

/// Links `accounts`, given how each is judged on its own.
///
/// A key links its holders when they are nearly all suspicious on their own (and then only
/// the suspicious ones, and those too new to judge if the key names an operator by itself:
/// a card, an address), or, while they are too new to judge, when few accounts share it
/// and it names an operator by itself. Keys held by a crowd of ordinary accounts never
/// link, so a campus or a team is not glued to a campaign through one stray shared key.
/// An account's `fit` sums the strengths of the linking keys it holds.
pub fn link(accounts: &[AccountState], judged: &[Judged], config: &DetectConfig) -> Links {
    let n = accounts.len();
    let mut pairs: Vec<(u64, u32)> = Vec::with_capacity(n * 8);
    for (i, account) in accounts.iter().enumerate() {
        account.keys(|k| pairs.push((k.raw(), i as u32)));
    }
    pairs.sort_unstable();
    pairs.dedup();

    let linking = &config.linking;
    let most = ((n as f64) * linking.max_share).max(2.0) as usize;
    let mut shared = Vec::new();
    let mut parent: Vec<u32> = (0..n as u32).collect();
    let mut fit = vec![0f32; n];
    for run in pairs.chunk_by(|a, b| a.0 == b.0) {
        if run.len() < 2 || run.len() > most {
            continue;
        }
        let key = Key::from_raw(run[0].0);
        let members: Vec<u32> = run.iter().map(|&(_, i)| i).collect();
        let strength = linking.strength.get(key.kind());
        let rare = run.len() as f64 <= linking.rare.get(key.kind());
        let members: Vec<u32> = match holders(&members, judged, config) {
            // A campaign's key links the holders that behave like the campaign, and the
            // ones too new to tell when the key names an operator by itself.
            Holders::Suspicious => members
                .into_iter()
                .filter(|&m| {
                    let j = judged[m as usize];
                    if j.judged {
                        j.score >= linking.suspicion
                    } else {
                        strength >= 1.0
                    }
                })
                .collect(),
            Holders::Unknown if rare && strength >= 1.0 => members,
            _ => continue,
        };
        if members.len() < 2 {
            continue;
        }
        for &m in &members {
            union(&mut parent, members[0], m);
            fit[m as usize] += strength as f32;
        }
        shared.push(SharedKey { key, members });
    }
    let root = (0..n as u32).map(|i| find(&mut parent, i)).collect();
    Links { shared, root, fit }
}
