//! Decoding of encoded audio bytes to mono f32 at a target rate, the way the reference's
//! `ffmpeg -i pipe:0 -ac 1 -ar <rate> -f f32le` call does it:
//!
//! - containers and codecs: WAV (PCM u8/s16/s24/s32, float 32/64, WAVE_FORMAT_EXTENSIBLE),
//!   FLAC, MP3, OGG Vorbis, decoded with symphonia; as ffmpeg does, the encoder delay that an
//!   MP3's LAME/Xing header declares is dropped from the start, and the end padding is kept;
//! - integer samples become floats by exact power-of-two scaling (as ffmpeg converts them);
//! - down-mix to mono with ffmpeg's default matrix ([`super::mix`]), then resampling with a
//!   port of ffmpeg's default resampler ([`super::resample`]).
//!
//! Limits: the duration declared by the header is checked before decoding, and the decoded
//! duration while decoding, against `max_duration_s`; sample rates above 768 kHz and more than
//! 64 channels are refused.

use std::io::Cursor;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::default::formats::{FlacReader, MpaReader, OggReader, WavReader};

use super::mix::{coefficients, downmix_interleaved};
use super::resample::resample;
use super::AudioError;

/// Default limit on the duration of decoded audio, in seconds (one hour).
pub const DEFAULT_MAX_DURATION_S: f64 = 3600.0;
/// Highest accepted source sample rate.
pub const MAX_SAMPLE_RATE: u32 = 768_000;
/// Most accepted channels.
pub const MAX_CHANNELS: usize = 64;

/// Decoding options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeOptions {
    /// Output sample rate (the feature extractor's), 1..=768000.
    pub target_rate: u32,
    /// Longest accepted duration in seconds.
    pub max_duration_s: f64,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            target_rate: 16_000,
            max_duration_s: DEFAULT_MAX_DURATION_S,
        }
    }
}

/// The result of [`decode`].
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// Mono samples at `sample_rate`.
    pub samples: Vec<f32>,
    /// The output rate (`target_rate`).
    pub sample_rate: u32,
    /// The file's own rate.
    pub source_rate: u32,
    /// The file's channel count.
    pub source_channels: usize,
    /// Container/codec name: "wav", "flac", "mp3", "ogg".
    pub format: &'static str,
}

impl Decoded {
    /// Duration in seconds.
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }
}

/// What the header of a WAV file says about its channels: `Some(mask)` for
/// WAVE_FORMAT_EXTENSIBLE (its channel mask), `None` otherwise.
fn wav_channel_mask(bytes: &[u8]) -> Option<u32> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let mut at = 12usize;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]);
        let body = at + 8;
        if id == b"fmt " {
            let end = body.checked_add(size as usize)?;
            let fmt = bytes.get(body..end.min(bytes.len()))?;
            if fmt.len() >= 24 && u16::from_le_bytes([fmt[0], fmt[1]]) == 0xFFFE {
                return Some(u32::from_le_bytes([fmt[20], fmt[21], fmt[22], fmt[23]]));
            }
            return None;
        }
        at = body
            .checked_add(size as usize)?
            .checked_add(size as usize & 1)?;
    }
    None
}

/// Rejects a WAV whose fmt chunk declares zero channels, a zero sample rate or a zero block
/// size (the demuxer would divide by them).
fn check_wav_fmt(bytes: &[u8]) -> Result<(), AudioError> {
    let mut at = 12usize;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]])
            as usize;
        let body = at + 8;
        if id == b"fmt " {
            let fmt = &bytes[body..(body.saturating_add(size)).min(bytes.len())];
            if fmt.len() >= 16 {
                let channels = u16::from_le_bytes([fmt[2], fmt[3]]);
                let rate = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
                let align = u16::from_le_bytes([fmt[12], fmt[13]]);
                if channels == 0 || rate == 0 || align == 0 {
                    return Err(AudioError::Corrupt(format!(
                        "wav: the fmt chunk declares {channels} channels at {rate} Hz, block size {align}"
                    )));
                }
                if fmt.len() >= 24 && u16::from_le_bytes([fmt[0], fmt[1]]) == 0xFFFE {
                    let mask = u32::from_le_bytes([fmt[20], fmt[21], fmt[22], fmt[23]]);
                    check_channel_mask(channels, mask)?;
                }
            }
            return Ok(());
        }
        match body.checked_add(size).and_then(|v| v.checked_add(size & 1)) {
            Some(next) => at = next,
            None => break,
        }
    }
    Ok(())
}

/// The 18 standard WAVE_FORMAT_EXTENSIBLE speaker positions (FL ... TBR).
const SPEAKER_POSITIONS: u32 = 18;

