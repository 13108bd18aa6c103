//! L2 normalisation and cosine similarity of embeddings (task contract 6.3): a vector is
//! divided by `max(||x||, 1e-12)`, and the cosine of two vectors is the dot product of their
//! normalised forms (a zero vector therefore has similarity 0 with everything). Embeddings need
//! at least one dimension. Values are f32; norms accumulate in f64 and round once to f32, dot
//! products accumulate in f32 over eight lanes as a BLAS kernel does.

use crate::error::{check_finite, check_matrix, Error, Result};

/// The norm floor of `torch.nn.functional.normalize`.
pub const NORM_EPS: f64 = 1e-12;

fn normalize_row(row: &[f32], out: &mut Vec<f32>) {
    let norm = row
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt();
    let denom = norm.max(NORM_EPS) as f32;
    out.extend(row.iter().map(|&v| v / denom));
}

/// Normalises `rows` rows of `dim` values (`dim > 0`, buffer already checked).
fn normalize_rows(values: &[f32], rows: usize, dim: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(values.len());
    for row in values.chunks_exact(dim).take(rows) {
        normalize_row(row, &mut out);
    }
    out
}

/// Dot product of two equally long rows in f32 over eight independent lanes (so that it
/// vectorises); the lanes are summed pairwise at the end.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n8 = a.len().min(b.len()) / 8 * 8;
    let (a8, a_rest) = a.split_at(n8);
    let (b8, b_rest) = b.split_at(n8);
    let mut lanes = [0.0f32; 8];
    for (ca, cb) in a8.chunks_exact(8).zip(b8.chunks_exact(8)) {
        for ((lane, x), y) in lanes.iter_mut().zip(ca).zip(cb) {
            *lane += x * y;
        }
    }
    let mut sum = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
        + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
    for (x, y) in a_rest.iter().zip(b_rest) {
        sum += x * y;
    }
    sum
}

fn checked(values: &[f32], rows: usize, dim: usize, what: &str) -> Result<()> {
    if dim == 0 {
        return Err(Error::Dims(format!(
            "{what}: embeddings need at least one dimension (dim = 0)"
        )));
    }
    check_matrix(values.len(), rows, dim, what)?;
    check_finite(values, what)
}

/// L2-normalises every row of a `[rows, dim]` matrix.
pub fn l2_normalize(values: &[f32], rows: usize, dim: usize) -> Result<Vec<f32>> {
    checked(values, rows, dim, "l2Normalize")?;
    Ok(normalize_rows(values, rows, dim))
}

/// Cosine similarity of `query` (`[dim]`) with each row of `candidates` (`[rows, dim]`), in
/// row order.
pub fn cosine_similarity(
    query: &[f32],
    candidates: &[f32],
    rows: usize,
    dim: usize,
) -> Result<Vec<f32>> {
    if query.len() != dim {
        return Err(Error::Dims(format!(
            "cosineSimilarity: query has {} values but dim is {dim}",
            query.len()
        )));
    }
    checked(query, 1, dim, "cosineSimilarity: query")?;
    checked(candidates, rows, dim, "cosineSimilarity: candidates")?;
    let q = normalize_rows(query, 1, dim);
    let c = normalize_rows(candidates, rows, dim);
    Ok(c.chunks_exact(dim).map(|row| dot(&q, row)).collect())
}

