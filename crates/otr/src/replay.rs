//! Replay protection that tolerates reordering (beyond the spec; see "Email-tolerant receiving"
//! in the crate documentation).
//!
//! The spec rejects a data message unless its counter is strictly larger than the last one seen
//! with the same key pair. Over email that loses every message overtaken by a later one. Instead
//! we remember exactly which counters were seen: everything up to `floor`, plus a set of disjoint
//! ranges above it. A message is accepted once, in any order, and a replay is always rejected.
//! Memory is bounded by [`ReplayWindow::MAX_RANGES`]: when more gaps are open, the lowest gap is
//! closed (its counters will be rejected from then on), which only ever errs towards rejecting.

/// The set of counters seen under one key pair.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ReplayWindow {
    /// Every counter `<= floor` counts as seen.
    floor: u64,
    /// Disjoint, non-adjacent, ascending inclusive ranges of seen counters, all above
    /// `floor + 1`; `None` rather than empty. (Boxed: a window is kept for every live and
    /// retained key pair, and almost all of them have no gap, so this costs 8 bytes where an
    /// empty `Vec` costs 24.)
    #[allow(
        clippy::box_collection,
        reason = "8 bytes inline instead of 24; the extra allocation exists only while a gap is open"
    )]
    ranges: Option<Box<Vec<(u64, u64)>>>,
}

impl ReplayWindow {
    /// The most separate ranges remembered per key pair (each open gap costs one).
    pub(crate) const MAX_RANGES: usize = 64;

    /// Whether `ctr` would be accepted: above the floor and never seen. Zero never is (the spec
    /// forbids an all-zero counter).
    pub(crate) fn is_fresh(&self, ctr: u64) -> bool {
        ctr > self.floor && !self.ranges().iter().any(|&(lo, hi)| lo <= ctr && ctr <= hi)
    }

    fn ranges(&self) -> &[(u64, u64)] {
        self.ranges.as_deref().map_or(&[], Vec::as_slice)
    }

    fn ranges_mut(&mut self) -> &mut Vec<(u64, u64)> {
        self.ranges.get_or_insert_with(Box::default)
    }

    /// Records `ctr` as seen.
    pub(crate) fn insert(&mut self, ctr: u64) {
        if !self.is_fresh(ctr) {
            return;
        }
        if self.ranges.is_none() && self.floor.checked_add(1) == Some(ctr) {
            // In order: the common case.
            self.floor = ctr;
            return;
        }
        let ranges = self.ranges_mut();
        let pos = ranges.partition_point(|&(_, hi)| hi < ctr);
        let joins_prev = pos
            .checked_sub(1)
            .and_then(|p| ranges.get(p))
            .is_some_and(|&(_, hi)| hi.checked_add(1) == Some(ctr));
        let joins_next = ranges
            .get(pos)
            .is_some_and(|&(lo, _)| ctr.checked_add(1) == Some(lo));
        match (joins_prev, joins_next) {
            (true, true) => {
                let next_hi = ranges.remove(pos).1;
                if let Some(prev) = pos.checked_sub(1).and_then(|p| ranges.get_mut(p)) {
                    prev.1 = next_hi;
                }
            }
            (true, false) => {
                if let Some(prev) = pos.checked_sub(1).and_then(|p| ranges.get_mut(p)) {
                    prev.1 = ctr;
                }
            }
            (false, true) => {
                if let Some(next) = ranges.get_mut(pos) {
                    next.0 = ctr;
                }
            }
            (false, false) => ranges.insert(pos, (ctr, ctr)),
        }
        self.normalize();
    }

    /// Folds a first range that touches the floor into it, and closes gaps beyond the limit.
    fn normalize(&mut self) {
        let Some(ranges) = self.ranges.as_deref_mut() else {
            return;
        };
        while let Some(&(lo, hi)) = ranges.first() {
            let touches = self.floor.checked_add(1) == Some(lo);
            if touches || ranges.len() > Self::MAX_RANGES {
                self.floor = hi;
                ranges.remove(0);
            } else {
                break;
            }
        }
        if ranges.is_empty() {
            self.ranges = None;
        }
    }

    /// `(floor, ranges)`, for persistence.
    pub(crate) fn parts(&self) -> (u64, &[(u64, u64)]) {
        (self.floor, self.ranges())
    }

    /// Rebuilds a window from persisted parts, normalizing whatever they hold.
    pub(crate) fn from_parts(floor: u64, ranges: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let mut window = ReplayWindow {
            floor,
            ranges: None,
        };
        let mut sorted: Vec<(u64, u64)> = ranges
            .into_iter()
            .filter(|&(lo, hi)| lo <= hi && hi > floor)
            .map(|(lo, hi)| (lo.max(floor.saturating_add(1)), hi))
            .collect();
        sorted.sort_unstable();
        for (lo, hi) in sorted {
            let ranges = window.ranges_mut();
            match ranges.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => ranges.push((lo, hi)),
            }
        }
        window.normalize();
        window
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn in_order_keeps_no_ranges() {
        let mut w = ReplayWindow::default();
        assert!(!w.is_fresh(0));
        for c in 1..=1000 {
            assert!(w.is_fresh(c));
            w.insert(c);
            assert!(!w.is_fresh(c));
        }
        assert_eq!(w.parts(), (1000, &[][..]));
    }

    #[test]
    fn out_of_order_each_accepted_once() {
        let mut w = ReplayWindow::default();
        for c in [5, 3, 9, 1, 2, 4, 8, 6, 7] {
            assert!(w.is_fresh(c), "{c}");
            w.insert(c);
        }
        for c in 1..=9 {
            assert!(!w.is_fresh(c));
        }
        assert!(w.is_fresh(10));
        assert_eq!(w.parts(), (9, &[][..]));
    }

    #[test]
    fn gaps_are_kept_only_while_open() {
        let mut w = ReplayWindow::default();
        w.insert(1);
        assert!(w.ranges.is_none());
        w.insert(3);
        assert_eq!(w.parts(), (1, &[(3, 3)][..]));
        w.insert(2);
        assert_eq!(w.parts(), (3, &[][..]));
        assert!(w.ranges.is_none(), "an empty range list is freed");
        assert_eq!(w, ReplayWindow::from_parts(3, []));
    }

    #[test]
    fn too_many_gaps_close_the_lowest_one() {
        let mut w = ReplayWindow::default();
        for i in 0..(ReplayWindow::MAX_RANGES as u64 + 1) {
            w.insert(2 + 2 * i);
        }
        // Counter 1 (the lowest gap) is now closed; higher gaps stay open.
        assert!(!w.is_fresh(1));
        assert!(w.is_fresh(3));
        assert!(w.parts().1.len() <= ReplayWindow::MAX_RANGES);
    }

    proptest! {
        #[test]
        fn matches_an_exact_set_within_the_bound(ctrs in proptest::collection::vec(1u64..200, 0..300)) {
            let mut w = ReplayWindow::default();
            let mut seen = std::collections::BTreeSet::new();
            for c in ctrs {
                let fresh = !seen.contains(&c);
                // A window may reject more than the exact set (closed gaps), never accept more.
                if w.is_fresh(c) { prop_assert!(fresh); }
                w.insert(c);
                seen.insert(c);
                prop_assert!(!w.is_fresh(c));
            }
            let (floor, ranges) = w.parts();
            let rebuilt = ReplayWindow::from_parts(floor, ranges.to_vec());
            prop_assert_eq!(rebuilt, w);
        }
    }
}
