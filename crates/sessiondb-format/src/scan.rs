//! A JSON scanner for the few fields sessiondb reads from a line: it walks an object's members, hands each
//! wanted value over as a raw span of the line (its JSON text), and skips everything else without building
//! anything.
//!
//! Skipping is where a sync spends its parsing time: most bytes of a transcript are message content and tool
//! output that nothing indexes. Strings are skipped with `memchr` (SIMD) from quote to quote, and
//! nested containers with a bit stack instead of recursion, so no depth is too deep. The structure is still
//! checked on the way: a truncated line, a missing comma, colon or bracket, a bad literal or stray bytes after
//! the object are errors, as they are for serde_json. Left unchecked inside skipped values, for speed: the
//! characters after a backslash, raw control characters in strings, and the exact grammar of numbers.
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

/// Open containers of a value being skipped: one bit per level (set = object), spilling past 128 levels.
#[derive(Default)]
struct Nesting {
    bits: u128,
    depth: usize,
    deeper: Vec<bool>,
}

impl Nesting {
    fn push(&mut self, object: bool) {
        if self.depth < 128 {
            self.bits = (self.bits & !(1 << self.depth)) | (u128::from(object) << self.depth);
        } else {
            self.deeper.push(object);
        }
        self.depth += 1;
    }

    /// Whether the innermost open container is an object; `None` when none is open.
    fn top(&self) -> Option<bool> {
        match self.depth {
            0 => None,
            d if d <= 128 => Some((self.bits >> (d - 1)) & 1 == 1),
            _ => self.deeper.last().copied(),
        }
    }

    fn pop(&mut self) {
        if self.depth > 128 {
            self.deeper.pop();
        }
        self.depth -= 1;
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
        let mut open = Nesting::default();
        loop {
            // A value is expected here.
            match self.peek() {
                Some(bracket @ (b'{' | b'[')) => {
                    self.pos += 1;
                    let object = bracket == b'{';
                    let close = if object { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.pos += 1;
                    } else {
                        open.push(object);
                        if object {
                            self.key()?;
                        }
                        continue;
                    }
                }
                Some(b'"') => self.skip_string()?,
                _ => self.skip_scalar()?,
            }
            // After a value: a separator, or closers.
            loop {
                let Some(object) = open.top() else {
                    return Ok(());
                };
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if object {
                            self.key()?;
                        }
                        break;
                    }
                    Some(b'}') if object => {
                        self.pos += 1;
                        open.pop();
                    }
                    Some(b']') if !object => {
                        self.pos += 1;
                        open.pop();
                    }
                    _ => return Err(self.error_here("expected ',' or a closing bracket")),
                }
            }
        }
    }

    /// Consumes one value and returns its JSON text.
    pub fn value(&mut self) -> Result<&'a str, ScanError> {
        self.peek();
        let start = self.pos;
        self.skip()?;
        Ok(&self.text[start..self.pos])
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
    fn rejects_broken_structure_with_its_position() {
        for text in [
            r#"{"a":1"#,
            r#"{"a" 1}"#,
            r#"{"a":1 "b":2}"#,
            r#"[1,2"#,
            r#"{"a":tru}"#,
            r#""unterminated"#,
            r#"[1}"#,
            r#"{1:2}"#,
            "",
        ] {
            assert!(skips(text).is_err(), "{text}");
        }
        assert_eq!(
            skips(r#"{"a":"#).unwrap_err().what,
            "unexpected end of line"
        );
    }

    #[test]
    fn deep_nesting_does_not_recurse() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert_eq!(skips(&deep), Ok(200_000));
        let mixed = "{\"a\":[".repeat(300) + &"]}".repeat(300);
        assert_eq!(skips(&mixed), Ok(mixed.len()));
        let unbalanced = "[".repeat(200) + &"]".repeat(199) + "}";
        assert!(skips(&unbalanced).is_err());
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
