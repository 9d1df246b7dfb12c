//! The simulation: actors in event-time order, one exchange at a time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use moat_core::Exchange;

use crate::actor::Actor;
use crate::scenario::Scenario;
use crate::text::Corpus;
use crate::world::{Build, TruthRow, World, build};

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
    queue: BinaryHeap<Reverse<(i64, u32)>>,
    end: i64,
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
        let mut queue = BinaryHeap::with_capacity(scheduled.len());
        for (i, (actor, t)) in scheduled.into_iter().enumerate() {
            actors.push(actor);
            queue.push(Reverse((t, i as u32)));
        }
        Self {
            world,
            actors,
            queue,
            end,
        }
    }

    /// What every account really is. Complete once the iterator has ended (campaigns open
    /// replacement accounts as they go).
    pub fn truth(&self) -> &[TruthRow] {
        &self.world.truth
    }
}

impl Iterator for Simulation {
    type Item = Exchange;

    fn next(&mut self) -> Option<Exchange> {
        let Reverse((t, i)) = self.queue.pop()?;
        let (exchange, next) = self.actors[i as usize].step(t, &mut self.world);
        if let Some(next) = next.filter(|n| *n < self.end) {
            self.queue.push(Reverse((next.max(t), i)));
        }
        Some(exchange)
    }
}
