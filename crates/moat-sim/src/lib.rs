//! moat's traffic simulator: realistic model-API traffic with distillation campaigns hidden
//! in it, and the ground truth to measure a detector against.
//!
//! A [`Scenario`] (TOML; built-in ones ship inside) describes a benign population and the
//! campaigns; a [`Simulation`] runs it as an iterator of [`Exchange`](moat_core::Exchange)s in
//! event-time order, and its [`truth`](Simulation::truth) says which account is what.

mod actor;
mod build;
pub mod eval;
mod identity;
pub mod peer;
mod rhythm;
mod scenario;
mod sim;
pub mod text;
mod world;

pub use eval::{Carried, Evaluation, MixedResult, Origin, Scored};
pub use peer::PeerInputs;
pub use scenario::{
    BUILT_IN, CampaignSpec, Evasion, Mix, Models, Population, Scenario, ScenarioError,
};
pub use sim::{SimOptions, Simulation};
pub use world::TruthRow;
