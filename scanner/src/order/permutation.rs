//! A seeded pseudo-random order of the index space `0..len`, split into parts the way ZMap
//! splits its cycle between shards and sender threads.
//!
//! As in ZMap (`src/cyclic.c`), the order is a walk around the cyclic multiplicative group
//! modulo a prime `p > len`: starting from an element `start`, each step multiplies by a
//! primitive root `g`, so the walk visits every element of `1..p` exactly once before it comes
//! back. Element `e` stands for index `e - 1`; the few elements with `e - 1 >= len` are skipped.
//! The walk keeps no record of what it has visited, and each step costs one multiplication
//! modulo `p`.
//!
//! The seed picks `g` and `start` through a SplitMix64 generator written out below, so a
//! (len, seed) pair gives the same order on every build, whatever `rand` version is linked.

use std::iter::FusedIterator;

use thiserror::Error;

/// A pseudo-random bijection of `0..len`, fixed by `(len, seed)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permutation {
    len: u64,
    /// The smallest prime above `len`; the group is `1..prime` under multiplication.
    prime: u64,
    /// A primitive root modulo `prime`: its powers reach every element of the group.
    generator: u64,
    /// The element at position 0 of the cycle.
    start: u64,
}

impl Permutation {
    /// The largest `len` accepted: far above the 2^48 probes a scan can have, and low enough
    /// that `prime` and its arithmetic stay inside `u64`.
    pub const MAX_LEN: u64 = 1 << 62;

    /// The order of `0..len` for `seed`.
    ///
    /// # Panics
    /// If `len > Permutation::MAX_LEN`.
    pub fn new(len: u64, seed: u64) -> Self {
        assert!(
            len <= Self::MAX_LEN,
            "index space of {len} is larger than {}",
            Self::MAX_LEN
        );
        let prime = next_prime_above(len);
        let group_order_factors = distinct_prime_factors(prime - 1);
        let mut rng = SplitMix64::new(seed);
        // A fraction phi(p-1)/(p-1) of the elements are primitive roots, more than 1/8 for any
        // p below 2^63, so a few draws find one.
        let generator = loop {
            let candidate = 1 + rng.below(prime - 1);
            if is_primitive_root(candidate, prime, &group_order_factors) {
                break candidate;
            }
        };
        let start = 1 + rng.below(prime - 1);
        Self {
            len,
            prime,
            generator,
            start,
        }
    }

    /// How many indices the permutation orders.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole order: the same as `self.part(Part::WHOLE)`.
    pub fn iter(&self) -> PartWalk {
        self.part(Part::WHOLE)
    }

    /// The indices of one part, in walk order. Parts of the same `count` are disjoint and
    /// together cover `0..len` (see [`Part`]).
    pub fn part(&self, part: Part) -> PartWalk {
        let cycle_len = self.prime - 1;
        let stride = u64::from(part.count);
        let offset = u64::from(part.index);
        // Positions offset, offset + stride, ... below cycle_len.
        let positions = if offset < cycle_len {
            (cycle_len - offset - 1) / stride + 1
        } else {
            0
        };
        let first = mul_mod(
            self.start,
            pow_mod(self.generator, offset, self.prime),
            self.prime,
        );
        PartWalk {
            len: self.len,
            modulus: self.prime,
            factor: pow_mod(self.generator, stride, self.prime),
            first,
            positions,
            current: first,
            positions_left: positions,
            yielded: 0,
        }
    }
}

/// One of `count` interleaved slices of the cycle, ZMap's "sub-shard".
///
/// Part `index` of `count` takes the cycle positions `index, index + count, index + 2*count,
/// ...`: its walk starts at `start * g^index` and steps by `g^count`. This is ZMap's sharding
/// as of 2.1 (`src/shard.c` before commit 0bb01d8, 2017): with `N` shards of `T` sender threads
/// each there are `N*T` parts, and thread `t` of shard `s` runs part `s + t*N`
/// ([`Part::for_shard_thread`]). A shard's threads then cover exactly the positions congruent
/// to `s` modulo `N`, so the indices a shard scans depend only on `(s, N)` and the seed, never
/// on `T`, and machines running different thread counts still split the scan cleanly. (ZMap
/// since 2017 instead gives each sub-shard a contiguous arc of the cycle, numbered
/// `s*T + t`; there a shard's indices do depend on `T`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    index: u32,
    count: u32,
}

