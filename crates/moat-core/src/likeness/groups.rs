//! Groups of alike accounts: accounts linked when far closer than strangers, islands that
//! stand apart from everyone, and the accounts seen few times that join a group's reach.

use foldhash::HashMap;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::config::LikenessConfig;

use super::lsh::Projections;
use super::{
    DIMS, Fingerprint, MAX_WIDEN, Population, TEMPERATURE, VOLUME, distance, is_share,
    volume_measure,
};

/// An account to be compared: its fingerprint in the population's units
/// ([`Population::standard`]) and how many exchanges it rests on.
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    /// The account (an index into the engine's).
    pub account: u32,
    /// Its exchanges.
    pub exchanges: u32,
    /// Its standardised fingerprint.
    pub z: Fingerprint,
}

/// A group of alike accounts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlikeGroup {
    /// Its accounts (indices into the engine's), in order.
    pub members: Vec<u32>,
    /// The mean distance of the links that tied it.
    pub distance: f32,
}

/// Groups the `candidates` (in account order) whose fingerprints lie within
/// `population.cut` of each other, directly or through other members; groups of fewer than
/// `min_members` are left out. `joiners` (accounts too little suspicious on their own to
/// found a group) may only join a group found, as candidates left out of every group do.
pub fn groups(
    candidates: &[Candidate],
    joiners: &[Candidate],
    population: &Population,
    config: &LikenessConfig,
    min_members: usize,
) -> Vec<AlikeGroup> {
    let n = candidates.len();
    let mut parent: Vec<usize> = (0..n).collect();
    let mut links: Vec<(usize, usize, f32)> = Vec::new();
    let island_cut = population.cut * config.island_reach as f32;
    let mut wide: Vec<(f32, usize, usize)> = Vec::new();
    let width = (4.0 * population.cut).max(1e-3);
    let bands = config.bands.max(1) as usize;
    let per_band = config.projections.max(1) as usize;
    let projections = Projections::new(bands * per_band, width);
    let mut keyed: Vec<(u64, usize)> = Vec::with_capacity(n);
    for band in 0..bands {
        keyed.clear();
        for (k, Candidate { z, .. }) in candidates.iter().enumerate() {
            let mut key = band as u64;
            for j in band * per_band..(band + 1) * per_band {
                key = xxh3_64_with_seed(&projections.cell(j, z).to_le_bytes(), key);
            }
            keyed.push((key, k));
        }
        keyed.sort_unstable();
        for bucket in keyed.chunk_by(|a, b| a.0 == b.0) {
            for (i, &(_, a)) in bucket.iter().enumerate() {
                for &(_, b) in bucket.iter().skip(i + 1).take(config.peers as usize) {
                    let d = distance(&candidates[a].z, &candidates[b].z);
                    if d <= island_cut {
                        wide.push((d, a, b));
                    }
                    if d <= population.cut {
                        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
                        if ra != rb {
                            parent[ra.max(rb)] = ra.min(rb);
                            links.push((a, b, d));
                        }
                    }
                }
            }
        }
    }
    let mut by_root: HashMap<usize, (Vec<u32>, f32, u32)> = HashMap::default();
    for (k, c) in candidates.iter().enumerate() {
        let root = find(&mut parent, k);
        by_root.entry(root).or_default().0.push(c.account);
    }
    for (a, _, d) in links {
        let root = find(&mut parent, a);
        let entry = by_root.get_mut(&root).expect("every root has members");
        entry.1 += d;
        entry.2 += 1;
    }
    let mut groups: Vec<(AlikeGroup, Vec<usize>)> = Vec::new();
    let mut grouped = vec![false; n];
    for k in 0..n {
        let root = find(&mut parent, k);
        if root == k {
            let (members, sum, count) = &by_root[&root];
            if members.len() >= min_members {
                groups.push((
                    AlikeGroup {
                        members: members.clone(),
                        distance: sum / (*count).max(1) as f32,
                    },
                    Vec::new(),
                ));
            }
        }
    }
    let index: HashMap<u32, usize> = candidates
        .iter()
        .enumerate()
        .map(|(k, c)| (c.account, k))
        .collect();
    for (g, at) in &mut groups {
        *at = g.members.iter().map(|m| index[m]).collect();
        at.iter().for_each(|&k| grouped[k] = true);
    }
    let shape = IslandShape {
        min_members,
        margin: config.island_margin as f32,
        reach: island_cut,
    };
    for (g, at) in islands(candidates, joiners, wide, &grouped, &shape) {
        at.iter().for_each(|&k| grouped[k] = true);
        groups.push((g, at));
    }
    join_nearest(candidates, &mut groups, &grouped, population);
    let none = vec![false; joiners.len()];
    join_nearest_of(candidates, joiners, &mut groups, &none, population);
    let mut groups: Vec<AlikeGroup> = groups
        .into_iter()
        .map(|(mut g, _)| {
            g.members.sort_unstable();
            g
        })
        .collect();
    groups.sort_by_key(|g| g.members[0]);
    groups
}

