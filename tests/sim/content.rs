//! A seeded generator, and record contents derived from a record's id
//! alone: key, value and headers are functions of the id, and the value
//! starts with the id, so any record read back can be checked byte for
//! byte and traced to the call that sent it.

/// xorshift64*: small and seeded, so a seed replays the same choices.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03 | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Ids of large records (a few KiB, so batches of them take the `pwrite`
/// path) are the multiples of this.
const LARGE_EVERY: u64 = 64;
const LARGE_VALUE_BYTES: usize = 7000;

pub fn is_large(id: u64) -> bool {
    id % LARGE_EVERY == 0
}

fn mix(id: u64) -> u64 {
    let mut x = id.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The value of record `id`: `r<id>:` and filler, 8 to 130 bytes (or
/// `LARGE_VALUE_BYTES` for large ids).
pub fn value(id: u64) -> Vec<u8> {
    let len = if is_large(id) { LARGE_VALUE_BYTES } else { 8 + (mix(id) % 123) as usize };
    let mut bytes = format!("r{id}:").into_bytes();
    let mut x = mix(id) | 1;
    while bytes.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.push(b'a' + (x % 26) as u8);
    }
    bytes
}

/// The key of record `id`, if it has one (a few keys, shared).
pub fn key(id: u64) -> Option<Vec<u8>> {
    (mix(id) % 3 == 0).then(|| format!("k{}", mix(id) % 5).into_bytes())
}

/// The header value of record `id`, if it has one (name `h`).
pub fn header(id: u64) -> Option<Vec<u8>> {
    (mix(id) % 4 == 1).then(|| id.to_le_bytes().to_vec())
}

/// The id a value starts with.
pub fn id_of(value: &[u8]) -> Option<u64> {
    let rest = value.strip_prefix(b"r")?;
    let end = rest.iter().position(|&b| b == b':')?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

/// Checks that a record read back is exactly record `id` as sent; returns
/// the id.
pub fn verify<'h>(
    offset: u64,
    key_read: Option<&[u8]>,
    value_read: Option<&[u8]>,
    headers_read: impl Iterator<Item = (&'h str, &'h [u8])>,
) -> Result<u64, String> {
    let value_read = value_read.ok_or_else(|| format!("record at offset {offset} has no value"))?;
    let id = id_of(value_read).ok_or_else(|| format!("record at offset {offset} is not one the simulation sent"))?;
    if value_read != value(id).as_slice() {
        return Err(format!("record {id} at offset {offset}: value differs from what was sent"));
    }
    if key_read != key(id).as_deref() {
        return Err(format!("record {id} at offset {offset}: key differs from what was sent"));
    }
    let headers: Vec<(String, Vec<u8>)> = headers_read.map(|(n, v)| (n.to_string(), v.to_vec())).collect();
    let expected: Vec<(String, Vec<u8>)> = header(id).map(|v| ("h".to_string(), v)).into_iter().collect();
    if headers != expected {
        return Err(format!("record {id} at offset {offset}: headers differ from what was sent"));
    }
    Ok(id)
}
