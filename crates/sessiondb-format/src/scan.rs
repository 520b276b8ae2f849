//! A JSON scanner for the few fields sessiondb reads from a line: it walks an object's members, hands each
//! wanted value over as a raw span of the line (its JSON text), and skips everything else without building
//! anything.
//!
//! Skipping is where a sync spends its parsing time: most bytes of a transcript are message content and tool
//! output that nothing indexes. A skipped object or array is crossed 64 bytes at a time, the way simdjson finds
//! structure: bit masks of quotes, backslashes and brackets (SSE2 on x86-64), escaped quotes found with integer
//! arithmetic on the backslash mask, the inside of strings with a prefix XOR of the quote mask, and a depth count
//! over the brackets outside strings. A skipped string is crossed with `memchr` (SIMD) from quote to quote.
//!
//! What is checked: the members walked (a missing comma, colon or key, a bad literal, stray bytes after the
//! object), and in skipped values that strings end and brackets balance, so a truncated line or two lines run
//! together are errors, as they are for serde_json. Left unchecked inside skipped values, for speed: commas,
//! colons and literals, which kind of bracket closes which, the characters after a backslash, raw control
//! characters in strings, and the exact grammar of numbers. A line damaged only there reads as well-formed and
//! keeps its fields. The number fields of a response (`costUSD`, the members of `usage`) are read with
//! [`Scanner::loose_value`], so a non-JSON token there (`NaN`, `0x10`) is recorded by name, not as a malformed line.
//!
//! Keys are compared as written (escapes are not decoded): Claude Code never escapes a key, and a key that
//! only matches after decoding is treated as an unknown field. A key given twice counts with its last value, as
//! in `serde_json::Value`.

use memchr::memchr;

/// Where and why a line is not well-formed JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScanError {
    pub at: usize,
    pub what: &'static str,
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