/// A WAVE_FORMAT_EXTENSIBLE layout the decoder can place: at most 18 channels, a mask naming
/// only standard positions, and (when the mask names fewer positions than channels) room above
/// its highest position for the rest, which are placed there in order.
fn check_channel_mask(channels: u16, mask: u32) -> Result<(), AudioError> {
    let unsupported = |why: String| Err(AudioError::Unsupported(format!("wav: {why}")));
    if u32::from(channels) > SPEAKER_POSITIONS {
        return unsupported(format!(
            "{channels} channels; at most {SPEAKER_POSITIONS} speaker positions are supported"
        ));
    }
    if mask >> SPEAKER_POSITIONS != 0 {
        return unsupported(format!(
            "the channel mask {mask:#x} names speaker positions beyond the {SPEAKER_POSITIONS} standard ones"
        ));
    }
    let named = mask.count_ones();
    let highest = u32::BITS - mask.leading_zeros();
    if u32::from(channels) > named && highest + (u32::from(channels) - named) > SPEAKER_POSITIONS {
        return unsupported(format!(
            "{channels} channels do not fit above the positions of the channel mask {mask:#x}"
        ));
    }
    Ok(())
}

fn sniff(bytes: &[u8]) -> Option<&'static str> {
    let starts = |p: &[u8]| bytes.len() >= p.len() && &bytes[..p.len()] == p;
    if starts(b"RIFF") && bytes.len() >= 12 && &bytes[8..12] == b"WAVE" {
        Some("wav")
    } else if starts(b"fLaC") {
        Some("flac")
    } else if starts(b"OggS") {
        Some("ogg")
    } else if starts(b"ID3") || (bytes.len() >= 2 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0) {
        Some("mp3")
    } else {
        None
    }
}

/// Metadata the decoders would otherwise read with allocations sized by the file's own length
/// fields (a hostile tag can ask for gigabytes): the FLAC stream keeps only its STREAMINFO
/// block, an MP3's leading ID3v2 tag is skipped, and the lengths inside a Vorbis comment header
/// must fit in the file. Audio samples are untouched.
fn sanitize(bytes: &[u8], format: Option<&str>) -> Result<Vec<u8>, AudioError> {
    match format {
        Some("flac") => {
            let mut out = b"fLaC".to_vec();
            let mut at = 4usize;
            let mut streaminfo: Option<&[u8]> = None;
            loop {
                let header = bytes
                    .get(at..at + 4)
                    .ok_or_else(|| AudioError::Corrupt("flac: truncated metadata".into()))?;
                let last = header[0] & 0x80 != 0;
                let kind = header[0] & 0x7F;
                let len = (usize::from(header[1]) << 16)
                    | (usize::from(header[2]) << 8)
                    | usize::from(header[3]);
                let end = at + 4 + len;
                if end > bytes.len() {
                    return Err(AudioError::Corrupt(
                        "flac: a metadata block runs past the end".into(),
                    ));
                }
                if kind == 0 && streaminfo.is_none() {
                    streaminfo = Some(&bytes[at + 4..end]);
                }
                at = end;
                if last {
                    break;
                }
            }
            let info = streaminfo
                .ok_or_else(|| AudioError::Corrupt("flac: no STREAMINFO block".into()))?;
            let len = info.len();
            out.extend_from_slice(&[0x80, (len >> 16) as u8, (len >> 8) as u8, len as u8]);
            out.extend_from_slice(info);
            out.extend_from_slice(&bytes[at..]);
            Ok(out)
        }
        Some("mp3") if bytes.len() >= 10 && &bytes[..3] == b"ID3" => {
            let size = bytes[6..10]
                .iter()
                .fold(0usize, |acc, &b| (acc << 7) | usize::from(b & 0x7F));
            let footer = if bytes[5] & 0x10 != 0 { 10 } else { 0 };
            let skip = (10 + size + footer).min(bytes.len());
            Ok(bytes[skip..].to_vec())
        }
        Some("ogg") => {
            let sig = b"\x03vorbis";
            let mut from = 0usize;
            while let Some(pos) = bytes[from..].windows(sig.len()).position(|w| w == sig) {
                let mut at = from + pos + sig.len();
                let read = |at: &mut usize| -> Option<usize> {
                    let v = bytes.get(*at..*at + 4)?;
                    *at += 4;
                    Some(u32::from_le_bytes([v[0], v[1], v[2], v[3]]) as usize)
                };
                let bad =
                    || AudioError::Corrupt("ogg: a Vorbis comment length runs past the end".into());
                let vendor = read(&mut at).ok_or_else(bad)?;
                at = at
                    .checked_add(vendor)
                    .filter(|&a| a <= bytes.len())
                    .ok_or_else(bad)?;
                let count = read(&mut at).ok_or_else(bad)?;
                if count > bytes.len() {
                    return Err(bad());
                }
                for _ in 0..count {
                    let len = read(&mut at).ok_or_else(bad)?;
                    at = at
                        .checked_add(len)
                        .filter(|&a| a <= bytes.len())
                        .ok_or_else(bad)?;
                }
                from = at.max(from + pos + 1);
            }
            Ok(bytes.to_vec())
        }
        _ => Ok(bytes.to_vec()),
    }
}

