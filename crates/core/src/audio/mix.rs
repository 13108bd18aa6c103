//! Down-mixing to mono with the coefficients ffmpeg's default rematrixing (`-ac 1`,
//! libswresample `swr_build_matrix` with default options and float output) uses:
//!
//! - front center: 1;
//! - front left / right, front left / right of center: √½ each;
//! - back left / right, back center, side left / right: √½ · √½ = ½ each (surround mix level √½);
//! - low-frequency effects: 0 (LFE mix level 0);
//! - any other position (top, wide, ...): 0.
//!
//! No normalisation follows (float output), so a stereo file with equal channels comes out
//! √2 louder, as ffmpeg's does. Channel positions are WAVE_FORMAT_EXTENSIBLE mask bits; when a
//! file declares none, ffmpeg's default layout for the channel count is assumed
//! ([`default_layout`]). The sum runs in f32 in channel order.

use std::f64::consts::FRAC_1_SQRT_2;

/// WAVE / ffmpeg channel position bits.
pub mod position {
    /// Front left.
    pub const FL: u32 = 0x1;
    /// Front right.
    pub const FR: u32 = 0x2;
    /// Front center.
    pub const FC: u32 = 0x4;
    /// Low-frequency effects.
    pub const LFE: u32 = 0x8;
    /// Back left.
    pub const BL: u32 = 0x10;
    /// Back right.
    pub const BR: u32 = 0x20;
    /// Front left of center.
    pub const FLC: u32 = 0x40;
    /// Front right of center.
    pub const FRC: u32 = 0x80;
    /// Back center.
    pub const BC: u32 = 0x100;
    /// Side left.
    pub const SL: u32 = 0x200;
    /// Side right.
    pub const SR: u32 = 0x400;
}

/// ffmpeg's default channel layout for a channel count (`av_channel_layout_default`), as a
/// position mask; 0 when ffmpeg has none (then channels are averaged, see [`coefficients`]).
pub fn default_layout(channels: usize) -> u32 {
    use position::*;
    match channels {
        1 => FC,
        2 => FL | FR,
        3 => FL | FR | LFE,
        4 => FL | FR | FC | BC,
        5 => FL | FR | FC | BL | BR,
        6 => FL | FR | FC | LFE | BL | BR,
        7 => FL | FR | FC | LFE | BC | SL | SR,
        8 => FL | FR | FC | LFE | BL | BR | SL | SR,
        _ => 0,
    }
}

/// The mono coefficient of each channel, in channel order. `mask` lists the positions of the
/// channels in ascending bit order (WAVE order); when it does not describe exactly `channels`
/// positions, the default layout for the count is used, and when there is none either, every
/// channel gets `1 / channels` (a documented approximation: ffmpeg refuses such files
/// unless told a layout).
pub fn coefficients(channels: usize, mask: u32) -> Vec<f32> {
    use position::*;
    if channels == 1 {
        return vec![1.0];
    }
    let mask = if mask.count_ones() as usize == channels {
        mask
    } else {
        default_layout(channels)
    };
    if mask == 0 {
        return vec![1.0 / channels as f32; channels];
    }
    let half = FRAC_1_SQRT_2 * FRAC_1_SQRT_2;
    let mut out = Vec::with_capacity(channels);
    for bit in 0..32 {
        let p = 1u32 << bit;
        if mask & p == 0 {
            continue;
        }
        let c = match p {
            FC => 1.0,
            FL | FR | FLC | FRC => FRAC_1_SQRT_2,
            BL | BR | BC | SL | SR => half,
            _ => 0.0,
        };
        out.push(c as f32);
    }
    out
}

/// Mixes interleaved `data` (`frames * channels` values) to mono with `coefficients`.
pub fn downmix_interleaved(
    data: &[f32],
    channels: usize,
    coefficients: &[f32],
    out: &mut Vec<f32>,
) {
    if channels == 0 {
        return;
    }
    if channels == 1 {
        out.extend_from_slice(data);
        return;
    }
    for frame in data.chunks_exact(channels) {
        let mut sum = 0f32;
        for (x, c) in frame.iter().zip(coefficients) {
            sum += x * c;
        }
        out.push(sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stereo_is_sqrt_half_each() {
        let c = coefficients(2, 0);
        assert_eq!(c, vec![FRAC_1_SQRT_2 as f32; 2]);
        let mut out = Vec::new();
        downmix_interleaved(&[0.5, 0.25, 1.0, -1.0], 2, &c, &mut out);
        assert!((out[0] - 0.530_330_1).abs() < 1e-6);
        assert!(out[1].abs() < 1e-7);
    }

    #[test]
    fn default_layouts_match_ffmpeg() {
        // 2.1: LFE dropped; 4.0: FC 1, BC 1/2.
        assert_eq!(coefficients(3, 0)[2], 0.0);
        let c = coefficients(4, 0);
        assert_eq!(c[2], 1.0);
        assert!((c[3] - 0.5).abs() < 1e-7);
        // An explicit FL|FR|FC mask.
        assert_eq!(coefficients(3, 0x7)[2], 1.0);
        // No default layout: mean.
        assert_eq!(coefficients(9, 0), vec![1.0 / 9.0; 9]);
    }
}
