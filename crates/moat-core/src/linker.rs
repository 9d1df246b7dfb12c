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
//! then only visits the keys more than one account holds.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashSet};

use smallvec::SmallVec;

use crate::config::DetectConfig;
use crate::keys::Key;

/// How the linker sees one account: whether it can be judged yet, and whether it looks
/// suspicious on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Judged {
    /// The account has enough traffic to be judged on its own.
    pub judged: bool,
    /// Its own score reaches the linking threshold.
    pub suspicious: bool,
}

#[derive(Debug, Default)]
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
#[derive(Debug, Default)]
pub struct KeyIndex {
    holders: HashMap<u64, Holders>,
    /// Per account, the keys it is registered under and how it was judged then.
    held: Vec<(Vec<u64>, Judged)>,
    /// Keys more than one account holds.
    shared: HashSet<u64>,
}

/// A key that links the accounts sharing it.
#[derive(Debug, Clone)]
pub struct SharedKey {
    /// The key.
    pub key: Key,
    /// The accounts it links (indices into the engine's accounts), in order.
    pub members: Vec<u32>,
}

/// The result of one round of linking.
#[derive(Debug, Default)]
pub struct Links {
    /// The keys that link, in key order, each with the accounts it links.
    pub shared: Vec<SharedKey>,
    /// The clusters: root (the earliest account) → members, in account order.
    pub clusters: BTreeMap<u32, Vec<u32>>,
    /// Per linked account, the root of its cluster.
    pub root: HashMap<u32, u32>,
    /// Per linked account, the summed strength of the linking keys it holds.
    pub fit: HashMap<u32, f64>,
}

impl KeyIndex {
    /// Registers account `i` under `keys` (sorted, deduplicated), judged `judged`.
    pub fn update(&mut self, i: u32, keys: Vec<u64>, judged: Judged) {
        let i_us = i as usize;
        if self.held.len() <= i_us {
            self.held.resize_with(i_us + 1, Default::default);
        }
        let (old_keys, old_judged) = std::mem::take(&mut self.held[i_us]);
        for &k in &old_keys {
            if keys.binary_search(&k).is_ok() {
                if old_judged != judged {
                    let h = self.holders.entry(k).or_default();
                    h.count(old_judged, -1);
                    h.count(judged, 1);
                }
                continue;
            }
            if let Some(h) = self.holders.get_mut(&k) {
                h.count(old_judged, -1);
                if let Some(pos) = h.accounts.iter().position(|&a| a == i) {
                    h.accounts.swap_remove(pos);
                }
                match h.accounts.len() {
                    0 => {
                        self.holders.remove(&k);
                    }
                    1 => {
                        self.shared.remove(&k);
                    }
                    _ => {}
                }
            }
        }
        for &k in &keys {
            if old_keys.binary_search(&k).is_ok() {
                continue;
            }
            let h = self.holders.entry(k).or_default();
            h.accounts.push(i);
            h.count(judged, 1);
            if h.accounts.len() == 2 {
                self.shared.insert(k);
            }
        }
        self.held[i_us] = (keys, judged);
    }

    /// Links the accounts, given how each is judged now.
    ///
    /// A key links when its judged holders (at least two) are nearly all suspicious — and
    /// then it links the suspicious ones, and those too new to judge if the key names an
    /// operator by itself — or, while its holders are too new to judge, when few share it
    /// and it names an operator by itself. A key that does not name an operator by itself
    /// (a network, a template, a sign-up hour) links three accounts or more, never two. An
    /// account's `fit` sums the strengths of the linking keys it holds.
    pub fn link(&self, judged: &[Judged], config: &DetectConfig) -> Links {
        let linking = &config.linking;
        let mut keys: Vec<u64> = self.shared.iter().copied().collect();
        keys.sort_unstable();
        let mut shared = Vec::new();
        for raw in keys {
            let h = &self.holders[&raw];
            let n = h.accounts.len();
            if n < 2 {
                continue;
            }
            let key = Key::from_raw(raw);
            let strength = linking.strength.get(key.kind());
            let mut members: Vec<u32> = if h.judged < 2 {
                if n as f64 > linking.rare.get(key.kind()) || strength < 1.0 {
                    continue;
                }
                h.accounts.to_vec()
            } else if h.suspicious as f64 >= linking.suspicious_share * h.judged as f64 {
                h.accounts
                    .iter()
                    .copied()
                    .filter(|&m| {
                        let j = judged[m as usize];
                        if j.judged {
                            j.suspicious
                        } else {
                            strength >= 1.0
                        }
                    })
                    .collect()
            } else {
                continue;
            };
            // Two accounts opened in the same hour, or sharing one network, may be chance;
            // a key that is not an operator's by itself links three or more.
            if members.len() < if strength >= 1.0 { 2 } else { 3 } {
                continue;
            }
            members.sort_unstable();
            shared.push(SharedKey { key, members });
        }

        let mut parent: HashMap<u32, u32> = HashMap::default();
        let mut fit: HashMap<u32, f64> = HashMap::default();
        for s in &shared {
            let strength = linking.strength.get(s.key.kind());
            for &m in &s.members {
                union(&mut parent, s.members[0], m);
                *fit.entry(m).or_default() += strength;
            }
        }
        let mut root = HashMap::with_capacity_and_hasher(parent.len(), Default::default());
        let mut clusters: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        let mut linked: Vec<u32> = parent.keys().copied().collect();
        linked.sort_unstable();
        for m in linked {
            let r = find(&mut parent, m);
            root.insert(m, r);
            clusters.entry(r).or_default().push(m);
        }
        Links {
            shared,
            clusters,
            root,
            fit,
        }
    }
}

/// Union-find with path halving over the linked accounts only; the smaller index becomes
/// the root, so a cluster is named by its earliest account.
fn find(parent: &mut HashMap<u32, u32>, mut i: u32) -> u32 {
    loop {
        let p = *parent.entry(i).or_insert(i);
        if p == i {
            return i;
        }
        let grand = *parent.entry(p).or_insert(p);
        parent.insert(i, grand);
        i = grand;
    }
}

fn union(parent: &mut HashMap<u32, u32>, a: u32, b: u32) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        let (low, high) = if ra < rb { (ra, rb) } else { (rb, ra) };
        parent.insert(high, low);
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
        let mut judged = Vec::new();
        // Three new accounts share a card; thirty ordinary ones and one suspicious one
        // share a NAT address.
        for i in 0..3 {
            index.update(i, vec![card], NEW);
            judged.push(NEW);
        }
        for i in 3..34 {
            let j = if i == 3 { BAD } else { GOOD };
            index.update(i, vec![nat], j);
            judged.push(j);
        }
        let links = index.link(&judged, &config);
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
        let mut judged = Vec::new();
        for i in 0..20u32 {
            let j = if i == 7 { GOOD } else { BAD };
            index.update(i, sorted(vec![template, system]), j);
            judged.push(j);
        }
        let links = index.link(&judged, &config);
        assert_eq!(links.clusters[&0].len(), 19);
        assert!(!links.root.contains_key(&7));
        assert_eq!(links.fit[&0], 1.0);
        // Judged again as ordinary, most of them: the keys stop linking.
        for i in 0..15u32 {
            index.update(i, sorted(vec![template, system]), GOOD);
            judged[i as usize] = GOOD;
        }
        assert!(index.link(&judged, &config).clusters.is_empty());
        // An account that drops a key leaves its holders.
        index.update(0, vec![], GOOD);
        assert_eq!(index.holders[&template].accounts.len(), 19);
    }
}
