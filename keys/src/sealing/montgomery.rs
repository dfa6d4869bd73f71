//! The RSA public operation `m^e mod n` in Montgomery form, for sealing.
//!
//! Why our own: the `rsa` crate's exponentiation (num-bigint-dig) took ~0.6–1.2 ms per
//! 4096-bit value, and aws-lc-rs's, though fast, seeds a DRBG from jitter entropy on first
//! use (~25–45 ms per process); see BENCHMARKS.md. With the public exponent 65537 the
//! operation is 17 modular multiplications, which a plain word-by-word Montgomery
//! multiplication (FIOS, 64-bit limbs) does in ~0.1 ms. Only public values go in (the
//! modulus, the exponent and an OAEP-masked block), but the code still has no branch on the
//! block's value: the final subtraction is a masked select.

use rsa::BigUint;
use zeroize::Zeroizing;

/// A public modulus prepared for Montgomery multiplication (R = 2^(64·limbs)).
#[derive(Clone)]
pub(crate) struct Modulus {
    /// The modulus, least significant limb first.
    n: Vec<u64>,
    /// −n⁻¹ mod 2⁶⁴.
    n0_inv: u64,
    /// R² mod n, to move a value into Montgomery form.
    r_squared: Vec<u64>,
    /// The public exponent, most significant bit first, without leading zeros.
    exponent_bits: Vec<bool>,
    /// Size of the modulus in bytes: the length of every result.
    size: usize,
}

