//! Shamir secret sharing over GF(2^8), in the layout of HashiCorp Vault's `shamir`
//! package that sops uses for key groups.
//!
//! Each byte of the secret gets its own random polynomial whose constant term is that byte;
//! share `i` holds the polynomial values at `x = i + 1` followed by `x` as its last byte
//! (sops 3.10+ uses sequential x-coordinates; older files used random ones, which
//! [`combine`] reads just as well). Field arithmetic is constant-time (no table lookups).

use rand::RngCore;
use zeroize::Zeroizing;

use crate::Error;

/// Multiplication in GF(2^8) modulo x^8+x^4+x^3+x+1, without secret-dependent branches.
fn mult(a: u8, b: u8) -> u8 {
    let mut r: u8 = 0;
    for i in (0..8).rev() {
        r = (((b >> i) & 1).wrapping_neg() & a)
            ^ ((r >> 7).wrapping_neg() & 0x1B)
            ^ r.wrapping_add(r);
    }
    r
}

/// Inverse as a^254 (0 maps to 0).
fn inverse(a: u8) -> u8 {
    let b = mult(a, a);
    let c = mult(a, b);
    let b = mult(c, c);
    let b = mult(b, b);
    let c = mult(b, c);
    let b = mult(b, b);
    let b = mult(b, b);
    let b = mult(b, c);
    let b = mult(b, b);
    let b = mult(a, b);
    mult(b, b)
}

fn div(a: u8, b: u8) -> u8 {
    mult(a, inverse(b))
}

fn evaluate(coefficients: &[u8], x: u8) -> u8 {
    let mut out = coefficients[coefficients.len() - 1];
    for &c in coefficients.iter().rev().skip(1) {
        out = mult(out, x) ^ c;
    }
    out
}

/// Splits `secret` into `parts` shares, any `threshold` of which recover it.
///
/// # Errors
/// [`Error::Shamir`] when `2 ≤ threshold ≤ parts ≤ 255` does not hold or the secret is
/// empty.
pub fn split(
    secret: &[u8],
    parts: usize,
    threshold: usize,
) -> Result<Vec<Zeroizing<Vec<u8>>>, Error> {
    if parts < threshold {
        return Err(Error::Shamir {
            reason: "parts cannot be less than threshold",
        });
    }
    if parts > 255 {
        return Err(Error::Shamir {
            reason: "parts cannot exceed 255",
        });
    }
    if threshold < 2 {
        return Err(Error::Shamir {
            reason: "threshold must be at least 2",
        });
    }
    if secret.is_empty() {
        return Err(Error::Shamir {
            reason: "cannot split an empty secret",
        });
    }
    let mut shares: Vec<Zeroizing<Vec<u8>>> = (0..parts)
        .map(|_| Zeroizing::new(Vec::with_capacity(secret.len() + 1)))
        .collect();
    let mut coefficients = Zeroizing::new(vec![0u8; threshold]);
    for &byte in secret {
        coefficients[0] = byte;
        rand::rngs::OsRng.fill_bytes(&mut coefficients[1..]);
        for (i, share) in shares.iter_mut().enumerate() {
            share.push(evaluate(&coefficients, (i + 1) as u8));
        }
    }
    for (i, share) in shares.iter_mut().enumerate() {
        share.push((i + 1) as u8);
    }
    Ok(shares)
}

/// Recovers the secret from shares (the x-coordinate is each share's last byte).
///
/// # Errors
/// [`Error::Shamir`] with fewer than two shares, shares of different or too short
/// lengths, or duplicate x-coordinates. A wrong share is not detected here: it yields a
/// wrong secret.
pub fn combine(shares: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>, Error> {
    if shares.len() < 2 {
        return Err(Error::Shamir {
            reason: "less than two parts cannot be used to reconstruct the secret",
        });
    }
    let len = shares[0].len();
    if len < 2 {
        return Err(Error::Shamir {
            reason: "parts must be at least two bytes",
        });
    }
    if shares.iter().any(|s| s.len() != len) {
        return Err(Error::Shamir {
            reason: "all parts must be the same length",
        });
    }
    let xs: Vec<u8> = shares.iter().map(|s| s[len - 1]).collect();
    for (i, x) in xs.iter().enumerate() {
        if xs[..i].contains(x) {
            return Err(Error::Shamir {
                reason: "duplicate part detected",
            });
        }
    }
    let mut secret = Zeroizing::new(Vec::with_capacity(len - 1));
    for idx in 0..len - 1 {
        let mut result = 0u8;
        for (i, share) in shares.iter().enumerate() {
            let mut basis = 1u8;
            for (j, &xj) in xs.iter().enumerate() {
                if i != j {
                    basis = mult(basis, div(xj, xs[i] ^ xj));
                }
            }
            result ^= mult(share[idx], basis);
        }
        secret.push(result);
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_check_values() {
        assert_eq!(mult(3, 7), 9);
        assert_eq!(mult(0, 7), 0);
        for a in 1..=255u8 {
            assert_eq!(mult(a, inverse(a)), 1, "{a}");
        }
    }

    #[test]
    fn split_and_combine() {
        let secret = *b"0123456789abcdef0123456789abcdef";
        let shares = split(&secret, 3, 2).unwrap();
        assert_eq!(shares[2].len(), 33);
        assert_eq!(shares[2][32], 3);
        for pair in [[0, 1], [1, 2], [0, 2]] {
            let got = combine(&[&shares[pair[0]], &shares[pair[1]]]).unwrap();
            assert_eq!(&got[..], &secret);
        }
        let all = combine(&[&shares[0], &shares[1], &shares[2]]).unwrap();
        assert_eq!(&all[..], &secret);
        assert!(combine(&[&shares[0], &shares[0]]).is_err());
    }
}