/// The largest share of the accounts compared an island may hold: most of them are not
/// an island but the population itself.
pub(super) const ISLAND_MAX_SHARE: f32 = 0.1;

/// What makes an island (see [`islands`]).
pub(super) struct IslandShape {
    /// Fewest members.
    min_members: usize,
    /// No other account may lie within this multiple of its longest link of any of its
    /// members.
    margin: f32,
    /// The longest link within an island.
    reach: f32,
}

/// The islands among the candidates left out of every group: at least `min_members` of
/// them, tied by links of `wide` (pairs of candidates and their distance, in any order),
/// that stand apart: no other account (candidate or joiner) lies within `margin` times
/// their longest link of any of them, and they are at most [`ISLAND_MAX_SHARE`] of the
/// accounts compared. A small operation whose accounts are spread too far apart to be
/// alike by the population's measure still stands apart from the customers; customers who
/// look alike stand among others who look like them.
pub(super) fn islands(
    candidates: &[Candidate],
    joiners: &[Candidate],
    mut wide: Vec<(f32, usize, usize)>,
    grouped: &[bool],
    shape: &IslandShape,
) -> Vec<(AlikeGroup, Vec<usize>)> {
    let n = candidates.len();
    let mut parent: Vec<usize> = (0..n).collect();
    // Per root: its longest link, and the sum and count of its links.
    let mut tied: Vec<(f32, f32, u32)> = vec![(0.0, 0.0, 0); n];
    wide.retain(|&(_, a, b)| !grouped[a] && !grouped[b]);
    wide.sort_by(|x, y| x.0.total_cmp(&y.0));
    for (d, a, b) in wide {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra != rb {
            let (root, other) = (ra.min(rb), ra.max(rb));
            parent[other] = root;
            let (x, y) = (tied[root], tied[other]);
            tied[root] = (d.max(x.0).max(y.0), x.1 + y.1 + d, x.2 + y.2 + 1);
        }
    }
    let root: Vec<usize> = (0..n).map(|k| find(&mut parent, k)).collect();
    let mut members: HashMap<usize, Vec<usize>> = HashMap::default();
    for k in (0..n).filter(|&k| !grouped[k]) {
        members.entry(root[k]).or_default().push(k);
    }
    let compared = (candidates.len() + joiners.len()) as f32;
    let mut found: Vec<(AlikeGroup, Vec<usize>)> = members
        .into_iter()
        .filter(|(_, at)| {
            at.len() >= shape.min_members && at.len() as f32 <= ISLAND_MAX_SHARE * compared
        })
        .filter_map(|(island, at)| {
            let others = candidates
                .iter()
                .enumerate()
                .filter(|(k, _)| root[*k] != island)
                .map(|(_, c)| c);
            let absorbed = stands_apart(candidates, &at, tied[island].0, others, joiners, shape)?;
            let (_, sum, count) = tied[island];
            let mut members: Vec<u32> = at.iter().map(|&k| candidates[k].account).collect();
            members.extend(absorbed);
            let group = AlikeGroup {
                members,
                distance: sum / count.max(1) as f32,
            };
            Some((group, at))
        })
        .collect();
    found.sort_by_key(|(g, _)| g.members[0]);
    found
}