impl Modulus {
    /// Prepares `n` (odd, as every RSA modulus is) and the exponent `e`. Returns `None` for
    /// an even or zero modulus or a zero exponent, which no valid RSA key has.
    pub(crate) fn new(n: &BigUint, e: &BigUint) -> Option<Self> {
        let size = n.bits().div_ceil(8);
        let limbs = size.div_ceil(8);
        let n_limbs = to_limbs(&n.to_bytes_be(), limbs)?;
        if n_limbs[0] & 1 == 0 || e.bits() == 0 {
            return None;
        }
        // Newton's iteration doubles the correct low bits each step: 1 → 64 in 6 steps.
        let mut inv: u64 = 1;
        for _ in 0..6 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(n_limbs[0].wrapping_mul(inv)));
        }
        let r_squared = (BigUint::from(1u8) << (128 * limbs)) % n;
        let e_bytes = e.to_bytes_be();
        let exponent_bits = (0..e_bytes.len() * 8)
            .map(|i| e_bytes[i / 8] & (0x80 >> (i % 8)) != 0)
            .skip_while(|bit| !bit)
            .collect();
        Some(Self {
            r_squared: to_limbs(&r_squared.to_bytes_be(), limbs)?,
            n: n_limbs,
            n0_inv: inv.wrapping_neg(),
            exponent_bits,
            size,
        })
    }

    /// Size of the modulus in bytes (512 for a 4096-bit key).
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// `m^e mod n` for a big-endian `m` of exactly the modulus size with `m < n` (an OAEP
    /// block starts with a zero byte, so it always is). The result is big-endian, the
    /// modulus size long. Returns `None` when `m` has the wrong length.
    pub(crate) fn public_op(&self, m: &[u8]) -> Option<Vec<u8>> {
        if m.len() != self.size {
            return None;
        }
        let k = self.n.len();
        let base = Zeroizing::new(to_limbs(m, k)?);
        let mut scratch = Zeroizing::new(vec![0u64; 2 * k]);
        let mut base_mont = Zeroizing::new(vec![0u64; k]);
        self.mul(&base, &self.r_squared, &mut base_mont, &mut scratch);
        // Left to right. The leading 1 bit is `base_mont` itself; the last bit (1 for every
        // odd exponent, as RSA's are) multiplies by the plain base, which also leaves
        // Montgomery form: (x·R)·m·R⁻¹ = x·m.
        let (last, middle) = self.exponent_bits[1..]
            .split_last()
            .map_or((None, &[][..]), |(last, middle)| (Some(*last), middle));
        let mut acc = Zeroizing::new(base_mont.to_vec());
        let mut tmp = Zeroizing::new(vec![0u64; k]);
        for &bit in middle {
            self.square(&acc, &mut tmp, &mut scratch);
            if bit {
                self.mul(&tmp, &base_mont, &mut acc, &mut scratch);
            } else {
                std::mem::swap(&mut acc, &mut tmp);
            }
        }
        match last {
            Some(true) => {
                self.square(&acc, &mut tmp, &mut scratch);
                self.mul(&tmp, &base, &mut acc, &mut scratch);
            }
            Some(false) => {
                self.square(&acc, &mut tmp, &mut scratch);
                self.mul(&tmp, &one(k), &mut acc, &mut scratch);
            }
            // e = 1.
            None => self.mul(&base_mont, &one(k), &mut acc, &mut scratch),
        }
        Some(from_limbs(&acc, self.size))
    }

    /// `out = a²·R⁻¹ mod n`: the full square with each cross product computed once, then a
    /// Montgomery reduction — about a quarter less work than [`Self::mul`].
    fn square(&self, a: &[u64], out: &mut [u64], p: &mut [u64]) {
        let k = self.n.len();
        let (a, p) = (&a[..k], &mut p[..2 * k]);
        p.fill(0);
        for (i, &ai) in a.iter().enumerate() {
            let mut carry = 0u64;
            for (pj, &aj) in p[2 * i + 1..i + k].iter_mut().zip(&a[i + 1..]) {
                let s = wide(ai, aj) + u128::from(*pj) + u128::from(carry);
                *pj = s as u64;
                carry = high(s);
            }
            p[i + k] = carry;
        }
        let mut shifted_out = 0u64;
        for limb in p.iter_mut() {
            let next = *limb >> 63;
            *limb = (*limb << 1) | shifted_out;
            shifted_out = next;
        }
        let mut carry = 0u64;
        for (pair, &ai) in p.chunks_exact_mut(2).zip(a) {
            let s = wide(ai, ai) + u128::from(pair[0]) + u128::from(carry);
            pair[0] = s as u64;
            let s = u128::from(pair[1]) + u128::from(high(s));
            pair[1] = s as u64;
            carry = high(s);
        }
        // Reduce: add m·n to clear one low limb at a time.
        let mut top = 0u64;
        for i in 0..k {
            let m = p[i].wrapping_mul(self.n0_inv);
            let mut carry = 0u64;
            for (pj, &nj) in p[i..i + k].iter_mut().zip(&self.n) {
                let s = wide(m, nj) + u128::from(*pj) + u128::from(carry);
                *pj = s as u64;
                carry = high(s);
            }
            let s = u128::from(p[i + k]) + u128::from(carry) + u128::from(top);
            p[i + k] = s as u64;
            top = high(s);
        }
        self.subtract_if_needed(&p[k..], top, out);
    }

    /// `out = a·b·R⁻¹ mod n` for `a, b < n` (FIOS: multiply and reduce in one pass).
    fn mul(&self, a: &[u64], b: &[u64], out: &mut [u64], t: &mut [u64]) {
        let k = self.n.len();
        let (n, b, t) = (&self.n[..k], &b[..k], &mut t[..=k]);
        t.fill(0);
        for &ai in a {
            let s = wide(ai, b[0]) + u128::from(t[0]);
            let mut carry_ab = high(s);
            let m = (s as u64).wrapping_mul(self.n0_inv);
            let mut carry_mn = high(wide(m, n[0]) + u128::from(s as u64));
            for j in 1..k {
                let s = wide(ai, b[j]) + u128::from(t[j]) + u128::from(carry_ab);
                carry_ab = high(s);
                let s = wide(m, n[j]) + u128::from(s as u64) + u128::from(carry_mn);
                carry_mn = high(s);
                t[j - 1] = s as u64;
            }
            let s = u128::from(t[k]) + u128::from(carry_ab) + u128::from(carry_mn);
            t[k - 1] = s as u64;
            t[k] = high(s);
        }
        self.subtract_if_needed(&t[..k], t[k], out);
    }

    /// `out = t − n` if that is not negative, else `t`, for `t = top·R + low < 2n`; a masked
    /// select, not a branch.
    fn subtract_if_needed(&self, low: &[u64], top: u64, out: &mut [u64]) {
        let mut borrow = false;
        for ((o, &t), &n) in out.iter_mut().zip(low).zip(&self.n) {
            let (d, b1) = t.overflowing_sub(n);
            let (d, b2) = d.overflowing_sub(u64::from(borrow));
            *o = d;
            borrow = b1 | b2;
        }
        let keep_t = u64::from(top < u64::from(borrow)).wrapping_neg();
        for (o, &t) in out.iter_mut().zip(low) {
            *o = (t & keep_t) | (*o & !keep_t);
        }
    }
}

