//! The memory mappings the instance pool needs, checked against the kernel's limit before the
//! pool is made.
//!
//! Linux caps the mappings (VMAs) of a process at `vm.max_map_count` (65,530 by default). When a
//! process needs one more, `mmap`/`mprotect` fail with ENOMEM and the next allocation that needs
//! a mapping aborts the process. The pool takes two mappings per slot at start (each fiber stack
//! and its guard page) and about four more per live instance (its linear memory and table made
//! accessible inside their reservations); measured with the Rust counter: 22,564 mappings with
//! an empty pool of 11,250 slots, 4.0 more per live object. A cap the limit cannot hold is
//! refused at start-up instead of aborting once enough objects are live.

use super::PoolSize;

/// Mappings each pool slot takes when the pool is made: a fiber stack and its guard page.
const PER_SLOT: u64 = 2;
/// Mappings each live instance adds: its memory and its table, split out of their reservations.
const PER_LIVE: u64 = 4;
/// Room for what else the process maps after start-up (threads, the database, allocator arenas).
const MARGIN: u64 = 2048;

/// Room left under the limit by the cap a refusal suggests.
const SUGGESTION_SLACK: u64 = 512;

/// The kernel's limit, if this system has one to read.
fn limit() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Mappings the process has now.
fn current() -> u64 {
    std::fs::read_to_string("/proc/self/maps").map_or(0, |m| m.lines().count() as u64)
}

/// Mappings a pool of `pool` needs at most, over `base` the process has before it.
fn needed(base: u64, pool: &PoolSize) -> u64 {
    base + MARGIN + PER_SLOT * u64::from(pool.instances) + PER_LIVE * u64::from(pool.live)
}

/// The mapping shortfall of `pool`: what it needs and what the system allows, with the largest
/// live cap that fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shortfall {
    pub needed: u64,
    pub limit: u64,
    /// The largest `runtime.max_live_objects` that fits (0: none does).
    pub fits: u32,
}

/// Checks `pool` against the system's mapping limit; `slots(cap)` is the pool size a live cap
/// gives (the caller's slack rule), so that the cap that fits can be named.
pub fn check(pool: &PoolSize, slots: impl Fn(u32) -> u32) -> Result<(), Shortfall> {
    let Some(limit) = limit() else { return Ok(()) };
    check_against(current(), limit, pool, slots)
}

fn check_against(
    base: u64,
    limit: u64,
    pool: &PoolSize,
    slots: impl Fn(u32) -> u32,
) -> Result<(), Shortfall> {
    let needed = needed(base, pool);
    if needed <= limit {
        return Ok(());
    }
    // The cap named must still fit when the next start's own mappings differ a little.
    let fit = |cap: u32| needed_for(base + SUGGESTION_SLACK, cap, &slots) <= limit;
    // The needed count grows with the cap: the largest cap that fits, by bisection.
    let (mut lo, mut hi) = (0u32, pool.live);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fit(mid) { lo = mid } else { hi = mid - 1 }
    }
    Err(Shortfall {
        needed,
        limit,
        fits: lo,
    })
}

fn needed_for(base: u64, cap: u32, slots: &impl Fn(u32) -> u32) -> u64 {
    needed(
        base,
        &PoolSize {
            instances: slots(cap),
            live: cap,
            max_memory: 0,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(cap: u32) -> u32 {
        cap + (cap / 8).max(16)
    }

    fn pool(cap: u32) -> PoolSize {
        PoolSize {
            instances: slots(cap),
            live: cap,
            max_memory: 0,
        }
    }

    #[test]
    fn the_default_cap_fits_the_default_limit() {
        assert_eq!(check_against(100, 65_530, &pool(10_000), slots), Ok(()));
    }

    #[test]
    fn a_cap_over_the_limit_names_the_cap_that_fits() {
        let short = check_against(100, 65_530, &pool(20_000), slots).unwrap_err();
        assert_eq!(short.needed, 100 + 2048 + 2 * 22_500 + 4 * 20_000);
        assert_eq!(short.limit, 65_530);
        assert!(needed_for(100 + SUGGESTION_SLACK, short.fits, &slots) <= 65_530);
        assert!(needed_for(100 + SUGGESTION_SLACK, short.fits + 1, &slots) > 65_530);
        assert_eq!(check_against(100, 65_530, &pool(short.fits), slots), Ok(()));
    }

    #[test]
    fn no_cap_fits_a_tiny_limit() {
        let short = check_against(100, 1_000, &pool(10), slots).unwrap_err();
        assert_eq!(short.fits, 0);
    }
}