/// Whether the island of `candidates[at]`, whose longest link is `longest`, stands apart
/// from the `founders` outside it and the `joiners`: no one lies within the shape's margin
/// times its longest link of any of its members. A few joiners that do (at most half as
/// many as its members, each within the island's reach) are taken in when the island so
/// grown stands apart in turn, by its new longest link: an operation's accounts not yet
/// suspicious enough to found a group lie near its island, and nobody else does, where a
/// crowd of customers who look alike has more of them around it. Returns the accounts taken
/// in, `None` where it does not stand apart.
fn stands_apart<'a>(
    candidates: &[Candidate],
    at: &[usize],
    longest: f32,
    founders: impl Iterator<Item = &'a Candidate> + Clone,
    joiners: &[Candidate],
    shape: &IslandShape,
) -> Option<Vec<u32>> {
    let nearest = |o: &Candidate| {
        at.iter()
            .map(|&k| distance(&o.z, &candidates[k].z))
            .fold(f32::INFINITY, f32::min)
    };
    // Joiners taken in, with their distance from the island as it stood.
    let mut close: Vec<(usize, f32)> = Vec::new();
    let mut longest = longest;
    loop {
        let near = shape.margin * longest;
        let within = |o: &Candidate, close: &[(usize, f32)]| {
            nearest(o) <= near
                || close
                    .iter()
                    .any(|&(j, _)| distance(&o.z, &joiners[j].z) <= near)
        };
        if founders.clone().any(|o| within(o, &close)) {
            return None;
        }
        let mut grew = false;
        for (j, o) in joiners.iter().enumerate() {
            if close.iter().any(|&(c, _)| c == j) || !within(o, &close) {
                continue;
            }
            let d = close
                .iter()
                .map(|&(c, _)| distance(&o.z, &joiners[c].z))
                .fold(nearest(o), f32::min);
            if d > shape.reach || 2 * (close.len() + 1) > at.len() {
                return None;
            }
            close.push((j, d));
            grew = true;
        }
        if !grew {
            break;
        }
        longest = close.iter().fold(longest, |l, &(_, d)| l.max(d));
    }
    Some(close.iter().map(|&(j, _)| joiners[j].account).collect())
}

/// Gives each candidate left out of every group to the group it fits best, if it fits
/// that group as well as nine in ten of the group's own members do, by either measure of
/// [`Reach`].
pub(super) fn join_nearest(
    candidates: &[Candidate],
    groups: &mut [(AlikeGroup, Vec<usize>)],
    grouped: &[bool],
    population: &Population,
) {
    join_nearest_of(candidates, candidates, groups, grouped, population)
}

pub(super) fn join_nearest_of(
    candidates: &[Candidate],
    joining: &[Candidate],
    groups: &mut [(AlikeGroup, Vec<usize>)],
    grouped: &[bool],
    population: &Population,
) {
    let reach: Vec<Option<Reach>> = groups
        .iter()
        .map(|(_, at)| Some(Reach::of(candidates, at, population)))
        .collect();
    for (k, c) in joining.iter().enumerate() {
        if grouped[k] {
            continue;
        }
        if let Some(g) = best_fit(&reach, c) {
            groups[g].0.members.push(c.account);
        }
    }
}

/// Gives each of `joiners` to the group it fits best, as a search does, between two
/// searches: the reach of `groups[g]` is read off `founders[g]`, its members that could
/// found a group (a group without them takes no one).
pub fn join(
    groups: &mut [AlikeGroup],
    founders: &[Vec<Candidate>],
    joiners: &[Candidate],
    population: &Population,
) {
    let reach: Vec<Option<Reach>> = founders
        .iter()
        .map(|f| {
            let at: Vec<usize> = (0..f.len()).collect();
            (!f.is_empty()).then(|| Reach::of(f, &at, population))
        })
        .collect();
    for c in joiners {
        if let Some(g) = best_fit(&reach, c) {
            let members = &mut groups[g].members;
            if let Err(at) = members.binary_search(&c.account) {
                members.insert(at, c.account);
            }
        }
    }
}

/// The group whose reach `c` fits best, if it fits one ([`Reach::fit_ratio`] of 1 or
/// less).
fn best_fit(reach: &[Option<Reach>], c: &Candidate) -> Option<usize> {
    reach
        .iter()
        .enumerate()
        .filter_map(|(g, r)| Some((g, r.as_ref()?.fit_ratio(c))))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .filter(|&(_, ratio)| ratio <= 1.0)
        .map(|(g, _)| g)
}

/// Where a group's accounts lie (in the population's units), read two ways; an account
/// fits the group when it lies as close as nine in ten of the group's own members by
/// either:
///
/// - its distance from the group's centre, against the distance within which nine in ten
///   members lie (the `radius`), widened for an account seen fewer times than the group's
///   usual member (by the square root of the ratio, at most [`MAX_WIDEN`] times);
/// - its misfit: its squared distance from the centre measure by measure, in units of the
///   group's spread there (a diagonal Mahalanobis distance), so a group tight in its
///   reasoning share and loose in its volume weighs the first. For an account seen fewer
///   times than the usual member, the spread of each share (and of the mean temperature)
///   is widened by the variance those fewer exchanges add, and its volume per day is
///   compared with the most that many exchanges can show: a few exchanges in the group's
///   proportions fit, a few ordinary ones do not.
pub(super) struct Reach {
    centre: Fingerprint,
    radius: f32,
    /// Per measure, the variance of the members about the centre.
    variance: Fingerprint,
    /// Per mean over exchanges (the shares, the temperature), the most variance one
    /// exchange adds to it, `p (1 - p)` at the centre's mean `p` (in the population's
    /// units); 0 for the other measures.
    noise: Fingerprint,
    usual: f32,
    fit: f32,
    /// The population's centre and scale of the volume measure, to read a volume in its
    /// units.
    volume: (f32, f32),
}

