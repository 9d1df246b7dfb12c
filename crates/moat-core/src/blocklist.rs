//! The keys of blocked campaigns. An exchange that carries enough of them is the campaign
//! come back under another account, and is blocked before any round links it.

use foldhash::HashMap;

use smallvec::SmallVec;

use crate::config::KindTable;
use crate::content::ContentSignals;
use crate::exchange::Exchange;
use crate::keys::{Carried, Key, KeyKind};

/// The keys an exchange carries, as a list small enough for the stack.
pub type ExchangeKeys = SmallVec<[Key; 32]>;

/// Link keys of blocked campaigns, each with the campaign's root account.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Blocklist {
    keys: HashMap<u64, u32>,
}

impl Blocklist {
    /// No key is blocked.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many keys are blocked.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// The root accounts of the blocked campaigns, each once, lowest first.
    pub fn roots(&self) -> Vec<u32> {
        let mut roots: Vec<u32> = self.keys.values().copied().collect();
        roots.sort_unstable();
        roots.dedup();
        roots
    }

    pub(crate) fn clear(&mut self) {
        self.keys.clear();
    }

    pub(crate) fn insert(&mut self, key: Key, root: u32) {
        self.keys.insert(key.raw(), root);
    }

    /// Adds to `out` the link keys one exchange carries on its own: network, client
    /// software, account facts, system prompt and template bands.
    pub fn exchange_keys(e: &Exchange, content: &ContentSignals, out: &mut ExchangeKeys) {
        let carried = Carried::of(e, content);
        out.extend(carried.keys());
        out.extend(carried.account.iter());
    }

    /// The blocked campaign (its root account) whose keys among `found` are worth a full
    /// link: the strengths of the kinds matched, one key per kind, add up to at least 1, so
    /// templates alone never suffice. Ties go to the lowest root.
    pub fn matching(&self, found: &[Key], strength: &KindTable) -> Option<u32> {
        if self.keys.is_empty() {
            return None;
        }
        // Each (campaign, kind) counts once, first met in key order, as if `found` had been
        // sorted: only the few keys that match are.
        let mut hits: SmallVec<[(u64, u32, KeyKind); 8]> = found
            .iter()
            .filter_map(|k| Some((k.raw(), *self.keys.get(&k.raw())?, k.kind())))
            .collect();
        hits.sort_unstable();
        let mut matched: SmallVec<[(u32, KeyKind); 8]> = SmallVec::new();
        for (_, root, kind) in hits {
            if !matched.contains(&(root, kind)) {
                matched.push((root, kind));
            }
        }
        matched
            .iter()
            .map(|&(root, _)| {
                let fit: f64 = matched
                    .iter()
                    .filter(|m| m.0 == root)
                    .map(|m| strength.get(m.1))
                    .sum();
                (root, fit)
            })
            .filter(|&(_, fit)| fit >= 1.0)
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(root, _)| root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Linking;

    fn key(kind: KeyKind, what: &str) -> Key {
        Key::new(kind, what.as_bytes())
    }

    #[test]
    fn keys_worth_a_full_link_match_templates_alone_never() {
        let strength = Linking::default().strength;
        let mut list = Blocklist::default();
        assert_eq!(
            list.matching(&[key(KeyKind::Payment, "pm")], &strength),
            None
        );
        list.insert(key(KeyKind::Payment, "pm"), 7);
        list.insert(key(KeyKind::Template, "band-1"), 7);
        list.insert(key(KeyKind::Template, "band-2"), 7);
        list.insert(key(KeyKind::SystemPrompt, "sys"), 9);
        list.insert(key(KeyKind::EmailDomain, "corp.example"), 9);
        // A card is a full link.
        assert_eq!(
            list.matching(&[key(KeyKind::Payment, "pm")], &strength),
            Some(7)
        );
        // Two template bands are one kind, counted once: never enough.
        let bands = [
            key(KeyKind::Template, "band-1"),
            key(KeyKind::Template, "band-2"),
        ];
        assert_eq!(list.matching(&bands, &strength), None);
        // Kinds add up: a system prompt and an e-mail domain make a full link.
        let both = [
            key(KeyKind::SystemPrompt, "sys"),
            key(KeyKind::EmailDomain, "corp.example"),
        ];
        assert_eq!(list.matching(&both, &strength), Some(9));
        // Keys of no blocked campaign match nothing.
        assert_eq!(
            list.matching(&[key(KeyKind::Payment, "other")], &strength),
            None
        );
        assert_eq!(list.roots(), vec![7, 9]);
        list.clear();
        assert!(list.is_empty());
    }

    #[test]
    fn of_two_campaigns_the_better_fit_wins_and_a_tie_goes_to_the_lowest_root() {
        let strength = Linking::default().strength;
        let mut list = Blocklist::default();
        list.insert(key(KeyKind::Payment, "pm-a"), 3);
        list.insert(key(KeyKind::Ip, "ip-a"), 3);
        list.insert(key(KeyKind::Payment, "pm-b"), 2);
        let found = [
            key(KeyKind::Payment, "pm-b"),
            key(KeyKind::Payment, "pm-a"),
            key(KeyKind::Ip, "ip-a"),
        ];
        assert_eq!(list.matching(&found, &strength), Some(3));
        let tie = [key(KeyKind::Payment, "pm-a"), key(KeyKind::Payment, "pm-b")];
        assert_eq!(list.matching(&tie, &strength), Some(2));
    }
}