fn one(limbs: usize) -> Vec<u64> {
    let mut one = vec![0u64; limbs];
    one[0] = 1;
    one
}

fn wide(a: u64, b: u64) -> u128 {
    u128::from(a) * u128::from(b)
}

fn high(x: u128) -> u64 {
    (x >> 64) as u64
}

/// Big-endian bytes to `limbs` little-endian limbs; `None` if they do not fit.
fn to_limbs(be: &[u8], limbs: usize) -> Option<Vec<u64>> {
    let mut out = vec![0u64; limbs];
    for (i, &byte) in be.iter().rev().enumerate() {
        if byte != 0 {
            *out.get_mut(i / 8)? |= u64::from(byte) << (8 * (i % 8));
        }
    }
    Some(out)
}

/// Little-endian limbs to `size` big-endian bytes (the value is below the modulus, so it fits).
fn from_limbs(limbs: &[u64], size: usize) -> Vec<u8> {
    let le: Vec<u8> = limbs.iter().flat_map(|l| l.to_le_bytes()).collect();
    le[..size].iter().rev().copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng as _, SeedableRng as _};

    /// Differential against num-bigint-dig's `modpow` on random moduli and bases.
    #[test]
    fn matches_modpow() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        for bytes in [64usize, 256, 384, 512, 1024] {
            for e in [1u32, 2, 3, 17, 65537] {
                let mut n_bytes: Vec<u8> = (0..bytes).map(|_| rng.r#gen()).collect();
                n_bytes[0] |= 0x80;
                n_bytes[bytes - 1] |= 1;
                let n = BigUint::from_bytes_be(&n_bytes);
                let e = BigUint::from(e);
                let modulus = Modulus::new(&n, &e).unwrap();
                for _ in 0..4 {
                    let mut m: Vec<u8> = (0..bytes).map(|_| rng.r#gen()).collect();
                    m[0] = 0;
                    let expected = BigUint::from_bytes_be(&m).modpow(&e, &n).to_bytes_be();
                    let got = modulus.public_op(&m).unwrap();
                    assert_eq!(got.len(), bytes);
                    let skip = bytes - expected.len();
                    assert!(got[..skip].iter().all(|&b| b == 0));
                    assert_eq!(&got[skip..], &expected[..], "{bytes} bytes, e={e}");
                }
            }
        }
    }

    #[test]
    fn edge_values_and_refusals() {
        let n = BigUint::from_bytes_be(&[0xff; 256]);
        let modulus = Modulus::new(&n, &BigUint::from(65537u32)).unwrap();
        assert_eq!(modulus.public_op(&[0; 256]).unwrap(), vec![0; 256]);
        let mut one = vec![0u8; 256];
        one[255] = 1;
        assert_eq!(modulus.public_op(&one).unwrap(), one);
        assert!(modulus.public_op(&[0; 255]).is_none());
        let even = BigUint::from_bytes_be(&[0xfe; 256]);
        assert!(Modulus::new(&even, &BigUint::from(65537u32)).is_none());
        assert!(Modulus::new(&n, &BigUint::from(0u8)).is_none());
    }
}
