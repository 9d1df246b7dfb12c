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
use crate::profile::Profile;
use crate::signal::{Scope, profile_findings};

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

/// Whether the accounts sharing a common key look like one operator's: the mean of their
/// own scores, over the members with enough traffic to judge (at least two of them), reaches
/// the linking threshold. Accounts are weighed alike, so a few busy accounts cannot make a
/// crowd of quiet strangers look suspicious.
fn group_is_suspicious(members: &[u32], profiles: &[Profile], config: &DetectConfig) -> bool {
    let mut judged = 0usize;
    let mut total = 0.0;
    for &m in members {
        let p = &profiles[m as usize];
        if p.exchanges >= config.limits.min_exchanges {
            judged += 1;
            total += profile_findings(p, Scope::Account, config).score();
        }
    }
    judged >= 2 && total / judged as f64 >= config.linking.suspicion
}

/// Links `accounts`; `profiles` are their profiles (as [`AccountState::profile`] gives).
pub fn link(accounts: &[AccountState], profiles: &[Profile], config: &DetectConfig) -> Links {
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
    for run in pairs.chunk_by(|a, b| a.0 == b.0) {
        if run.len() < 2 || run.len() > most {
            continue;
        }
        let key = Key::from_raw(run[0].0);
        let members: Vec<u32> = run.iter().map(|&(_, i)| i).collect();
        let rare = run.len() as f64 <= linking.rare.get(key.kind());
        let links = rare || group_is_suspicious(&members, profiles, config);
        if links {
            shared.push(SharedKey { key, members });
        }
    }

    let mut parent: Vec<u32> = (0..n as u32).collect();
    let mut fit = vec![0f32; n];
    for s in &shared {
        let strength = linking.strength.get(s.key.kind()) as f32;
        for &m in &s.members {
            union(&mut parent, s.members[0], m);
            fit[m as usize] += strength;
        }
    }
    let root = (0..n as u32).map(|i| find(&mut parent, i)).collect();
    Links { shared, root, fit }
}
