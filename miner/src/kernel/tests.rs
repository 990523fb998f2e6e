//! Every lane of every backend against the `blake3` crate.

use proptest::prelude::*;

use super::*;

fn reference(pre: &Hash, nonce: u64) -> [u8; 32] {
    *cairn_core::pow::pow_hash(pre, nonce).as_bytes()
}

fn supported() -> Vec<Kernel> {
    Backend::ALL
        .into_iter()
        .filter_map(|b| Kernel::new(b).ok())
        .collect()
}

fn nonce_start() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        // Around the 2^32 boundary, where the high nonce word changes.
        (0u64..64).prop_map(|k| (1u64 << 32) - 32 + k),
        // At the very top of the range.
        (0u64..64).prop_map(|k| u64::MAX - 2 * BATCH - k),
        0u64..1024,
    ]
    .prop_map(|n| n - n % BATCH)
}

#[test]
fn portable_is_always_available_and_detection_is_consistent() {
    assert!(Backend::Portable.is_supported());
    assert!(Backend::detect().is_supported());
    for b in Backend::ALL {
        assert_eq!(b.name().parse::<Backend>().unwrap(), b);
        assert_eq!(Kernel::new(b).is_ok(), b.is_supported());
    }
    assert!("avx1024".parse::<Backend>().is_err());
}

#[test]
fn this_machine_runs_its_simd_backends_in_tests() {
    // CI and dev machines here have AVX-512; make sure the differential tests below
    // really exercise the SIMD code instead of silently testing only the fallback.
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        assert!(supported().iter().any(|k| k.backend() == Backend::Avx2));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The full output of every lane of every backend equals blake3(pre ‖ nonce).
    #[test]
    fn every_lane_of_every_backend_matches_blake3(pre in any::<[u8; 32]>(), start in nonce_start()) {
        let pre = Hash(pre);
        let ms = Midstate::new(&pre);
        for k in supported() {
            let out = k.hash_batch(&ms, start);
            for (i, words) in out.iter().enumerate() {
                let nonce = start + i as u64;
                prop_assert_eq!(*words_to_hash(words).as_bytes(), reference(&pre, nonce), "backend {} lane {}", k.backend(), i);
            }
        }
    }

    /// `scan` flags exactly the lanes whose word 7 is at most the target word, and stops
    /// at the first batch that has any.
    #[test]
    fn scan_flags_exactly_the_candidates(pre in any::<[u8; 32]>(), start in nonce_start(), pick in 0usize..16, batches in 1u32..4) {
        let pre = Hash(pre);
        let ms = Midstate::new(&pre);
        let start = start.min(u64::MAX - 4 * BATCH) / BATCH * BATCH;
        let word7 = |n: u64| u32::from_le_bytes(reference(&pre, n)[28..32].try_into().unwrap());
        // Put the target at one lane's word of the last batch: roughly half the lanes
        // of each batch are candidates.
        let last = start + u64::from(batches - 1) * BATCH;
        let target_hi = word7(last + pick as u64);
        let expected = (0..batches).find_map(|b| {
            let base = start + u64::from(b) * BATCH;
            let mask = (0..BATCH).filter(|&i| word7(base + i) <= target_hi).fold(0u32, |m, i| m | 1 << i);
            (mask != 0).then_some((base, mask))
        });
        prop_assert!(expected.is_some());
        for k in supported() {
            prop_assert_eq!(k.scan(&ms, start, batches, target_hi), expected, "backend {}", k.backend());
        }
    }
}

#[test]
fn scan_finds_nothing_under_an_impossible_target() {
    let pre = Hash::digest(b"nothing");
    let ms = Midstate::new(&pre);
    for k in supported() {
        // word7 == 0 has probability 2^-32 per nonce; 4096 nonces will not hit it.
        let r = k.scan(&ms, 0, 256, 0);
        let truth = (0..256 * BATCH).find(|&n| reference(&pre, n)[28..32] == [0; 4]);
        assert_eq!(
            r.map(|(b, _)| b),
            truth.map(|n| n - n % BATCH),
            "backend {}",
            k.backend()
        );
    }
}
