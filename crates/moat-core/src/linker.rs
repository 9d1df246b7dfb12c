//! The Linker: ties accounts together by the keys they share, weighting each key by how
//! rare it is and by what the accounts sharing it do, and groups them into clusters.
//!
//! A key held by accounts that nearly all look suspicious on their own links them. A key
//! held by a few brand-new accounts links them too, when it names an operator by itself (a
//! card, an address). A key held by a crowd of ordinary accounts (a campus NAT, a cloud
//! range, a popular system prompt) never links, so strangers are never glued together by
//! the network they happen to share, nor to a campaign hiding among them.
//!
//! The index of who holds which key is kept between rounds and updated only for accounts
//! that changed, with running counts of each key's judged and suspicious holders; a round
//! then only decides again for the keys whose holders changed, and keeps the others'
//! decisions.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashSet};

use smallvec::SmallVec;

use crate::config::DetectConfig;
use crate::keys::Key;

/// How the linker sees one account: whether it can be judged yet, and whether it looks
/// suspicious on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Judged {
    /// The account has enough traffic to be judged on its own.
    pub judged: bool,
    /// Its own score reaches the linking threshold.
    pub suspicious: bool,
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Holders {
    /// Most keys have one holder: kept inline, no allocation.
    accounts: SmallVec<[u32; 2]>,
    judged: u32,
    suspicious: u32,
}

impl Holders {
    fn count(&mut self, j: Judged, sign: i32) {
        let step = |n: &mut u32, on: bool| {
            if on {
                *n = n.wrapping_add_signed(sign);
            }
        };
        step(&mut self.judged, j.judged);
        step(&mut self.suspicious, j.judged && j.suspicious);
    }
}

/// Who holds which key, kept between rounds.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct KeyIndex {
    holders: HashMap<u64, Holders>,
    /// Per account, the keys it is registered under and how it was judged then.
    held: Vec<(Vec<u64>, Judged)>,
    /// Keys whose holders, or how they were judged, changed since the last round.
    touched: HashSet<u64>,
    /// The keys that linked in the last round, with the accounts each linked.
    linking: BTreeMap<u64, Vec<u32>>,
    /// A round's union-find and summed key strengths, per account, kept between rounds
    /// and cleared after each ([`UNLINKED`] and 0 for accounts no linking key holds).
    parent: Vec<u32>,
    fit: Vec<f64>,
}

/// In [`KeyIndex::parent`]: no linking key holds the account.
const UNLINKED: u32 = u32::MAX;

/// A key that links the accounts sharing it.
#[derive(Debug, Clone, Copy)]
pub struct SharedKey<'a> {
    /// The key.
    pub key: Key,
    /// The accounts it links (indices into the engine's accounts), in order.
    pub members: &'a [u32],
}

/// The result of one round of linking, borrowing the index's linking keys.
#[derive(Debug, Default)]
pub struct Links<'a> {
    /// The keys that link, in key order, each with the accounts it links.
    pub shared: Vec<SharedKey<'a>>,
    /// The clusters: root (the earliest account) → members, in account order.
    pub clusters: BTreeMap<u32, Vec<u32>>,
    /// Per linked account, the root of its cluster.
    pub root: HashMap<u32, u32>,
    /// Per linked account, the summed strength of the linking keys it holds.
    pub fit: HashMap<u32, f64>,
}

impl KeyIndex {
    /// Registers account `i` under `keys` (sorted, deduplicated), judged `judged`.
    pub fn update(&mut self, i: u32, keys: &[u64], judged: Judged) {
        let i_us = i as usize;
        if self.held.len() <= i_us {
            self.held.resize_with(i_us + 1, Default::default);
        }
        if self.held[i_us].0 == keys && self.held[i_us].1 == judged {
            return;
        }
        let (old_keys, old_judged) = std::mem::take(&mut self.held[i_us]);
        for &k in &old_keys {
            if keys.binary_search(&k).is_ok() {
                if old_judged != judged {
                    let h = self.holders.entry(k).or_default();
                    h.count(old_judged, -1);
                    h.count(judged, 1);
                    self.touch(k);
                }
                continue;
            }
            if let Some(h) = self.holders.get_mut(&k) {
                h.count(old_judged, -1);
                if let Some(pos) = h.accounts.iter().position(|&a| a == i) {
                    h.accounts.swap_remove(pos);
                }
                if h.accounts.is_empty() {
                    self.holders.remove(&k);
                }
                self.touch(k);
            }
        }
        for &k in keys {
            if old_keys.binary_search(&k).is_ok() {
                continue;
            }
            let h = self.holders.entry(k).or_default();
            h.accounts.push(i);
            h.count(judged, 1);
            self.touch(k);
        }
        self.held[i_us] = (keys.to_vec(), judged);
    }

    /// Marks `k` to be decided again: a key one account holds never links, unless it
    /// linked before (and must now be let go).
    fn touch(&mut self, k: u64) {
        let held_by_many = self.holders.get(&k).is_some_and(|h| h.accounts.len() > 1);
        if held_by_many || self.linking.contains_key(&k) {
            self.touched.insert(k);
        }
    }

    /// Links the accounts, given how each is judged now.
    ///
    /// A key links when its judged holders (at least two) are nearly all suspicious — and
    /// then it links the suspicious ones, and those too new to judge if the key names an
    /// operator by itself — or, while its holders are too new to judge, when few share it
    /// and it names an operator by itself. A key that does not name an operator by itself
    /// (a network, a template, a sign-up hour) links three accounts or more, never two. An
    /// account's `fit` sums the strengths of the linking keys it holds.
    ///
    /// Only keys touched since the last call are decided again, so every call must pass
    /// the same `config`.
    pub fn link(&mut self, config: &DetectConfig) -> Links<'_> {
        for raw in std::mem::take(&mut self.touched) {
            match self.decide(raw, config) {
                Some(members) => self.linking.insert(raw, members),
                None => self.linking.remove(&raw),
            };
        }
        let linking = &config.linking;
        let shared: Vec<SharedKey> = self
            .linking
            .iter()
            .map(|(&raw, members)| SharedKey {
                key: Key::from_raw(raw),
                members,
            })
            .collect();