/// The smallest spread (standard deviation) of a measure within a group, as read (before
/// the population's units): no group is tighter than this.
pub(super) const GROUP_SPREAD_FLOOR: f32 = 0.03;

impl Reach {
    fn of(candidates: &[Candidate], at: &[usize], population: &Population) -> Self {
        let m = at.len() as f32;
        let mut centre = [0.0; DIMS];
        for &k in at {
            for (c, x) in centre.iter_mut().zip(&candidates[k].z) {
                *c += x / m;
            }
        }
        let mut variance = [0.0; DIMS];
        for &k in at {
            for (s, (x, c)) in variance.iter_mut().zip(candidates[k].z.iter().zip(&centre)) {
                *s += (x - c).powi(2) / m;
            }
        }
        for (s, scale) in variance.iter_mut().zip(&population.scale) {
            *s = s.max((GROUP_SPREAD_FLOOR * scale).powi(2));
        }
        let mut seen: Vec<u32> = at.iter().map(|&k| candidates[k].exchanges).collect();
        seen.sort_unstable();
        let mut distances: Vec<f32> = at
            .iter()
            .map(|&k| distance(&centre, &candidates[k].z))
            .collect();
        distances.sort_by(f32::total_cmp);
        let mut reach = Reach {
            centre,
            radius: distances[(distances.len() - 1) * 9 / 10].max(population.cut),
            variance,
            noise: per_exchange_noise(&population.raw(&centre), population),
            volume: (population.centre[VOLUME], population.scale[VOLUME]),
            usual: seen[seen.len() / 2].max(1) as f32,
            fit: 0.0,
        };
        let mut misfits: Vec<f32> = at
            .iter()
            .map(|&k| reach.misfit(&candidates[k], f32::INFINITY))
            .collect();
        misfits.sort_by(f32::total_cmp);
        reach.fit = misfits[(misfits.len() - 1) * 9 / 10].max(f32::MIN_POSITIVE);
        reach
    }

    /// How far `c` lies from the group against how far its members do, by the closer of
    /// the two measures: it fits at 1 or less.
    fn fit_ratio(&self, c: &Candidate) -> f32 {
        let widen = (self.usual / c.exchanges.max(1) as f32)
            .sqrt()
            .clamp(1.0, MAX_WIDEN);
        let near = distance(&self.centre, &c.z) / (self.radius * widen);
        if near <= 1.0 {
            return near;
        }
        near.min(self.misfit(c, self.fit) / self.fit)
    }

    /// The misfit of `c`, given up (and returned as it stands) once past `enough`.
    fn misfit(&self, c: &Candidate, enough: f32) -> f32 {
        let fewer = (1.0 / c.exchanges.max(1) as f32 - 1.0 / self.usual).max(0.0);
        // An account of fewer exchanges than the group makes in a day cannot show the
        // group's volume: it is compared with the most it could show, all on one day.
        let (population_centre, scale) = self.volume;
        let most = (volume_measure(c.exchanges as f32) - population_centre) * scale;
        let mut sum = 0.0;
        for d in 0..DIMS {
            let variance = self.variance[d] + self.noise[d] * fewer;
            let centre = if d == VOLUME {
                self.centre[d].min(most)
            } else {
                self.centre[d]
            };
            sum += (c.z[d] - centre).powi(2) / variance;
            if sum > enough {
                break;
            }
        }
        sum
    }
}

/// The variance one exchange adds, at most, to each mean over exchanges of `means`, in
/// the population's units: `p (1 - p)` for a mean `p` of values from 0 to 1 (a share's
/// binomial variance, and the most any such values can vary).
pub(super) fn per_exchange_noise(means: &Fingerprint, population: &Population) -> Fingerprint {
    let mut noise = [0.0; DIMS];
    for d in (0..DIMS).filter(|&d| is_share(d) || d == TEMPERATURE) {
        let p = means[d].clamp(0.02, 0.98);
        noise[d] = population.scale[d].powi(2) * p * (1.0 - p);
    }
    noise
}

pub(super) fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}
