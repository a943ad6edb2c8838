//! Arbitrary bytes never panic the frame decoder, and whatever it accepts
//! has a CRC that verifies independently and re-encodes to the same bytes.
#![no_main]

use larder::record::codec::{decode, encode, encoded_len};
use larder::record::NewRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(view) = decode(bytes) else { return };
    let frame = &bytes[..view.frame_len()];
    let stored = u32::from_le_bytes(frame[4..8].try_into().unwrap());
    assert_eq!(stored, crc32c::crc32c(&frame[8..]), "accepted a frame whose CRC fails");
    let headers: Vec<(&str, &[u8])> = view.headers().collect();
    let record = NewRecord { key: view.key(), value: view.value(), timestamp_ms: None, headers: &headers };
    let mut again = vec![0u8; encoded_len(&record).unwrap()];
    encode(&mut again, view.offset(), view.timestamp_ms(), &record);
    assert_eq!(again, frame, "decode and encode disagree");
});
