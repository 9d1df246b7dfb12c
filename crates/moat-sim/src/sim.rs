//! The simulation: actors in event-time order, one exchange at a time.

use std::cmp::Reverse;
use std::sync::Arc;

use moat_core::Exchange;
use radix_heap::RadixHeapMap;

use crate::actor::Actor;
use crate::build::{Build, build};
use crate::scenario::Scenario;
use crate::text::Corpus;
use crate::world::{TruthRow, World};

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Multiplies the scenario's account counts (1 is the real size).
    pub scale: f64,
    /// Same seed, same output, byte for byte.
    pub seed: u64,
    /// Prompts to draw from instead of the built-in grammars, if any.
    pub corpus: Option<Arc<Corpus>>,
    /// Seeds the campaigns' operators (their proxy pools, cards, clients, domains and
    /// templates) apart from the population: two simulations with different seeds and one
    /// operator seed hold the same operator, moving from one provider to another. `None`:
    /// the seed.
    pub operator_seed: Option<u64>,
}

/// A running simulation: an iterator of exchanges in event-time order. Memory grows with
/// the number of accounts, never with the number of exchanges.
pub struct Simulation {
    world: World,
    actors: Vec<Actor>,
    /// Each actor's next exchange, by (time, actor). Times only move forward, so a radix
    /// heap does: pushes append to a bucket and pops sweep buckets in order, which stays fast
    /// when a million actors wait in it (a binary heap's pops wander over all of them).
    queue: RadixHeapMap<Reverse<(i64, u32)>, ()>,
    /// The entry after the one being stepped, taken from the queue early so that its actor
    /// is on its way into the cache while this one works (at a million actors, fetching an
    /// actor's state from memory is much of a step's cost).
    ahead: Option<(i64, u32)>,
    end: i64,
    /// Whether the exchange last made came from a campaign.
    from_campaign: bool,
}

impl Simulation {
    /// Sets the scenario up: builds its accounts and schedules their first exchanges.
    pub fn new(scenario: &Scenario, options: &SimOptions) -> Self {
        let (world, scheduled, end) = build(Build {
            scenario,
            scale: options.scale,
            seed: options.seed,
            operator_seed: options.operator_seed.unwrap_or(options.seed),
            corpus: options.corpus.clone(),
        });
        let mut actors = Vec::with_capacity(scheduled.len());
        let mut queue = RadixHeapMap::new();
        for (i, (actor, t)) in scheduled.into_iter().enumerate() {
            actors.push(actor);
            queue.push(Reverse((t, i as u32)), ());
        }
        Self {
            world,
            actors,
            queue,
            ahead: None,
            end,
            from_campaign: false,
        }
    }

    /// What every account really is. Complete once the iterator has ended (campaigns open
    /// replacement accounts as they go).
    pub fn truth(&self) -> &[TruthRow] {
        &self.world.truth
    }

    /// Whether the exchange last made came from a campaign (ground truth, for measuring
    /// what was stopped of a reseller's traffic).
    pub fn from_campaign(&self) -> bool {
        self.from_campaign
    }
}

impl Iterator for Simulation {
    type Item = Exchange;

    fn next(&mut self) -> Option<Exchange> {
        let mut exchange = Exchange::default();
        self.next_into(&mut exchange).then_some(exchange)
    }
}

impl Simulation {
    /// Writes the next exchange over `exchange`, reusing its strings: a writer that hands
    /// its records back makes traffic without allocating. False at the end.
    pub fn next_into(&mut self, exchange: &mut Exchange) -> bool {
        let Some((t, i)) = self.ahead.take().or_else(|| self.pop()) else {
            return false;
        };
        self.ahead = self.pop();
        if let Some((_, j)) = self.ahead {
            prefetch(&self.actors[j as usize]);
        }
        let actor = &mut self.actors[i as usize];
        let next = actor.step(t, &mut self.world, exchange);
        self.from_campaign = matches!(actor.behaviour, crate::actor::Behaviour::Campaign(_));
        self.world
            .count_mixed(&exchange.account_id, self.from_campaign);
        if let Some(next) = next.filter(|n| *n < self.end) {
            let entry = (next.max(t), i);
            match self.ahead {
                // The queue's last entry out is `ahead`: only what comes after it may go in.
                Some(ahead) if entry < ahead => {
                    self.queue.push(Reverse(ahead), ());
                    self.ahead = Some(entry);
                }
                _ => self.queue.push(Reverse(entry), ()),
            }
        }
        true
    }

    fn pop(&mut self) -> Option<(i64, u32)> {
        self.queue.pop().map(|(Reverse(entry), ())| entry)
    }
}

/// Asks the processor to bring `value` into its cache without waiting for it.
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let start = std::ptr::from_ref(value).cast::<i8>();
        for offset in (0..size_of::<T>()).step_by(64) {
            // SAFETY: a prefetch is a hint that never faults and changes nothing the program
            // can observe; the addresses lie within `value` besides.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(offset)) };
        }
    }
}
