//! Sorting for the core's bounded tables (at most a few hundred entries).
//!
//! An insertion sort: about 100 bytes of code per use, against 8.5 KB for the two
//! instances of `core`'s pattern-defeating quicksort it replaced (firmware size budget,
//! issue 5). Quadratic, which for these tables (≤ 256 sectors at mount, ≤ 36 report rows on
//! a `show`) costs less than one flash read of the mount.

/// Sort `items` by `key`, stable.
pub fn sort_by_key<T, K: Ord>(items: &mut [T], mut key: impl FnMut(&T) -> K) {
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 {
            let (Some(a), Some(b)) = (items.get(j - 1), items.get(j)) else {
                break;
            };
            if key(a) <= key(b) {
                break;
            }
            items.swap(j - 1, j);
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn sorts_like_the_standard_stable_sort(mut v in proptest::collection::vec((0u8..8, any::<u16>()), 0..300)) {
            let mut want = v.clone();
            want.sort_by_key(|x| x.0);
            sort_by_key(&mut v, |x| x.0);
            prop_assert_eq!(v, want);
        }
    }
}