fn is_opus(bytes: &[u8]) -> bool {
    bytes.len() >= 36 && &bytes[..4] == b"OggS" && bytes[28..36] == *b"OpusHead"
}

fn corrupt(format: &str, e: &SymError) -> AudioError {
    AudioError::Corrupt(format!("{format}: {e}"))
}

/// Decodes `bytes` to mono f32 at `options.target_rate`.
pub fn decode(bytes: &[u8], options: &DecodeOptions) -> Result<Decoded, AudioError> {
    // A decoder bug must not take the caller down: a panic becomes a corrupt-file error.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decode_inner(bytes, options)
    }))
    .unwrap_or_else(|_| {
        Err(AudioError::Corrupt(
            "the decoder failed on this file (malformed data)".into(),
        ))
    })
}

fn decode_inner(bytes: &[u8], options: &DecodeOptions) -> Result<Decoded, AudioError> {
    if options.target_rate == 0 || options.target_rate > MAX_SAMPLE_RATE {
        return Err(AudioError::InvalidArgument(format!(
            "sampling rate must be in 1..={MAX_SAMPLE_RATE}, got {}",
            options.target_rate
        )));
    }
    if !(options.max_duration_s.is_finite() && options.max_duration_s > 0.0) {
        return Err(AudioError::InvalidArgument(format!(
            "maxDurationSeconds must be a positive number, got {}",
            options.max_duration_s
        )));
    }
    if bytes.is_empty() {
        return Err(AudioError::Empty);
    }
    if is_opus(bytes) {
        return Err(AudioError::Unsupported(
            "Opus audio is not supported (supported: WAV, FLAC, MP3, OGG Vorbis)".into(),
        ));
    }
    // Only bytes that start like a supported container are probed: the probe would otherwise
    // scan the whole input for any marker (an ID3 tag inside it included).
    let sniffed = sniff(bytes);
    if sniffed.is_none() {
        return Err(AudioError::UnknownFormat);
    }
    let wav_mask = wav_channel_mask(bytes);
    if sniffed == Some("wav") {
        check_wav_fmt(bytes)?;
    }
    let clean = sanitize(bytes, sniffed)?;
    let mss = MediaSourceStream::new(Box::new(Cursor::new(clean)), Default::default());
    let format_options = FormatOptions {
        enable_gapless: false,
        ..Default::default()
    };
    // The sniffed container's own reader, never the probe: the probe scans the input for any
    // known marker, so a file of one format could be read as another found inside it.
    let opened: Result<Box<dyn FormatReader>, SymError> = match sniffed {
        Some("wav") => WavReader::try_new(mss, &format_options).map(|r| Box::new(r) as _),
        Some("flac") => FlacReader::try_new(mss, &format_options).map(|r| Box::new(r) as _),
        Some("mp3") => MpaReader::try_new(mss, &format_options).map(|r| Box::new(r) as _),
        Some("ogg") => OggReader::try_new(mss, &format_options).map(|r| Box::new(r) as _),
        _ => return Err(AudioError::UnknownFormat),
    };
    let mut reader = opened.map_err(|e| match (sniffed, e) {
        (Some(f), SymError::Unsupported(what)) => AudioError::Unsupported(format!("{f}: {what}")),
        (Some(f), e) => corrupt(f, &e),
        (None, _) => AudioError::UnknownFormat,
    })?;
    let format_name = sniffed.unwrap_or("audio");
    let track = reader
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| AudioError::Corrupt(format!("{format_name}: no audio track")))?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let source_rate = params
        .sample_rate
        .ok_or_else(|| AudioError::Corrupt(format!("{format_name}: no sample rate")))?;
    if source_rate == 0 || source_rate > MAX_SAMPLE_RATE {
        return Err(AudioError::Unsupported(format!(
            "{format_name}: sample rate {source_rate} Hz (accepted: 1..={MAX_SAMPLE_RATE})"
        )));
    }
    if let Some(frames) = params.n_frames {
        let seconds = frames as f64 / f64::from(source_rate);
        if seconds > options.max_duration_s {
            return Err(AudioError::TooLong {
                seconds,
                limit: options.max_duration_s,
            });
        }
    }
    let mut decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| match e {
            SymError::Unsupported(what) => {
                AudioError::Unsupported(format!("{format_name}: {what}"))
            }
            e => corrupt(format_name, &e),
        })?;
    let max_frames = (options.max_duration_s * f64::from(source_rate)).ceil() as u64;
    // Leading frames to drop (the encoder delay ffmpeg skips).
    let mut skip = if format_name == "mp3" {
        params.delay.unwrap_or(0) as usize
    } else {
        0
    };

    let mut mono: Vec<f32> = Vec::new();
    let mut channels = 0usize;
    let mut coeffs: Vec<f32> = Vec::new();
    let mut buffer: Option<SampleBuffer<f32>> = None;
    let mut frames: u64 = 0;
    let mut last_error: Option<AudioError> = None;
    loop {
        let packet = match reader.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            Err(e) => {
                // A damaged stream: keep what was decoded, as ffmpeg does.
                last_error = Some(corrupt(format_name, &e));
                break;
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            Err(SymError::DecodeError(e)) => {
                last_error = Some(AudioError::Corrupt(format!("{format_name}: {e}")));
                continue;
            }
            Err(SymError::IoError(_)) => break,
            Err(e) => return Err(corrupt(format_name, &e)),
        };
        let spec = *decoded.spec();
        let n = decoded.frames();
        if n == 0 {
            continue;
        }
        let ch = spec.channels.count();
        if ch == 0 || ch > MAX_CHANNELS {
            return Err(AudioError::Unsupported(format!(
                "{format_name}: {ch} channels (accepted: 1..={MAX_CHANNELS})"
            )));
        }
        if channels == 0 {
            channels = ch;
            let mask = match (format_name, wav_mask) {
                ("wav", Some(mask)) => mask,
                ("wav", None) => 0,
                _ => spec.channels.bits(),
            };
            coeffs = coefficients(ch, mask);
        } else if ch != channels {
            return Err(AudioError::Unsupported(format!(
                "{format_name}: the channel count changes mid-stream ({channels} -> {ch})"
            )));
        }
        frames += n as u64;
        if frames > max_frames {
            return Err(AudioError::TooLong {
                seconds: frames as f64 / f64::from(source_rate),
                limit: options.max_duration_s,
            });
        }
        let buf = match &mut buffer {
            Some(b) if b.capacity() >= n * ch => b,
            _ => buffer.insert(SampleBuffer::<f32>::new(decoded.capacity() as u64, spec)),
        };
        buf.copy_interleaved_ref(decoded);
        let dropped = skip.min(n);
        skip -= dropped;
        downmix_interleaved(&buf.samples()[dropped * ch..n * ch], ch, &coeffs, &mut mono);
    }
    if mono.is_empty() {
        return Err(last_error.unwrap_or_else(|| {
            AudioError::Corrupt(format!("{format_name}: the file holds no audio samples"))
        }));
    }
    let samples = resample(&mono, source_rate, options.target_rate);
    if samples.is_empty() {
        return Err(AudioError::Corrupt(format!(
            "{format_name}: too short to resample ({} samples at {source_rate} Hz)",
            mono.len()
        )));
    }
    Ok(Decoded {
        samples,
        sample_rate: options.target_rate,
        source_rate,
        source_channels: channels,
        format: format_name,
    })
}

/// Resamples raw mono samples (`{raw, sampling_rate}` inputs) from `rate` to `target_rate`
/// with the same resampler as decoded files, after checking them (finite values, duration).
pub fn convert_raw(
    data: &[f32],
    rate: u32,
    target_rate: u32,
    max_duration_s: f64,
) -> Result<Vec<f32>, AudioError> {
    if rate == 0 || rate > MAX_SAMPLE_RATE || target_rate == 0 || target_rate > MAX_SAMPLE_RATE {
        return Err(AudioError::InvalidArgument(format!(
            "sampling rates must be in 1..={MAX_SAMPLE_RATE} (got {rate} -> {target_rate})"
        )));
    }
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(AudioError::InvalidArgument(format!(
            "audio sample {i} is {} (only finite values are accepted)",
            data[i]
        )));
    }
    let seconds = data.len() as f64 / f64::from(rate);
    if seconds > max_duration_s {
        return Err(AudioError::TooLong {
            seconds,
            limit: max_duration_s,
        });
    }
    Ok(resample(data, rate, target_rate))
}
