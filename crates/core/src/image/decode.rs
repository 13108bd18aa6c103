//! Decoding of encoded image bytes into 8-bit RGB, the way the reference loader does it:
//! open, apply the EXIF orientation (`ImageOps.exif_transpose`), then `convert("RGB")`.
//!
//! Conversion rules (Pillow's converters):
//! - alpha is dropped, never composited onto a background;
//! - gray and palette images are expanded to three equal / looked-up channels;
//! - 16-bit RGB(A) and gray+alpha PNGs keep the high byte of each sample (Pillow unpacks them
//!   straight to 8-bit modes);
//! - 16-bit gray PNGs open as `I;16`, whose RGB conversion saturates: values above 255 become 255;
//! - float samples are clamped to 0..=255 and truncated (no reference parity claimed).

use std::io::Cursor;

use ::image::error::{ImageError as LibError, LimitErrorKind};
use ::image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use super::{ImageError, RgbImage};

/// Default pixel limit: the size at which Pillow refuses to open an image
/// (`2 * Image.MAX_IMAGE_PIXELS`, a `DecompressionBombError`).
pub const DEFAULT_MAX_PIXELS: u64 = 2 * 89_478_485;

/// Decoding options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Largest accepted `width * height`, checked against the header before any pixel is
    /// decoded. Also bounds the decoder's allocations (8 bytes per pixel plus 1 MiB).
    pub max_pixels: u64,
    /// Apply the EXIF orientation tag (on by default, as the reference does).
    pub apply_exif_orientation: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            max_pixels: DEFAULT_MAX_PIXELS,
            apply_exif_orientation: true,
        }
    }
}

/// The result of [`decode`].
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The oriented RGB pixels.
    pub image: RgbImage,
    /// The container format, lower case ("jpeg", "png", "webp", "gif", "bmp", "tiff").
    pub format: &'static str,
    /// The EXIF orientation that was found (1 when absent or not applied), 1..=8.
    pub orientation: u8,
}

fn format_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "jpeg",
        ImageFormat::Png => "png",
        ImageFormat::WebP => "webp",
        ImageFormat::Gif => "gif",
        ImageFormat::Bmp => "bmp",
        ImageFormat::Tiff => "tiff",
        _ => "image",
    }
}

fn looks_truncated(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "eof",
        "end of file",
        "end of stream",
        "unexpected end",
        "truncat",
        "not enough data",
        "no more data",
        "exhausted",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

fn map_error(err: LibError, format: &'static str) -> ImageError {
    match err {
        LibError::IoError(e) => {
            if e.kind() == std::io::ErrorKind::UnexpectedEof || looks_truncated(&e.to_string()) {
                ImageError::Truncated {
                    format: format.into(),
                }
            } else {
                ImageError::Corrupt {
                    format: format.into(),
                    detail: e.to_string(),
                }
            }
        }
        LibError::Decoding(e) => {
            let detail = e.to_string();
            if looks_truncated(&detail) {
                ImageError::Truncated {
                    format: format.into(),
                }
            } else {
                ImageError::Corrupt {
                    format: format.into(),
                    detail,
                }
            }
        }
        LibError::Unsupported(e) => ImageError::Unsupported {
            format: format.into(),
            detail: e.to_string(),
        },
        LibError::Limits(e) => match e.kind() {
            LimitErrorKind::InsufficientMemory | LimitErrorKind::DimensionError => {
                ImageError::MemoryLimit(e.to_string())
            }
            _ => ImageError::Unsupported {
                format: format.into(),
                detail: e.to_string(),
            },
        },
        other => ImageError::Corrupt {
            format: format.into(),
            detail: other.to_string(),
        },
    }
}

/// Decodes `bytes` (JPEG, PNG, WebP, GIF first frame, BMP or TIFF) into oriented 8-bit RGB.
pub fn decode(bytes: &[u8], options: &DecodeOptions) -> Result<Decoded, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| ImageError::UnknownFormat)?;
    let lib_format = reader.format().ok_or(ImageError::UnknownFormat)?;
    let format = format_name(lib_format);
    if format == "image" {
        return Err(ImageError::UnknownFormat);
    }
    let mut limits = Limits::default();
    limits.max_alloc = Some(options.max_pixels.saturating_mul(8).saturating_add(1 << 20));
    let mut reader = reader;
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| map_error(e, format))?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(ImageError::ZeroSize { width, height });
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > options.max_pixels {
        return Err(ImageError::TooManyPixels {
            width,
            height,
            pixels,
            limit: options.max_pixels,
        });
    }
    let orientation = if options.apply_exif_orientation {
        // An unreadable EXIF block is ignored, as Pillow ignores it.
        decoder
            .orientation()
            .unwrap_or(::image::metadata::Orientation::NoTransforms)
    } else {
        ::image::metadata::Orientation::NoTransforms
    };
    let mut dynamic = DynamicImage::from_decoder(decoder).map_err(|e| map_error(e, format))?;
    dynamic.apply_orientation(orientation);
    let image = to_rgb(&dynamic)?;
    Ok(Decoded {
        image,
        format,
        orientation: orientation.to_exif(),
    })
}

