//! Helpers shared by burrow-alloc's integration tests.

/// A deterministic shuffle (xorshift), so frees come in no simple order.
pub fn shuffle(v: &mut [usize], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}