/// A cursor over one JSON text.
pub(crate) struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    pub fn new(text: &'a str) -> Self {
        Scanner { text, pos: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn error(&self, what: &'static str) -> ScanError {
        ScanError { at: self.pos, what }
    }

    /// The next byte after whitespace, without consuming it.
    pub fn peek(&mut self) -> Option<u8> {
        let bytes = self.bytes();
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(self.pos) {
            self.pos += 1;
        }
        bytes.get(self.pos).copied()
    }

    /// Whether only whitespace is left.
    pub fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    fn expect(&mut self, byte: u8, what: &'static str) -> Result<(), ScanError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error_here(what))
        }
    }

    /// An error at the cursor, told apart from running out of line (the usual case: a truncated write).
    fn error_here(&self, what: &'static str) -> ScanError {
        if self.pos >= self.text.len() {
            self.error("unexpected end of line")
        } else {
            self.error(what)
        }
    }

    /// Skips the string whose opening quote is at the cursor. It jumps from quote to quote with `memchr` and
    /// counts the backslashes before each: an odd run escapes the quote. (Jumping to every backslash instead
    /// stops at each `\n` of the code and text that fill transcripts, several times as many stops.)
    fn skip_string(&mut self) -> Result<(), ScanError> {
        let bytes = self.bytes();
        let start = self.pos + 1;
        let mut at = start;
        loop {
            match bytes.get(at..).and_then(|rest| memchr(b'"', rest)) {
                Some(found) => {
                    let quote = at + found;
                    let backslashes = bytes[start..quote]
                        .iter()
                        .rev()
                        .take_while(|&&b| b == b'\\')
                        .count();
                    if backslashes % 2 == 0 {
                        self.pos = quote + 1;
                        return Ok(());
                    }
                    at = quote + 1;
                }
                None => {
                    self.pos = bytes.len();
                    return Err(self.error("unterminated string"));
                }
            }
        }
    }

    /// Skips a number or literal at the cursor.
    fn skip_scalar(&mut self) -> Result<(), ScanError> {
        let rest = &self.bytes()[self.pos..];
        for literal in [&b"true"[..], b"false", b"null"] {
            if rest.starts_with(literal) {
                self.pos += literal.len();
                return Ok(());
            }
        }
        match rest.first() {
            Some(b'-' | b'0'..=b'9') => {
                let len = rest
                    .iter()
                    .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .unwrap_or(rest.len());
                self.pos += len;
                Ok(())
            }
            _ => Err(self.error_here("expected a value")),
        }
    }

    /// Consumes an object key and its colon; returns the key as written, without quotes.
    fn key(&mut self) -> Result<&'a str, ScanError> {
        if self.peek() != Some(b'"') {
            return Err(self.error_here("expected a key"));
        }
        let start = self.pos + 1;
        self.skip_string()?;
        let key = &self.text[start..self.pos - 1];
        self.expect(b':', "expected ':'")?;
        Ok(key)
    }

    /// Skips one value of any type.
    pub fn skip(&mut self) -> Result<(), ScanError> {
        match self.peek() {
            Some(b'{' | b'[') => self.skip_container(),
            Some(b'"') => self.skip_string(),
            _ => self.skip_scalar(),
        }
    }

    /// Skips the object or array whose opening bracket is at the cursor: past the bracket that brings the depth
    /// of brackets outside strings back to zero (see the module notes).
    fn skip_container(&mut self) -> Result<(), ScanError> {
        let bytes = self.bytes();
        let mut block_start = self.pos;
        let mut depth: u64 = 0;
        let mut escapes = EscapeScanner::default();
        // All ones when the previous block ended inside a string.
        let mut inside_string: u64 = 0;
        while block_start < bytes.len() {
            let masks = BlockMasks::of(&bytes[block_start..]);
            let quotes = masks.quotes & !escapes.escaped(masks.backslashes);
            let in_string = prefix_xor(quotes) ^ inside_string;
            inside_string = ((in_string as i64) >> 63) as u64;
            let opens = masks.opens & !in_string;
            let closes = masks.closes & !in_string;
            if depth > u64::from(closes.count_ones()) {
                // The depth cannot reach zero in this block: count it all at once.
                depth = depth + u64::from(opens.count_ones()) - u64::from(closes.count_ones());
            } else {
                let mut brackets = opens | closes;
                while brackets != 0 {
                    let at = brackets.trailing_zeros();
                    if opens >> at & 1 == 1 {
                        depth += 1;
                    } else {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            self.pos = block_start + at as usize + 1;
                            return Ok(());
                        }
                    }
                    brackets &= brackets - 1;
                }
            }
            block_start += BLOCK;
        }
        self.pos = bytes.len();
        Err(self.error(if inside_string != 0 {
            "unterminated string"
        } else {
            "unexpected end of line"
        }))
    }

    /// Consumes one value and returns its JSON text.
    pub fn value(&mut self) -> Result<&'a str, ScanError> {
        self.peek();
        let start = self.pos;
        self.skip()?;
        Ok(&self.text[start..self.pos])
    }

    /// Like [`Self::value`], but a scalar that is not JSON (`NaN`, `Infinity`, `0x10`, `+5`) is handed out as
    /// written, up to the next `,`, `}`, `]` or space, instead of failing the walk: for the number fields whose
    /// bad values are recorded by name rather than making the whole line malformed.
    pub fn loose_value(&mut self) -> Result<&'a str, ScanError> {
        match self.peek() {
            Some(b'{' | b'[' | b'"') | None => self.value(),
            Some(_) => {
                let start = self.pos;
                let rest = &self.bytes()[start..];
                let len = rest
                    .iter()
                    .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n'))
                    .unwrap_or(rest.len());
                if len == 0 {
                    return Err(self.error_here("expected a value"));
                }
                self.pos += len;
                Ok(&self.text[start..self.pos])
            }
        }
    }

    /// Walks the members of the object at the cursor, calling `on_member` with each key; `on_member` must
    /// consume the value (with [`Self::value`], [`Self::skip`] or a nested walk). A value that is not an object
    /// is skipped and gives `false`.
    pub fn members(
        &mut self,
        mut on_member: impl FnMut(&mut Self, &'a str) -> Result<(), ScanError>,
    ) -> Result<bool, ScanError> {
        if self.peek() != Some(b'{') {
            self.skip()?;
            return Ok(false);
        }
        self.pos += 1;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(true);
        }
        loop {
            let key = self.key()?;
            on_member(self, key)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(true);
                }
                _ => return Err(self.error_here("expected ',' or '}'")),
            }
        }
    }

    /// Walks the elements of the array at the cursor, calling `on_element` for each; it must consume the
    /// element. A value that is not an array is skipped and gives `false`.
    pub fn elements(
        &mut self,
        mut on_element: impl FnMut(&mut Self) -> Result<(), ScanError>,
    ) -> Result<bool, ScanError> {
        if self.peek() != Some(b'[') {
            self.skip()?;
            return Ok(false);
        }
        self.pos += 1;
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(true);
        }
        loop {
            on_element(self)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(true);
                }
                _ => return Err(self.error_here("expected ',' or ']'")),
            }
        }
    }
}

