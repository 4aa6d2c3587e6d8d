//! Per-instance resource limits.

use std::time::Duration;

use crate::EngineConfig;

/// The limits one instance runs under. `None` means unlimited (up to the
/// engine's hard ceilings).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceLimits {
    /// Total bytes of linear memory, summed over all memories of the instance.
    pub max_memory: Option<u64>,
    /// Wall-clock time for one run or request.
    pub timeout: Option<Duration>,
    /// Fuel units (roughly, Wasm instructions) for one run or request.
    pub fuel: Option<u64>,
}

/// A [`wasmtime::ResourceLimiter`] that caps the total linear memory of a store
/// and remembers whether a guest asked for more than it was allowed, so the
/// caller can report *why* a guest failed.
///
/// A denied `memory.grow` returns `-1` to the guest, as the Wasm spec says; a
/// guest that handles that keeps running.
#[derive(Debug, Clone, Default)]
pub struct MemoryLimiter {
    limit: Option<usize>,
    in_use: usize,
    peak: usize,
    denied: Option<usize>,
}

impl MemoryLimiter {
    /// A limiter that allows up to `limit` bytes of linear memory in total.
    pub fn new(limit: Option<u64>) -> Self {
        MemoryLimiter {
            limit: limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX)),
            ..Default::default()
        }
    }

    /// Bytes of linear memory in use now.
    pub fn in_use(&self) -> usize {
        self.in_use
    }

    /// The most linear memory the store has held at once.
    pub fn peak(&self) -> usize {
        self.peak
    }

    /// If a grow was denied by the limit: the total the guest asked for.
    pub fn denied(&self) -> Option<usize> {
        self.denied
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        let total = self.in_use.saturating_sub(current).saturating_add(desired);
        if self.limit.is_some_and(|limit| total > limit) {
            self.denied = Some(total);
            tracing::debug!(total, limit = ?self.limit, "memory grow denied by limit");
            return Ok(false);
        }
        self.in_use = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let max = maximum
            .unwrap_or(EngineConfig::TABLE_ELEMENTS)
            .min(EngineConfig::TABLE_ELEMENTS);
        Ok(desired <= max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter as _;

    #[test]
    fn limit_is_summed_over_memories_and_denial_is_remembered() {
        let mut limiter = MemoryLimiter::new(Some(3 * 65536));
        assert!(limiter.memory_growing(0, 65536, None).unwrap());
        assert!(limiter.memory_growing(0, 2 * 65536, None).unwrap());
        assert_eq!(limiter.in_use(), 3 * 65536);
        assert_eq!(limiter.denied(), None);
        assert!(!limiter.memory_growing(65536, 2 * 65536, None).unwrap());
        assert_eq!(limiter.denied(), Some(4 * 65536));
        assert_eq!(limiter.in_use(), 3 * 65536);
    }

    #[test]
    fn unlimited_respects_the_memory_maximum() {
        let mut limiter = MemoryLimiter::new(None);
        assert!(limiter.memory_growing(0, 1 << 30, None).unwrap());
        assert!(!limiter.memory_growing(0, 10, Some(5)).unwrap());
        assert_eq!(limiter.denied(), None);
    }
}
