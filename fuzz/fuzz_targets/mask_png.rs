//! Fuzzes mask PNG encoding: arbitrary dims and bytes either fail with ERR_DIMS or produce a
//! base64 PNG that the png crate decodes back to the same 0/255 pixels.
#![no_main]

use arbitrary::{Result as ArbResult, Unstructured};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hf_tasks_core::mask::encode_mask_png;
use libfuzzer_sys::fuzz_target;

fn run(u: &mut Unstructured<'_>) -> ArbResult<()> {
    let (height, width) = if u.ratio(1, 10)? {
        (u.arbitrary::<usize>()?, u.arbitrary::<usize>()?)
    } else {
        (u.int_in_range(0..=64usize)?, u.int_in_range(0..=64usize)?)
    };
    let n = height.saturating_mul(width).min(64 * 64);
    let mut mask: Vec<u8> = Vec::with_capacity(n);
    for _ in 0..n {
        mask.push(u.arbitrary()?);
    }
    if u.ratio(1, 20)? {
        mask.pop();
    }
    match encode_mask_png(&mask, height, width) {
        Err(e) => {
            assert_eq!(e.code(), "ERR_DIMS", "{e}");
            assert!(height.checked_mul(width) != Some(mask.len()) || height == 0 || width == 0);
        }
        Ok(b64) => {
            let bytes = STANDARD.decode(&b64).expect("valid base64");
            let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
                .read_info()
                .expect("valid PNG header");
            let mut buf = vec![0; reader.output_buffer_size()];
            let info = reader.next_frame(&mut buf).expect("valid PNG data");
            assert_eq!((info.width as usize, info.height as usize), (width, height));
            assert_eq!(info.color_type, png::ColorType::Grayscale);
            assert_eq!(info.bit_depth, png::BitDepth::Eight);
            let pixels = &buf[..info.buffer_size()];
            assert_eq!(pixels.len(), mask.len());
            for (p, m) in pixels.iter().zip(&mask) {
                assert_eq!(*p, if *m == 0 { 0 } else { 255 });
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