/// Walks the members of the JSON object `text` (a span handed out by [`Scanner::value`]); `None` when it is
/// not an object or not well-formed.
pub(crate) fn object_members<'a>(
    text: &'a str,
    on_member: impl FnMut(&mut Scanner<'a>, &'a str) -> Result<(), ScanError>,
) -> Option<()> {
    let mut scanner = Scanner::new(text);
    match scanner.members(on_member) {
        Ok(true) if scanner.at_end() => Some(()),
        _ => None,
    }
}

/// Bytes per step of [`Scanner::skip_container`]: one bit of a `u64` mask each.
const BLOCK: usize = 64;

/// Where the quotes, backslashes and brackets of one block are: bit `i` is byte `i`. Bytes past the end of the
/// text count as spaces.
struct BlockMasks {
    quotes: u64,
    backslashes: u64,
    opens: u64,
    closes: u64,
}

impl BlockMasks {
    fn of(text: &[u8]) -> BlockMasks {
        let mut block = [b' '; BLOCK];
        let block = match text.get(..BLOCK) {
            Some(full) => full,
            None => {
                block[..text.len()].copy_from_slice(text);
                &block[..]
            }
        };
        let mut masks = BlockMasks {
            quotes: 0,
            backslashes: 0,
            opens: 0,
            closes: 0,
        };
        let (chunks, _) = block.as_chunks::<16>();
        for (i, chunk) in chunks.iter().enumerate() {
            let [quotes, backslashes, opens, closes] = chunk_masks(chunk);
            let shift = 16 * i;
            masks.quotes |= u64::from(quotes) << shift;
            masks.backslashes |= u64::from(backslashes) << shift;
            masks.opens |= u64::from(opens) << shift;
            masks.closes |= u64::from(closes) << shift;
        }
        masks
    }
}