/// Reads only the header: the format name and the stored (un-oriented) width and height.
pub fn probe(bytes: &[u8]) -> Result<(&'static str, u32, u32), ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| ImageError::UnknownFormat)?;
    let format = format_name(reader.format().ok_or(ImageError::UnknownFormat)?);
    if format == "image" {
        return Err(ImageError::UnknownFormat);
    }
    let decoder = reader.into_decoder().map_err(|e| map_error(e, format))?;
    let (w, h) = decoder.dimensions();
    Ok((format, w, h))
}

fn clamp_f32(v: f32) -> u8 {
    if v.is_nan() {
        0
    } else {
        v.clamp(0.0, 255.0) as u8
    }
}

fn expand<const C: usize, T: Copy>(src: &[T], px: impl Fn(&[T]) -> [u8; 3]) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len() / C * 3);
    for p in src.chunks_exact(C) {
        out.extend_from_slice(&px(p));
    }
    out
}

/// Converts any decoded image to 8-bit RGB following Pillow's `convert("RGB")`.
pub fn to_rgb(image: &DynamicImage) -> Result<RgbImage, ImageError> {
    let (width, height) = (image.width(), image.height());
    let data = match image {
        DynamicImage::ImageRgb8(b) => b.as_raw().clone(),
        DynamicImage::ImageRgba8(b) => expand::<4, u8>(b.as_raw(), |p| [p[0], p[1], p[2]]),
        DynamicImage::ImageLuma8(b) => expand::<1, u8>(b.as_raw(), |p| [p[0]; 3]),
        DynamicImage::ImageLumaA8(b) => expand::<2, u8>(b.as_raw(), |p| [p[0]; 3]),
        DynamicImage::ImageLuma16(b) => {
            expand::<1, u16>(b.as_raw(), |p| [u8::try_from(p[0]).unwrap_or(255); 3])
        }
        DynamicImage::ImageLumaA16(b) => expand::<2, u16>(b.as_raw(), |p| [(p[0] >> 8) as u8; 3]),
        DynamicImage::ImageRgb16(b) => expand::<3, u16>(b.as_raw(), |p| {
            [(p[0] >> 8) as u8, (p[1] >> 8) as u8, (p[2] >> 8) as u8]
        }),
        DynamicImage::ImageRgba16(b) => expand::<4, u16>(b.as_raw(), |p| {
            [(p[0] >> 8) as u8, (p[1] >> 8) as u8, (p[2] >> 8) as u8]
        }),
        DynamicImage::ImageRgb32F(b) => expand::<3, f32>(b.as_raw(), |p| {
            [clamp_f32(p[0]), clamp_f32(p[1]), clamp_f32(p[2])]
        }),
        DynamicImage::ImageRgba32F(b) => expand::<4, f32>(b.as_raw(), |p| {
            [clamp_f32(p[0]), clamp_f32(p[1]), clamp_f32(p[2])]
        }),
        other => other.to_rgb8().into_raw(),
    };
    RgbImage::new(width, height, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_unknown_bytes_are_typed_errors() {
        let opts = DecodeOptions::default();
        assert_eq!(decode(&[], &opts).expect_err("empty"), ImageError::Empty);
        assert_eq!(
            decode(b"hello world", &opts).expect_err("unknown").code(),
            "ERR_IMAGE_FORMAT"
        );
        // A PNG signature with nothing after it.
        let err = decode(b"\x89PNG\r\n\x1a\n", &opts).expect_err("truncated");
        assert!(
            matches!(err.code(), "ERR_IMAGE_TRUNCATED" | "ERR_IMAGE_CORRUPT"),
            "{err}"
        );
    }

    #[test]
    fn sixteen_bit_conversions_follow_pillow() {
        let gray =
            ::image::ImageBuffer::<::image::Luma<u16>, _>::from_raw(3, 1, vec![5u16, 255, 256])
                .expect("buffer");
        let rgb = to_rgb(&DynamicImage::ImageLuma16(gray)).expect("rgb");
        assert_eq!(rgb.data(), &[5, 5, 5, 255, 255, 255, 255, 255, 255]);
        let color = ::image::ImageBuffer::<::image::Rgb<u16>, _>::from_raw(
            1,
            1,
            vec![0x12ff, 0xff00, 0x00ff],
        )
        .expect("buffer");
        let rgb = to_rgb(&DynamicImage::ImageRgb16(color)).expect("rgb");
        assert_eq!(rgb.data(), &[0x12, 0xff, 0x00]);
    }
}
