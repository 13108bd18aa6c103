//! Segmentation masks as the task contract ships them (section 14): an 8-bit grayscale PNG,
//! 255 inside and 0 outside, encoded as standard base64 with padding and no data-URL prefix.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::error::{Error, Result};

/// Encodes a `[height, width]` row-major mask (any non-zero byte is inside) as PNG bytes.
pub fn mask_png(mask: &[u8], height: usize, width: usize) -> Result<Vec<u8>> {
    let n = height
        .checked_mul(width)
        .ok_or_else(|| Error::Dims(format!("mask: dims [{height}, {width}] overflow")))?;
    if n != mask.len() {
        return Err(Error::Dims(format!(
            "mask: buffer has {} values but dims [{height}, {width}] need {n}",
            mask.len()
        )));
    }
    // PNG dimensions are non-zero and at most 2^31 - 1.
    let side = |v: usize, what: &str| -> Result<u32> {
        match u32::try_from(v) {
            Ok(x) if x >= 1 && x <= i32::MAX as u32 => Ok(x),
            _ => Err(Error::Dims(format!(
                "mask: {what} {v} is outside 1..={} (a PNG cannot be empty)",
                i32::MAX
            ))),
        }
    };
    let (h, w) = (side(height, "height")?, side(width, "width")?);
    let pixels: Vec<u8> = mask.iter().map(|&m| if m != 0 { 255 } else { 0 }).collect();

    let codec = |e: png::EncodingError| Error::Codec(format!("mask: PNG encoding failed: {e}"));
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(codec)?;
        writer.write_image_data(&pixels).map_err(codec)?;
        writer.finish().map_err(codec)?;
    }
    Ok(out)
}

/// Encodes a `[height, width]` mask as base64 PNG, the wire form of a segmentation `mask`.
pub fn encode_mask_png(mask: &[u8], height: usize, width: usize) -> Result<String> {
    Ok(STANDARD.encode(mask_png(mask, height, width)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(b64: &str) -> (png::OutputInfo, Vec<u8>) {
        let bytes = STANDARD.decode(b64).unwrap();
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info, buf)
    }

    #[test]
    fn round_trips_pixel_for_pixel() {
        // 3 x 5 mask with bool-like values.
        let mask = [0, 1, 1, 0, 0, 1, 0, 7, 0, 1, 0, 0, 0, 0, 255];
        let b64 = encode_mask_png(&mask, 3, 5).unwrap();
        assert!(!b64.starts_with("data:"));
        assert!(b64.starts_with("iVBORw0KGgo"), "PNG signature in base64");
        let (info, pixels) = decode(&b64);
        assert_eq!((info.width, info.height), (5, 3));
        assert_eq!(info.color_type, png::ColorType::Grayscale);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        let want: Vec<u8> = mask.iter().map(|&m| if m == 0 { 0 } else { 255 }).collect();
        assert_eq!(pixels, want);
    }

    #[test]
    fn larger_masks_round_trip() {
        let (h, w) = (97, 131);
        let mask: Vec<u8> = (0..h * w)
            .map(|i| u8::from((i / w + i % w) % 3 == 0))
            .collect();
        let (info, pixels) = decode(&encode_mask_png(&mask, h, w).unwrap());
        assert_eq!((info.width as usize, info.height as usize), (w, h));
        assert!(pixels.iter().zip(&mask).all(|(&p, &m)| p == m * 255));
        let all_off = vec![0u8; 1];
        let (_, pixels) = decode(&encode_mask_png(&all_off, 1, 1).unwrap());
        assert_eq!(pixels, vec![0]);
    }

    #[test]
    fn rejects_bad_dims() {
        assert_eq!(
            encode_mask_png(&[1; 5], 2, 3).unwrap_err().code(),
            "ERR_DIMS"
        );
        assert_eq!(encode_mask_png(&[], 0, 0).unwrap_err().code(), "ERR_DIMS");
        assert_eq!(encode_mask_png(&[], 0, 7).unwrap_err().code(), "ERR_DIMS");
        assert_eq!(
            encode_mask_png(&[], usize::MAX, 2).unwrap_err().code(),
            "ERR_DIMS"
        );
        assert_eq!(
            encode_mask_png(&[], 1 << 32, 0).unwrap_err().code(),
            "ERR_DIMS"
        );
    }
}