/// Masks of `"`, `\`, `{` or `[`, and `}` or `]` in 16 bytes. (`[` and `{`, `]` and `}` differ only in bit 0x20.)
#[cfg(target_arch = "x86_64")]
fn chunk_masks(chunk: &[u8; 16]) -> [u16; 4] {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of every x86-64 target, so its intrinsics are always available here. `chunk` is 16
    // readable bytes (its type says so) and `_mm_loadu_si128` needs no alignment.
    unsafe {
        let bytes = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
        let lowered = _mm_or_si128(bytes, _mm_set1_epi8(0x20));
        let mask = |found: __m128i| _mm_movemask_epi8(found) as u16;
        [
            mask(_mm_cmpeq_epi8(bytes, _mm_set1_epi8(b'"' as i8))),
            mask(_mm_cmpeq_epi8(bytes, _mm_set1_epi8(b'\\' as i8))),
            mask(_mm_cmpeq_epi8(lowered, _mm_set1_epi8(b'{' as i8))),
            mask(_mm_cmpeq_epi8(lowered, _mm_set1_epi8(b'}' as i8))),
        ]
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn chunk_masks(chunk: &[u8; 16]) -> [u16; 4] {
    chunk_masks_scalar(chunk)
}

/// [`chunk_masks`] a byte at a time: the version for targets without SSE2, and its oracle in tests.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn chunk_masks_scalar(chunk: &[u8; 16]) -> [u16; 4] {
    let mut masks = [0u16; 4];
    for (i, &byte) in chunk.iter().enumerate() {
        let slot = match byte | 0x20 {
            _ if byte == b'"' => 0,
            _ if byte == b'\\' => 1,
            b'{' => 2,
            b'}' => 3,
            _ => continue,
        };
        masks[slot] |= 1 << i;
    }
    masks
}

/// Bit `i` set where an odd number of bits `0..=i` of `bits` are: the inside of strings, given their quotes.
fn prefix_xor(mut bits: u64) -> u64 {
    for shift in [1, 2, 4, 8, 16, 32] {
        bits ^= bits << shift;
    }
    bits
}

/// Finds escaped bytes from the backslash masks of consecutive blocks (simdjson's escape scanner): a byte is
/// escaped when an odd run of backslashes ends right before it, and runs may cross blocks.
#[derive(Default)]
struct EscapeScanner {
    /// Whether the next block's first byte is escaped by a run ending this block.
    next_is_escaped: u64,
}

impl EscapeScanner {
    const ODD_BITS: u64 = 0xAAAA_AAAA_AAAA_AAAA;

    fn escaped(&mut self, backslashes: u64) -> u64 {
        if backslashes == 0 {
            return std::mem::take(&mut self.next_is_escaped);
        }
        // A backslash escaped by the previous block is not an escape itself.
        let potential_escapes = backslashes & !self.next_is_escaped;
        // Subtracting each run from the odd bits it borrows through marks, per run, the byte after an odd run
        // and the escapes within it; XOR with the odd bits again turns that into escape/escaped marks.
        let maybe_escaped = potential_escapes << 1;
        let escape_and_terminal =
            ((maybe_escaped | Self::ODD_BITS).wrapping_sub(potential_escapes)) ^ Self::ODD_BITS;
        let escaped = escape_and_terminal ^ (backslashes | self.next_is_escaped);
        let escapes = escape_and_terminal & backslashes;
        self.next_is_escaped = escapes >> 63;
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skips(text: &str) -> Result<usize, ScanError> {
        let mut s = Scanner::new(text);
        s.skip()?;
        Ok(s.pos)
    }

    #[test]
    fn skips_every_kind_of_value_to_its_end() {
        for (text, end) in [
            (r#""a\"b\\" ,"#, 8),
            (r#""\\\"x" "#, 7),
            (r#""\\\\" "#, 6),
            ("-12.5e+3,", 8),
            ("true]", 4),
            ("null", 4),
            (r#"{"a":[1,{"b":"}"}],"c":{}} x"#, 26),
            ("[[], [[]], {}]", 14),
        ] {
            assert_eq!(skips(text), Ok(end), "{text}");
        }
    }

    #[test]
    fn rejects_unfinished_values_with_their_position() {
        for text in [
            r#"{"a":1"#,
            r#"[1,2"#,
            r#""unterminated"#,
            r#"{"a":"}"#,
            r#"["\"]"#,
            "",
        ] {
            assert!(skips(text).is_err(), "{text}");
        }
        assert_eq!(
            skips(r#"{"a":"#).unwrap_err().what,
            "unexpected end of line"
        );
        // The members walked are checked in full.
        for text in [r#"{"a" 1}"#, r#"{"a":1 "b":2}"#, r#"{"a":tru}"#, r#"{1:2}"#] {
            assert_eq!(
                object_members(text, |s, _| s.value().map(|_| ())),
                None,
                "{text}"
            );
        }
    }

    #[test]
    fn inside_a_skipped_value_only_strings_and_bracket_balance_are_checked() {
        for text in [
            r#"{"a" 1}"#,
            r#"{"a":1 "b":2}"#,
            r#"{"a":tru}"#,
            "[1}",
            "{1:2}",
        ] {
            assert_eq!(skips(text), Ok(text.len()), "{text}");
        }
    }

    #[test]
    fn deep_nesting_does_not_recurse() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert_eq!(skips(&deep), Ok(200_000));
        let mixed = "{\"a\":[".repeat(300) + &"]}".repeat(300);
        assert_eq!(skips(&mixed), Ok(mixed.len()));
        let unbalanced = "[".repeat(200) + &"]".repeat(199);
        assert!(skips(&unbalanced).is_err());
    }

    /// A small deterministic generator (xorshift), enough to vary lengths and escapes.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// A random JSON value whose strings are full of quotes, backslashes and brackets.
    fn random_value(rng: &mut Rng, depth: u32) -> serde_json::Value {
        use serde_json::Value;
        match rng.below(if depth > 4 { 3 } else { 5 }) {
            0 => Value::from(rng.below(1000)),
            1 | 2 => {
                let len = rng.below(90);
                let text: String = (0..len)
                    .map(|_| {
                        ['a', '"', '\\', '{', '}', '[', ']', ',', ':', ' ', 'é']
                            [rng.below(11) as usize]
                    })
                    .collect();
                Value::from(text)
            }
            3 => Value::Array(
                (0..rng.below(5))
                    .map(|_| random_value(rng, depth + 1))
                    .collect(),
            ),
            _ => Value::Object(
                (0..rng.below(5))
                    .map(|i| (format!("k{i}\"\\"), random_value(rng, depth + 1)))
                    .collect(),
            ),
        }
    }

    #[test]
    fn skipping_ends_where_serde_json_ends_on_random_values() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut containers = 0;
        for _ in 0..5_000 {
            let value = random_value(&mut rng, 0);
            let text = serde_json::to_string(&value).unwrap();
            let pad = " ".repeat(rng.below(70) as usize);
            let line = format!("{pad}{text} ,\"after\"");
            assert_eq!(skips(&line), Ok(pad.len() + text.len()), "{line}");
            // Cut anywhere inside, a container is unfinished.
            if value.is_array() || value.is_object() {
                containers += 1;
                let cut = pad.len() + rng.below(text.len() as u64) as usize;
                if line.is_char_boundary(cut) {
                    assert!(skips(&line[..cut]).is_err(), "{}", &line[..cut]);
                }
            }
        }
        assert!(containers > 1_000);
    }

    #[test]
    fn simd_masks_match_the_byte_by_byte_masks() {
        let mut rng = Rng(99);
        let alphabet = b"\"\\{}[]{az ;\x00\x7b\xfb\xdb\x5b\x7d\xff";
        for _ in 0..50_000 {
            let chunk: [u8; 16] =
                std::array::from_fn(|_| alphabet[rng.below(alphabet.len() as u64) as usize]);
            assert_eq!(chunk_masks(&chunk), chunk_masks_scalar(&chunk), "{chunk:?}");
        }
    }

    #[test]
    fn escapes_are_found_across_blocks_as_a_byte_by_byte_reading_finds_them() {
        let mut rng = Rng(7);
        for _ in 0..20_000 {
            // Three blocks of backslashes, dense enough for long runs that cross block edges.
            let blocks: Vec<u64> = (0..3)
                .map(|_| {
                    let a = rng.below(u64::MAX);
                    let b = rng.below(u64::MAX);
                    if rng.below(2) == 0 {
                        a | b
                    } else {
                        a & b
                    }
                })
                .collect();
            let mut scanner = EscapeScanner::default();
            let mut escaped_before = false;
            for &backslashes in &blocks {
                let mut expected = 0u64;
                for bit in 0..64 {
                    if escaped_before {
                        expected |= 1 << bit;
                    }
                    let is_backslash = backslashes >> bit & 1 == 1;
                    escaped_before = is_backslash && !escaped_before;
                }
                assert_eq!(scanner.escaped(backslashes), expected, "{blocks:x?}");
            }
        }
    }

    #[test]
    fn members_hand_out_raw_values_and_skip_the_rest() {
        let mut seen = Vec::new();
        let mut s = Scanner::new(r#" { "a" : "x" , "big":[{"t":"\"]"}], "n":{"k":7} } "#);
        let object = s
            .members(|s, key| {
                if key == "big" {
                    s.skip()
                } else {
                    seen.push((key, s.value()?));
                    Ok(())
                }
            })
            .unwrap();
        assert!(object && s.at_end());
        assert_eq!(seen, vec![("a", "\"x\""), ("n", "{\"k\":7}")]);
        assert_eq!(object_members("[1]", |s, _| s.skip()), None);
        assert_eq!(object_members("{} x", |s, _| s.skip()), None);
    }
}