/// Why a [`Part`] could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PartError {
    #[error("a scan needs at least one {0}")]
    NoParts(&'static str),
    #[error("{what} {index} does not exist: there are {count} (numbered from 0)")]
    IndexOutOfRange {
        what: &'static str,
        index: u32,
        count: u32,
    },
    #[error("{shards} shards of {threads} threads are too many parts (at most 2^32 - 1)")]
    TooManyParts { shards: u32, threads: u32 },
}

impl Part {
    /// The single part that is the whole cycle.
    pub const WHOLE: Part = Part { index: 0, count: 1 };

    /// Part `index` of `count`.
    pub fn new(index: u32, count: u32) -> Result<Self, PartError> {
        check_index("part", index, count)?;
        Ok(Self { index, count })
    }

    /// The part that sender thread `thread` (of `threads`) of shard `shard` (of `shards`)
    /// walks, numbered as ZMap 2.1 numbers sub-shards: `shard + thread * shards`.
    pub fn for_shard_thread(
        shard: u32,
        shards: u32,
        thread: u32,
        threads: u32,
    ) -> Result<Self, PartError> {
        check_index("shard", shard, shards)?;
        check_index("thread", thread, threads)?;
        let too_many = PartError::TooManyParts { shards, threads };
        let count = shards.checked_mul(threads).ok_or(too_many)?;
        // Cannot overflow: shard < shards and thread <= threads - 1, so the sum is < count.
        Ok(Self {
            index: shard + thread * shards,
            count,
        })
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    pub fn count(&self) -> u32 {
        self.count
    }
}

fn check_index(what: &'static str, index: u32, count: u32) -> Result<(), PartError> {
    if count == 0 {
        return Err(PartError::NoParts(what));
    }
    if index >= count {
        return Err(PartError::IndexOutOfRange { what, index, count });
    }
    Ok(())
}

/// A place in a [`PartWalk`]: what a checkpoint keeps of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WalkState {
    current: u64,
    positions_left: u64,
    /// Indices returned so far.
    pub yielded: u64,
}

/// The indices of one [`Part`], in walk order.
///
/// A clone taken before the walk starts (or [`PartWalk::restarted`] at any time) replays the
/// same indices: to resend the first `k` probes of a part that was stopped after `k`, walk
/// `walk.restarted().take(k)` with `k = walk.yielded()`.
#[derive(Debug, Clone)]
pub struct PartWalk {
    len: u64,
    modulus: u64,
    /// `g^count`: one step within the part skips the other parts' positions.
    factor: u64,
    /// The part's first element, kept so the walk can restart.
    first: u64,
    /// How many cycle positions the part has in all.
    positions: u64,
    current: u64,
    positions_left: u64,
    yielded: u64,
}

impl PartWalk {
    /// How many indices this walk has returned so far.
    pub fn yielded(&self) -> u64 {
        self.yielded
    }

    /// Where the walk is, for a checkpoint.
    pub fn state(&self) -> WalkState {
        WalkState {
            current: self.current,
            positions_left: self.positions_left,
            yielded: self.yielded,
        }
    }

    /// The same part, walked on from `state` (taken of a walk of the same part); `None` when
    /// `state` cannot be a place in this part's walk.
    pub fn resumed(&self, state: WalkState) -> Option<PartWalk> {
        let done = self.positions.checked_sub(state.positions_left)?;
        let expected = mul_mod(
            self.first,
            pow_mod(self.factor, done, self.modulus),
            self.modulus,
        );
        (state.current == expected && state.yielded <= done).then_some(PartWalk {
            current: state.current,
            positions_left: state.positions_left,
            yielded: state.yielded,
            ..*self
        })
    }

    /// The same part, walked again from its beginning.
    pub fn restarted(&self) -> PartWalk {
        PartWalk {
            current: self.first,
            positions_left: self.positions,
            yielded: 0,
            ..*self
        }
    }
}

impl Iterator for PartWalk {
    type Item = u64;