/// Cosine similarity of every row of `a` (`[rows_a, dim]`) with every row of `b`
/// (`[rows_b, dim]`): a `[rows_a, rows_b]` matrix, row-major.
pub fn cosine_similarity_matrix(
    a: &[f32],
    rows_a: usize,
    b: &[f32],
    rows_b: usize,
    dim: usize,
) -> Result<Vec<f32>> {
    checked(a, rows_a, dim, "cosineSimilarityMatrix: a")?;
    checked(b, rows_b, dim, "cosineSimilarityMatrix: b")?;
    let too_big = || {
        Error::Dims(format!(
            "cosineSimilarityMatrix: output [{rows_a}, {rows_b}] is too large"
        ))
    };
    let cells = rows_a.checked_mul(rows_b).ok_or_else(too_big)?;
    let mut out = Vec::new();
    // The output grows with rows_a * rows_b: fail with an error, not an abort, when it cannot
    // be allocated.
    out.try_reserve_exact(cells).map_err(|_| too_big())?;
    let na = normalize_rows(a, rows_a, dim);
    let nb = normalize_rows(b, rows_b, dim);
    for ra in na.chunks_exact(dim) {
        out.extend(nb.chunks_exact(dim).map(|rb| dot(ra, rb)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_gives_unit_rows_and_keeps_zero_rows() {
        let out = l2_normalize(&[3.0, 4.0, 0.0, 0.0, 1e-20, 0.0], 3, 2).unwrap();
        assert_eq!(&out[..2], &[0.6, 0.8]);
        assert_eq!(&out[2..4], &[0.0, 0.0]);
        // ||x|| below the floor: divided by 1e-12, not scaled to unit length.
        assert!((out[4] - 1e-8).abs() < 1e-12);
    }

    #[test]
    fn cosine_one_to_many() {
        let out = cosine_similarity(
            &[1.0, 0.0],
            &[2.0, 0.0, 0.0, 5.0, -1.0, 0.0, 1.0, 1.0, 0.0, 0.0],
            5,
            2,
        )
        .unwrap();
        assert_eq!(&out[..3], &[1.0, 0.0, -1.0]);
        assert!((out[3] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-7);
        assert_eq!(out[4], 0.0);
        assert!(cosine_similarity(&[1.0], &[], 0, 1).unwrap().is_empty());
        assert!(cosine_similarity_matrix(&[1.0], 1, &[], 0, 1)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn cosine_matrix_is_row_major() {
        let a = [1.0, 0.0, 0.0, 1.0];
        let b = [0.0, 3.0, 4.0, 0.0, 1.0, 1.0];
        let out = cosine_similarity_matrix(&a, 2, &b, 3, 2).unwrap();
        let h = std::f32::consts::FRAC_1_SQRT_2;
        let want = [0.0, 1.0, h, 1.0, 0.0, h];
        for (g, w) in out.iter().zip(want) {
            assert!((g - w).abs() < 1e-7, "{out:?}");
        }
        assert_eq!(out.len(), 6);
        // Matrix rows equal the one-to-many results.
        let row = cosine_similarity(&a[2..], &b, 3, 2).unwrap();
        assert_eq!(&out[3..], &row[..]);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            l2_normalize(&[1.0; 5], 2, 3).unwrap_err().code(),
            "ERR_DIMS"
        );
        assert_eq!(
            l2_normalize(&[1.0, f32::INFINITY], 1, 2)
                .unwrap_err()
                .code(),
            "ERR_NON_FINITE"
        );
        assert_eq!(
            cosine_similarity(&[1.0, 2.0, 3.0], &[1.0, 2.0], 1, 2)
                .unwrap_err()
                .code(),
            "ERR_DIMS"
        );
        assert_eq!(
            cosine_similarity(&[1.0, f32::NAN], &[1.0, 2.0], 1, 2)
                .unwrap_err()
                .code(),
            "ERR_NON_FINITE"
        );
        assert_eq!(
            cosine_similarity_matrix(&[], usize::MAX, &[], 2, 2)
                .unwrap_err()
                .code(),
            "ERR_DIMS"
        );
        // Zero-dimensional embeddings are rejected (rows would not be backed by data).
        assert_eq!(
            cosine_similarity(&[], &[], u32::MAX as usize, 0)
                .unwrap_err()
                .code(),
            "ERR_DIMS"
        );
        assert_eq!(
            cosine_similarity_matrix(&[], 1 << 20, &[], 1 << 20, 0)
                .unwrap_err()
                .code(),
            "ERR_DIMS"
        );
        assert_eq!(l2_normalize(&[], 5, 0).unwrap_err().code(), "ERR_DIMS");
        assert_eq!(
            cosine_similarity_matrix(&[], 0, &[], 0, usize::MAX).unwrap(),
            Vec::<f32>::new()
        );
    }
}
