//! Euclidean locality-sensitive hashing: random projections that put near fingerprints in
//! the same bucket, so the search compares only accounts that share one.

use super::{DIMS, Fingerprint};

/// Random directions and offsets, fixed: the same fingerprints always hash alike.
pub(super) struct Projections {
    directions: Vec<Fingerprint>,
    offsets: Vec<f32>,
    width: f32,
}

impl Projections {
    pub(super) fn new(count: usize, width: f32) -> Self {
        // Fixed: the same fingerprints hash into the same buckets in every run and after
        // every restart.
        let mut state = 0x6d6f_6174_6c69_6b65u64;
        let mut uniform = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let mut directions = Vec::with_capacity(count);
        let mut offsets = Vec::with_capacity(count);
        for _ in 0..count {
            let mut d = [0.0; DIMS];
            for x in &mut d {
                // Box–Muller: a standard normal from two uniforms.
                let (u, v) = (uniform(), uniform());
                *x = ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32;
            }
            directions.push(d);
            offsets.push(uniform() as f32 * width);
        }
        Self {
            directions,
            offsets,
            width,
        }
    }

    /// The cell of projection `j` that `z` falls in.
    pub(super) fn cell(&self, j: usize, z: &Fingerprint) -> i64 {
        let dot: f32 = self.directions[j].iter().zip(z).map(|(a, b)| a * b).sum();
        ((dot + self.offsets[j]) / self.width).floor() as i64
    }
}