    #[inline]
    fn next(&mut self) -> Option<u64> {
        while self.positions_left > 0 {
            let element = self.current;
            self.current = mul_mod(element, self.factor, self.modulus);
            self.positions_left -= 1;
            let index = element - 1;
            if index < self.len {
                self.yielded += 1;
                return Some(index);
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // Each remaining position gives at most one index; skipped ones give none.
        (0, usize::try_from(self.positions_left).ok())
    }
}

impl FusedIterator for PartWalk {}

/// SplitMix64 (Steele, Lea and Flood), the seeding generator of Java's SplittableRandom: tiny,
/// fixed forever, and every seed (zero too) gives a good stream.
struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound >= 1`), by multiply-and-shift: the bias, below
    /// `bound / 2^64`, does not matter for picking a generator and a start.
    fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }
}

#[inline]
fn mul_mod(a: u64, b: u64, modulus: u64) -> u64 {
    (u128::from(a) * u128::from(b) % u128::from(modulus)) as u64
}

fn pow_mod(mut base: u64, mut exponent: u64, modulus: u64) -> u64 {
    let mut result = 1 % modulus;
    base %= modulus;
    while exponent > 0 {
        if exponent & 1 == 1 {
            result = mul_mod(result, base, modulus);
        }
        base = mul_mod(base, base, modulus);
        exponent >>= 1;
    }
    result
}

/// Deterministic Miller–Rabin: the first twelve primes as bases decide every n < 3.3 * 10^24,
/// so every u64.
fn is_prime(n: u64) -> bool {
    const BASES: [u64; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    if n < 2 {
        return false;
    }
    for p in BASES {
        if n.is_multiple_of(p) {
            return n == p;
        }
    }
    let twos = (n - 1).trailing_zeros();
    let odd = (n - 1) >> twos;
    'bases: for base in BASES {
        let mut x = pow_mod(base, odd, n);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..twos {
            x = mul_mod(x, x, n);
            if x == n - 1 {
                continue 'bases;
            }
        }
        return false;
    }
    true
}

/// The smallest prime `> n` (`n` well below `u64::MAX`).
fn next_prime_above(n: u64) -> u64 {
    (n + 1..).find(|&candidate| is_prime(candidate)).unwrap()
}

/// `g` generates the whole group modulo `prime` iff no proper divisor of the group order
/// `prime - 1` is already an exponent that takes `g` back to 1; checking `(prime - 1) / q` for
/// each prime factor `q` covers every maximal proper divisor.
fn is_primitive_root(g: u64, prime: u64, group_order_factors: &[u64]) -> bool {
    !g.is_multiple_of(prime)
        && group_order_factors
            .iter()
            .all(|&q| pow_mod(g, (prime - 1) / q, prime) != 1)
}

/// The distinct prime factors of `n`, ascending. Small factors by trial division; what is left
/// has only large factors and is split by Pollard's rho, so numbers near 2^49 take well under
/// a millisecond (trial division alone would need ~10^7 divisions).
fn distinct_prime_factors(mut n: u64) -> Vec<u64> {
    debug_assert!(n > 0, "0 has no factorization");
    const TRIAL_LIMIT: u64 = 1 << 12;
    let mut factors = Vec::new();
    let mut divisor = 2;
    while divisor < TRIAL_LIMIT && divisor * divisor <= n {
        if n.is_multiple_of(divisor) {
            factors.push(divisor);
            while n.is_multiple_of(divisor) {
                n /= divisor;
            }
        }
        divisor += if divisor == 2 { 1 } else { 2 };
    }
    let mut unsplit = vec![n];
    while let Some(m) = unsplit.pop() {
        if m == 1 {
            continue;
        }
        if is_prime(m) {
            factors.push(m);
            continue;
        }
        let d = pollard_rho(m);
        unsplit.push(d);
        unsplit.push(m / d);
    }
    factors.sort_unstable();
    factors.dedup();
    factors
}

/// A nontrivial divisor of the odd composite `n`, by Pollard's rho with Brent's cycle finding
/// and batched gcds; tries the polynomials x^2 + c for c = 1, 2, ... until one splits `n`, so
/// the result is deterministic.
fn pollard_rho(n: u64) -> u64 {
    const BATCH: u64 = 128;
    for c in 1.. {
        let step = |x: u64| (mul_mod(x, x, n) + c) % n;
        let (mut x, mut y, mut saved_y) = (2, 2, 2);
        let mut product = 1;
        let mut divisor = 1;
        let mut cycle_len = 1;
        while divisor == 1 {
            x = y;
            for _ in 0..cycle_len {
                y = step(y);
            }
            let mut done = 0;
            while done < cycle_len && divisor == 1 {
                saved_y = y;
                for _ in 0..BATCH.min(cycle_len - done) {
                    y = step(y);
                    product = mul_mod(product, x.abs_diff(y), n);
                }
                divisor = gcd(product, n);
                done += BATCH;
            }
            cycle_len *= 2;
        }
        if divisor == n {
            // The batch overshot: redo its steps one gcd at a time.
            divisor = 1;
            while divisor == 1 {
                saved_y = step(saved_y);
                divisor = gcd(x.abs_diff(saved_y), n);
            }
        }
        if divisor != n {
            return divisor;
        }
    }
    unreachable!("some x^2 + c splits every odd composite")
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::{Duration, Instant};

    use super::*;

    const SEEDS: [u64; 4] = [0, 1, 0xDEAD_BEEF, u64::MAX];

    fn sorted(mut indices: Vec<u64>) -> Vec<u64> {
        indices.sort_unstable();
        indices
    }

    #[test]
    fn is_a_bijection_for_every_len_up_to_300() {
        for seed in SEEDS {
            for len in 0..=300 {
                let order: Vec<u64> = Permutation::new(len, seed).iter().collect();
                assert_eq!(sorted(order), (0..len).collect::<Vec<_>>(), "len {len}");
            }
        }
        assert_eq!(Permutation::new(0, 7).iter().next(), None);
        assert_eq!(Permutation::new(1, 7).iter().collect::<Vec<_>>(), [0]);
    }

    #[test]
    fn same_seed_same_order_other_seed_other_order() {
        let len = 10_000;
        let order = |seed| Permutation::new(len, seed).iter().collect::<Vec<_>>();
        for seed in SEEDS {
            assert_eq!(order(seed), order(seed));
        }
        let orders: HashSet<Vec<u64>> = SEEDS.into_iter().map(order).collect();
        assert_eq!(orders.len(), SEEDS.len());
        assert_ne!(order(0), (0..len).collect::<Vec<_>>());
    }

    #[test]
    fn parts_of_shards_and_threads_cover_the_space_once() {
        let layouts = [(1, 1), (1, 4), (2, 1), (3, 2), (7, 3), (4, 16), (300, 2)];
        for (shards, threads) in layouts {
            for len in [0, 1, 2, 5, 100, 257, 4_099] {
                let permutation = Permutation::new(len, 42);
                let mut all = Vec::new();
                for shard in 0..shards {
                    for thread in 0..threads {
                        let part = Part::for_shard_thread(shard, shards, thread, threads).unwrap();
                        all.extend(permutation.part(part));
                    }
                }
                assert_eq!(
                    sorted(all),
                    (0..len).collect::<Vec<_>>(),
                    "{shards} shards x {threads} threads, len {len}"
                );
            }
        }
    }

    #[test]
    fn a_shards_indices_do_not_depend_on_its_thread_count() {
        let permutation = Permutation::new(5_000, 9);
        let shards = 7;
        for shard in 0..shards {
            let indices_with = |threads| {
                let parts = (0..threads)
                    .map(|thread| Part::for_shard_thread(shard, shards, thread, threads).unwrap());
                sorted(parts.flat_map(|part| permutation.part(part)).collect())
            };
            let single_thread = indices_with(1);
            assert!(!single_thread.is_empty());
            for threads in [2, 3, 8, 13] {
                assert_eq!(indices_with(threads), single_thread, "shard {shard}");
            }
        }
    }

    #[test]
    fn a_clone_or_restart_replays_the_walk() {
        let permutation = Permutation::new(1_000, 3);
        let mut walk = permutation.part(Part::new(1, 3).unwrap());
        let fresh = walk.clone();
        let first: Vec<u64> = walk.by_ref().take(50).collect();
        assert_eq!(walk.yielded(), 50);
        assert_eq!(fresh.clone().take(50).collect::<Vec<_>>(), first);
        assert_eq!(walk.restarted().take(50).collect::<Vec<_>>(), first);
        assert_eq!(walk.restarted().yielded(), 0);
        let rest: Vec<u64> = walk.by_ref().collect();
        assert_eq!(walk.yielded(), 50 + rest.len() as u64);
        assert_eq!(fresh.collect::<Vec<_>>(), [first, rest].concat());
    }

    #[test]
    fn invalid_parts_are_refused() {
        assert_eq!(Part::new(0, 0), Err(PartError::NoParts("part")));
        assert!(matches!(
            Part::new(3, 3),
            Err(PartError::IndexOutOfRange {
                index: 3,
                count: 3,
                ..
            })
        ));
        assert!(Part::for_shard_thread(0, 0, 0, 1).is_err());
        assert!(Part::for_shard_thread(0, 1, 0, 0).is_err());
        assert!(Part::for_shard_thread(2, 2, 0, 1).is_err());
        assert!(Part::for_shard_thread(0, 2, 5, 5).is_err());
        assert_eq!(
            Part::for_shard_thread(0, 1 << 16, 0, 1 << 16),
            Err(PartError::TooManyParts {
                shards: 1 << 16,
                threads: 1 << 16
            })
        );
        let part = Part::for_shard_thread(2, 7, 1, 3).unwrap();
        assert_eq!((part.index(), part.count()), (9, 21));
    }

    #[test]
    fn a_huge_space_builds_fast_and_walks_distinct_indices() {
        let limit = Duration::from_millis(if cfg!(debug_assertions) { 2_000 } else { 100 });
        for len in [1 << 40, 1 << 48] {
            for seed in SEEDS {
                let began = Instant::now();
                let permutation = Permutation::new(len, seed);
                let took = began.elapsed();
                assert!(took < limit, "len {len} seed {seed} took {took:?}");
                if len == 1 << 40 {
                    let mut seen = HashSet::new();
                    for index in permutation.iter().take(1_000_000) {
                        assert!(index < len);
                        assert!(seen.insert(index), "{index} repeated");
                    }
                    assert_eq!(seen.len(), 1_000_000);
                }
            }
        }
    }

    #[test]
    fn primes_factors_and_primitive_roots_match_known_values() {
        let primes = [2, 3, 5, 257, 65_537, (1 << 32) + 15, (1 << 61) - 1];
        let composites = [
            0,
            1,
            4,
            561,
            3_215_031_751,
            (1 << 32) + 1,
            3_825_123_056_546_413_051,
        ];
        assert!(primes.iter().all(|&n| is_prime(n)));
        assert!(composites.iter().all(|&n| !is_prime(n)));
        assert!(is_prime(u64::MAX - 58) && !is_prime(u64::MAX));

        assert_eq!(next_prime_above(0), 2);
        assert_eq!(next_prime_above(2), 3);
        assert_eq!(next_prime_above(1 << 32), (1 << 32) + 15);
        assert_eq!(next_prime_above(1 << 48), (1 << 48) + 21);

        // ZMap's table of groups (src/cyclic.c): prime, a primitive root, factors of prime - 1.
        let groups: [(u64, u64, &[u64]); 6] = [
            (257, 3, &[2]),
            (65_537, 3, &[2]),
            (16_777_259, 2, &[2, 23, 103, 3541]),
            (4_294_967_311, 3, &[2, 3, 5, 131, 364_289]),
            (1_099_511_627_791, 3, &[2, 3, 5, 36_650_387_593]),
            (281_474_976_710_677, 6, &[2, 3, 7, 1361, 2_462_081_249]),
        ];
        for (prime, root, factors) in groups {
            assert!(is_prime(prime));
            assert_eq!(distinct_prime_factors(prime - 1), factors);
            assert!(is_primitive_root(root, prime, factors));
            assert!(!is_primitive_root(1, prime, factors));
            // A square is never a primitive root of an odd prime.
            assert!(!is_primitive_root(
                mul_mod(root, root, prime),
                prime,
                factors
            ));
        }
        assert!(!is_primitive_root(2, 257, &[2])); // 2^16 = 65536 = 1 (mod 257)
        assert!(is_primitive_root(1, 2, &[]));
        assert_eq!(distinct_prime_factors(1), Vec::<u64>::new());
        assert_eq!(distinct_prime_factors(4_099 * 4_111 * 2), [2, 4_099, 4_111]);
        assert_eq!(distinct_prime_factors(8_191 * 8_191), [8_191]);
    }
}
