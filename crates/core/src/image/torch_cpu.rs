//! `f32` softmax and sigmoid as torch's CPU kernels compute them with AVX-512 (16 lanes), so
//! that post-processing decisions that hinge on the last bit (argmax ties between saturated
//! mask probabilities, equal class scores) come out as in the reference:
//!
//! - `exp` is SLEEF's `expf_u10` (`Sleef_expf16_u10`, fused multiply-adds), which is not
//!   correctly rounded;
//! - `sigmoid(x)` is `1 / (exp(0 - x) + 1)` on the vectorised part of a tensor (whole blocks of
//!   32 elements) and `1 / (1 + expf(-x))` (the C library's `expf`) on the tail;
//! - `softmax` over the last dimension: `exp(x - max)` (SLEEF), the sum of a 16-lane vector
//!   accumulator folded as a tree (rows shorter than 16: in order), then a multiplication by
//!   `1 / sum`.

/// `1 / ln 2`, `ln 2` split in an upper and a lower part (SLEEF's `R_LN2f`, `L2Uf`, `L2Lf`),
/// as `f32` bits.
const R_LN2F: u32 = 0x3fb8_aa3b;
const L2UF: u32 = 0x3f31_7200;
const L2LF: u32 = 0x35bf_be8e;
/// The polynomial's coefficients, highest degree first, then 0.5.
const POLY: [u32; 6] = [
    0x3950_2bda, // 0.000198527617612853646278381
    0x3ab6_96c9, // 0.00139304355252534151077271
    0x3c08_88a6, // 0.00833336077630519866943359
    0x3d2a_aa7a, // 0.0416664853692054748535156
    0x3e2a_aaab, // 0.166666671633720397949219
    0x3f00_0000, // 0.5
];

/// `2^e` for `e` in the normal exponent range.
fn pow2i(e: i32) -> f32 {
    f32::from_bits(((e + 127) as u32) << 23)
}

/// SLEEF's `xexpf` (1.0 ULP), lane by lane.
pub fn expf_u10(d: f32) -> f32 {
    if d.is_nan() {
        return d;
    }
    if d > 100.0 {
        return f32::INFINITY;
    }
    if d < -104.0 {
        return 0.0;
    }
    let q = (d * f32::from_bits(R_LN2F)).round_ties_even() as i32;
    let qf = q as f32;
    let s = qf.mul_add(-f32::from_bits(L2UF), d);
    let s = qf.mul_add(-f32::from_bits(L2LF), s);
    let mut u = f32::from_bits(POLY[0]);
    for &c in &POLY[1..] {
        u = u.mul_add(s, f32::from_bits(c));
    }
    let u = 1.0 + (s * s).mul_add(u, s);
    u * pow2i(q >> 1) * pow2i(q - (q >> 1))
}

/// Elements per iteration of torch's vectorised elementwise loop (two 16-lane vectors); the
/// remainder of a tensor runs the scalar code.
const ELEMENTWISE_BLOCK: usize = 32;

/// torch's `sigmoid` of the element at `index` of a contiguous tensor of `numel` elements.
#[inline]
pub fn sigmoid_at(v: f32, index: usize, numel: usize) -> f32 {
    if index < numel - numel % ELEMENTWISE_BLOCK {
        1.0 / (expf_u10(0.0 - v) + 1.0)
    } else {
        1.0 / (1.0 + (-v).exp())
    }
}

/// torch's `sigmoid` of a whole contiguous tensor.
pub fn sigmoid_all(data: &[f32]) -> Vec<f32> {
    let n = data.len();
    data.iter()
        .enumerate()
        .map(|(i, &v)| sigmoid_at(v, i, n))
        .collect()
}

const LANES: usize = 16;

/// `vec::reduce_all` with `+` over a row (16-lane accumulator, tree fold).
fn vector_sum(values: &[f32]) -> f32 {
    let n = values.len();
    if n < LANES {
        let mut acc = values.first().copied().unwrap_or(0.0);
        for &v in values.iter().skip(1) {
            acc += v;
        }
        return acc;
    }
    let mut acc = [0f32; LANES];
    acc.copy_from_slice(&values[..LANES]);
    let whole = n - n % LANES;
    let mut d = LANES;
    while d < whole {
        for (a, &v) in acc.iter_mut().zip(&values[d..d + LANES]) {
            *a += v;
        }
        d += LANES;
    }
    for (a, &v) in acc.iter_mut().zip(&values[d..]) {
        *a += v;
    }
    let mut step = LANES / 2;
    while step >= 1 {
        let prev = acc;
        for (i, a) in acc.iter_mut().enumerate() {
            *a = prev[i] + prev[i ^ step];
        }
        step /= 2;
    }
    acc[0]
}

/// torch's `softmax(dim=-1)` of one row.
pub fn softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = row.iter().map(|&v| expf_u10(v - max)).collect();
    let inv = 1.0 / vector_sum(&exps);
    exps.iter().map(|&e| e * inv).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleef_exp_is_close_to_exp() {
        for i in -200..=200 {
            let x = i as f32 * 0.37;
            let want = f64::from(x).exp();
            let got = f64::from(expf_u10(x));
            assert!(((got - want) / want).abs() < 3e-7, "{x}: {got} vs {want}");
        }
        assert_eq!(expf_u10(-105.0), 0.0);
        assert_eq!(expf_u10(101.0), f32::INFINITY);
        assert_eq!(expf_u10(0.0), 1.0);
    }

    #[test]
    fn torch_bits() {
        // torch 2.x CPU (AVX-512): torch.tensor([...]).softmax(-1) and .sigmoid().
        let p = softmax(&[1.0, 2.0, 3.0]);
        let sum: f32 = p.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6);
        assert!(p[2] > p[1] && p[1] > p[0]);
        let long: Vec<f32> = (0..71).map(|i| (i % 7) as f32).collect();
        let p = softmax(&long);
        assert!((p.iter().map(|&v| f64::from(v)).sum::<f64>() - 1.0).abs() < 1e-5);
        let s = sigmoid_all(&[0.0; 33]);
        assert!(s.iter().all(|&v| v == 0.5));
        assert_eq!(sigmoid_at(40.0, 0, 32), 1.0);
    }
}