        let (parent, fits) = (&mut self.parent, &mut self.fit);
        parent.resize(self.held.len(), UNLINKED);
        fits.resize(self.held.len(), 0.0);
        let mut linked = Vec::new();
        for s in &shared {
            let strength = linking.strength.get(s.key.kind());
            for &m in s.members {
                if parent[m as usize] == UNLINKED {
                    parent[m as usize] = m;
                    linked.push(m);
                }
                union(parent, s.members[0], m);
                fits[m as usize] += strength;
            }
        }
        linked.sort_unstable();
        let mut root = HashMap::with_capacity_and_hasher(linked.len(), Default::default());
        let mut fit = HashMap::with_capacity_and_hasher(linked.len(), Default::default());
        let mut clusters: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for &m in &linked {
            let r = find(parent, m);
            root.insert(m, r);
            fit.insert(m, fits[m as usize]);
            clusters.entry(r).or_default().push(m);
        }
        for &m in &linked {
            parent[m as usize] = UNLINKED;
            fits[m as usize] = 0.0;
        }
        Links {
            shared,
            clusters,
            root,
            fit,
        }
    }

    /// The accounts key `raw` links now, if it links.
    fn decide(&self, raw: u64, config: &DetectConfig) -> Option<Vec<u32>> {
        let linking = &config.linking;
        let h = self.holders.get(&raw)?;
        let n = h.accounts.len();
        if n < 2 {
            return None;
        }
        let kind = Key::from_raw(raw).kind();
        let strength = linking.strength.get(kind);
        let mut members: Vec<u32> = if h.judged < 2 {
            if n as f64 > linking.rare.get(kind) || strength < 1.0 {
                return None;
            }
            h.accounts.to_vec()
        } else if h.suspicious as f64 >= linking.suspicious_share * h.judged as f64 {
            h.accounts
                .iter()
                .copied()
                .filter(|&m| {
                    let j = self.held[m as usize].1;
                    if j.judged {
                        j.suspicious
                    } else {
                        strength >= 1.0
                    }
                })
                .collect()
        } else {
            return None;
        };
        // Two accounts opened in the same hour, or sharing one network, may be chance;
        // a key that is not an operator's by itself links three or more.
        if members.len() < if strength >= 1.0 { 2 } else { 3 } {
            return None;
        }
        members.sort_unstable();
        Some(members)
    }
}

/// Union-find with path halving over the linked accounts (each its own parent when it
/// joins); the smaller index becomes the root, so a cluster is named by its earliest
/// account.
fn find(parent: &mut [u32], mut i: u32) -> u32 {
    loop {
        let p = parent[i as usize];
        if p == i {
            return i;
        }
        let grand = parent[p as usize];
        parent[i as usize] = grand;
        i = grand;
    }
}

fn union(parent: &mut [u32], a: u32, b: u32) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        let (low, high) = if ra < rb { (ra, rb) } else { (rb, ra) };
        parent[high as usize] = low;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyKind;

    fn key(kind: KeyKind, name: &str) -> u64 {
        Key::new(kind, name.as_bytes()).raw()
    }

    fn sorted(mut keys: Vec<u64>) -> Vec<u64> {
        keys.sort_unstable();
        keys
    }

    const NEW: Judged = Judged {
        judged: false,
        suspicious: false,
    };
    const BAD: Judged = Judged {
        judged: true,
        suspicious: true,
    };
    const GOOD: Judged = Judged {
        judged: true,
        suspicious: false,
    };

    #[test]
    fn a_card_links_new_accounts_a_crowd_never_links() {
        let config = DetectConfig::default();
        let card = key(KeyKind::Payment, "pm_1");
        let nat = key(KeyKind::Ip, "198.51.100.7");
        let mut index = KeyIndex::default();
        // Three new accounts share a card; thirty ordinary ones and one suspicious one
        // share a NAT address.
        for i in 0..3 {
            index.update(i, &[card], NEW);
        }
        for i in 3..34 {
            let j = if i == 3 { BAD } else { GOOD };
            index.update(i, &[nat], j);
        }
        let links = index.link(&config);
        assert_eq!(links.clusters.len(), 1);
        assert_eq!(links.clusters[&0], vec![0, 1, 2]);
        assert_eq!(links.fit[&1], 1.0);
        assert!(!links.root.contains_key(&3));
    }

    #[test]
    fn suspicious_holders_link_and_strays_among_them_do_not() {
        let config = DetectConfig::default();
        let template = key(KeyKind::Template, "band");
        let system = key(KeyKind::SystemPrompt, "sys");
        let mut index = KeyIndex::default();
        for i in 0..20u32 {
            let j = if i == 7 { GOOD } else { BAD };
            index.update(i, &sorted(vec![template, system]), j);
        }
        let links = index.link(&config);
        assert_eq!(links.clusters[&0].len(), 19);
        assert!(!links.root.contains_key(&7));
        assert_eq!(links.fit[&0], 1.0);
        // Judged again as ordinary, most of them: the keys stop linking.
        for i in 0..15u32 {
            index.update(i, &sorted(vec![template, system]), GOOD);
        }
        assert!(index.link(&config).clusters.is_empty());
        // An account that drops a key leaves its holders.
        index.update(0, &[], GOOD);
        assert_eq!(index.holders[&template].accounts.len(), 19);
    }
}
