//! Small fixed-size sketches that merge: the building blocks of account state.

/// Misra–Gries heavy hitters over `u64` keys with `K` counters: any key seen in more than
/// `1/(K+1)` of the updates keeps a counter. Fixed size; deterministic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Top<const K: usize> {
    keys: [u64; K],
    counts: [u32; K],
    /// Updates counted.
    updates: u32,
}

impl<const K: usize> Default for Top<K> {
    fn default() -> Self {
        Self {
            keys: [0; K],
            counts: [0; K],
            updates: 0,
        }
    }
}

// Written as its two lists and its count of updates; read back only when each list holds
// `K` entries.
impl<const K: usize> serde::Serialize for Top<K> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(
            &(&self.keys[..], &self.counts[..], self.updates),
            serializer,
        )
    }
}

impl<'de, const K: usize> serde::Deserialize<'de> for Top<K> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (keys, counts, updates): (Vec<u64>, Vec<u32>, u32) =
            serde::Deserialize::deserialize(deserializer)?;
        let wrong = || serde::de::Error::custom(format!("a sketch of {K} counters"));
        Ok(Self {
            keys: keys.try_into().map_err(|_| wrong())?,
            counts: counts.try_into().map_err(|_| wrong())?,
            updates,
        })
    }
}

impl<const K: usize> Top<K> {
    /// Counts one occurrence of `key`.
    pub fn add(&mut self, key: u64) {
        self.updates = self.updates.saturating_add(1);
        if let Some(i) = (0..K).find(|&i| self.counts[i] > 0 && self.keys[i] == key) {
            self.counts[i] = self.counts[i].saturating_add(1);
        } else if let Some(i) = (0..K).find(|&i| self.counts[i] == 0) {
            self.keys[i] = key;
            self.counts[i] = 1;
        } else {
            for c in &mut self.counts {
                *c -= 1;
            }
        }
    }

    /// Whether the updates are spread over many keys, none standing out: the counters hold
    /// under a quarter of them (each update of a key without a counter takes one from every
    /// counter; with two counters, one key in half of the updates among others each seen
    /// once keeps a quarter). False before any update.
    pub fn spread(&self) -> bool {
        let held: u64 = self.counts.iter().map(|&c| u64::from(c)).sum();
        self.updates > 0 && 4 * held < u64::from(self.updates)
    }

    /// The keys whose counter is at least `min`, with their counts.
    pub fn frequent(&self, min: u32) -> impl Iterator<Item = (u64, u32)> + '_ {
        (0..K)
            .filter(move |&i| self.counts[i] >= min.max(1))
            .map(|i| (self.keys[i], self.counts[i]))
    }
}

/// Running mean and variance (Welford), mergeable (Chan et al.).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Moments {
    /// How many values.
    pub n: u32,
    mean: f64,
    m2: f64,
}

impl Moments {
    /// Adds one value.
    pub fn add(&mut self, x: f64) {
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
    }

    /// Folds `other` in, as if its values had been added here.
    pub fn merge(&mut self, other: &Moments) {
        if other.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = *other;
            return;
        }
        let n = self.n as f64 + other.n as f64;
        let delta = other.mean - self.mean;
        self.mean += delta * other.n as f64 / n;
        self.m2 += other.m2 + delta * delta * self.n as f64 * other.n as f64 / n;
        self.n += other.n;
    }

    /// The mean (0 when empty).
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// The population standard deviation (0 when empty).
    pub fn std_dev(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            (self.m2 / self.n as f64).max(0.0).sqrt()
        }
    }

    /// Standard deviation over mean; `None` when the mean is 0.
    pub fn variation(&self) -> Option<f64> {
        (self.mean.abs() > f64::EPSILON).then(|| self.std_dev() / self.mean.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heavy_hitters_keep_the_frequent_key_among_noise() {
        let mut top = Top::<2>::default();
        for i in 0..1000u64 {
            top.add(if i % 2 == 0 { 7 } else { 1000 + i });
        }
        let frequent: Vec<_> = top.frequent(100).collect();
        assert_eq!(frequent.len(), 1);
        assert_eq!(frequent[0].0, 7);
        let mut noise = Top::<2>::default();
        for i in 0..1000u64 {
            noise.add(i);
        }
        assert_eq!(noise.frequent(2).count(), 0);
        // A key in half of the updates: not spread; no key standing out: spread.
        assert!(!top.spread());
        assert!(noise.spread());
        assert!(!Top::<2>::default().spread());
    }

    #[test]
    fn moments_merge_like_one_stream() {
        let values: Vec<f64> = (0..50).map(|i| ((i * 37) % 11) as f64).collect();
        let mut all = Moments::default();
        values.iter().for_each(|&v| all.add(v));
        let (mut a, mut b) = (Moments::default(), Moments::default());
        values[..17].iter().for_each(|&v| a.add(v));
        values[17..].iter().for_each(|&v| b.add(v));
        a.merge(&b);
        assert_eq!(a.n, all.n);
        assert!((a.mean() - all.mean()).abs() < 1e-9);
        assert!((a.std_dev() - all.std_dev()).abs() < 1e-9);
    }
}
