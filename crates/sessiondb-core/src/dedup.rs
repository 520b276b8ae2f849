//! Response deduplication: the key a response's copies share ([`ResponseKey`]) and the rule that picks the copy
//! that counts ([`ResponseRank`]).
//!
//! Claude Code writes one API response on several lines (one per content block), copies it into other files
//! (a resumed session replays its parent, `--fork-session` copies it, a subagent's progress lines embed it), and
//! every copy is kept. Usage counts one copy per key: the best by [`ResponseRank`], a total order, so the winner
//! does not depend on the order in which files are read, and an incremental sync and a rebuild agree. Every
//! backend elects with this rule; a backend only stores the key's text and the facts the rank reads.

use sessiondb_format::{Response, ResponseOrigin};
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// The key one API response's lines and copies share across files: its `message.id` and `requestId`. A line
/// without both ids cannot be matched with any copy and is keyed by where it is (path and byte offset).
///
/// Stored as its text, `message_id:request_id` or `line:path:offset` ([`ResponseKey::as_str`], its
/// `Display`, and [`ResponseKey::parse`] back), which is what storage matches copies by: two keys are equal
/// when their text is. The key keeps that text rather than its parts, so storing it copies nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResponseKey(String);

/// Why a text is not a [`ResponseKey`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseKeyError {
    #[error("a response key is `message_id:request_id` or `line:path:offset`, not {0:?}")]
    NoSeparator(String),
}

impl ResponseKey {
    /// The key of a response with both ids.
    pub fn of_ids(message_id: &str, request_id: &str) -> ResponseKey {
        let mut text = String::with_capacity(message_id.len() + 1 + request_id.len());
        text.push_str(message_id);
        text.push(':');
        text.push_str(request_id);
        ResponseKey(text)
    }

    /// The key of a response line that lacks an id: it counts once on its own, keyed by where it is.
    pub fn of_line(path: &str, offset: u64) -> ResponseKey {
        ResponseKey(format!("line:{path}:{offset}"))
    }

    /// The key of `response`, read at `offset` of `path`.
    pub fn of_response(response: &Response, path: &str, offset: u64) -> ResponseKey {
        match (&response.message_id, &response.request_id) {
            (Some(message_id), Some(request_id)) => ResponseKey::of_ids(message_id, request_id),
            _ => ResponseKey::of_line(path, offset),
        }
    }

    /// Reads a key back from its stored text.
    pub fn parse(text: &str) -> Result<ResponseKey, ResponseKeyError> {
        if text.contains(':') {
            Ok(ResponseKey(text.to_owned()))
        } else {
            Err(ResponseKeyError::NoSeparator(text.to_owned()))
        }
    }

    /// The text storage keeps for this key.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Every `(message id, request id)` pair whose key has this text: an id may itself hold a `:`, so the text
    /// does not say where the message id ends. A line's copies are the lines with one of these pairs. (A key
    /// built from where a line is matches no line: such a line lacks an id.)
    pub fn id_splits(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.0
            .match_indices(':')
            .map(|(colon, _)| (&self.0[..colon], &self.0[colon + 1..]))
    }
}

impl fmt::Display for ResponseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ResponseKey {
    type Err = ResponseKeyError;

    fn from_str(text: &str) -> Result<ResponseKey, ResponseKeyError> {
        ResponseKey::parse(text)
    }
}

/// What ranks one copy of a response among the copies of its key: the greatest copy counts.
///
/// The order, each fact breaking the ties of the ones before it:
/// 1. a real assistant line over one embedded in a progress line;
/// 2. the main thread over a sidechain;
/// 3. the larger total (input, output, cache creation and cache read tokens): the final usage over the
///    placeholders streamed before it;
/// 4. the original over a copy that names another session as its origin (`--fork-session`'s
///    `requestSessionId`);
/// 5. the earlier timestamp;
/// 6. the smaller byte offset (a replayed prefix sits after the summary line its file starts with);
/// 7. the path that sorts first.
///
/// Copies equal in all of these are one line, so the order is total and the winner of a set of copies does
/// not depend on the order they come in. The path is borrowed: comparing allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseRank<'a> {
    pub origin: ResponseOrigin,
    pub is_sidechain: bool,
    /// Input, output, cache creation and cache read tokens.
    pub total_tokens: u64,
    /// A copy `--fork-session` made that names another session as its origin.
    pub copied: bool,
    /// The response's timestamp, else its line's (0 when neither has one).
    pub timestamp_ms: i64,
    /// The byte offset of the copy's line in its file.
    pub offset: u64,
    /// The file the copy's line is in.
    pub path: &'a str,
}

impl ResponseRank<'_> {
    /// The copy that counts among `copies`, whatever their order (`None` when there are none).
    pub fn best<'r, T>(
        copies: impl IntoIterator<Item = T>,
        rank: impl Fn(&T) -> ResponseRank<'r>,
    ) -> Option<T> {
        copies.into_iter().reduce(|best, copy| {
            if rank(&copy) > rank(&best) {
                copy
            } else {
                best
            }
        })
    }
}

/// How much an origin is preferred: a real assistant line counts before an embedded copy.
fn origin_preference(origin: ResponseOrigin) -> u8 {
    match origin {
        ResponseOrigin::AssistantLine => 1,
        ResponseOrigin::EmbeddedInProgress => 0,
    }
}

impl Ord for ResponseRank<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        origin_preference(self.origin)
            .cmp(&origin_preference(other.origin))
            .then_with(|| other.is_sidechain.cmp(&self.is_sidechain))
            .then_with(|| self.total_tokens.cmp(&other.total_tokens))
            .then_with(|| other.copied.cmp(&self.copied))
            .then_with(|| other.timestamp_ms.cmp(&self.timestamp_ms))
            .then_with(|| other.offset.cmp(&self.offset))
            .then_with(|| other.path.cmp(self.path))
    }
}

impl PartialOrd for ResponseRank<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy() -> ResponseRank<'static> {
        ResponseRank {
            origin: ResponseOrigin::AssistantLine,
            is_sidechain: false,
            total_tokens: 100,
            copied: false,
            timestamp_ms: 1_000,
            offset: 500,
            path: "/p/b.jsonl",
        }
    }

    /// `better` outranks `worse`, and stays ahead whatever comes after the fact that tells them apart.
    fn assert_outranks(better: ResponseRank<'_>, worse: ResponseRank<'_>) {
        assert!(better > worse, "{better:?} should outrank {worse:?}");
        assert!(worse < better);
        assert_eq!(ResponseRank::best([worse, better], |c| *c), Some(better));
        assert_eq!(ResponseRank::best([better, worse], |c| *c), Some(better));
    }

    #[test]
    fn an_assistant_line_outranks_a_copy_embedded_in_progress_whatever_else_differs() {
        let embedded = ResponseRank {
            origin: ResponseOrigin::EmbeddedInProgress,
            total_tokens: 10_000,
            timestamp_ms: 0,
            offset: 0,
            path: "/a",
            ..copy()
        };
        let line = ResponseRank {
            is_sidechain: true,
            copied: true,
            ..copy()
        };
        assert_outranks(line, embedded);
    }

    #[test]
    fn the_main_thread_outranks_a_sidechain() {
        let sidechain = ResponseRank {
            is_sidechain: true,
            total_tokens: 10_000,
            timestamp_ms: 0,
            ..copy()
        };
        assert_outranks(copy(), sidechain);
    }

    #[test]
    fn the_larger_total_outranks_a_placeholder() {
        let placeholder = ResponseRank {
            total_tokens: 99,
            timestamp_ms: 0,
            offset: 0,
            ..copy()
        };
        assert_outranks(copy(), placeholder);
    }

    #[test]
    fn the_original_outranks_a_fork_copy() {
        let fork_copy = ResponseRank {
            copied: true,
            timestamp_ms: 0,
            ..copy()
        };
        assert_outranks(copy(), fork_copy);
    }

    #[test]
    fn the_earlier_timestamp_wins() {
        let later = ResponseRank {
            timestamp_ms: 1_001,
            offset: 0,
            path: "/a",
            ..copy()
        };
        assert_outranks(copy(), later);
    }

    #[test]
    fn the_smaller_offset_wins() {
        let further = ResponseRank {
            offset: 501,
            path: "/a",
            ..copy()
        };
        assert_outranks(copy(), further);
    }

    #[test]
    fn the_path_that_sorts_first_wins_last() {
        let other_file = ResponseRank {
            path: "/p/c.jsonl",
            ..copy()
        };
        assert_outranks(copy(), other_file);
        assert_eq!(copy().cmp(&copy()), Ordering::Equal);
    }

    /// Every order of `items`, by Heap's algorithm.
    fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
        fn heap<T: Clone>(k: usize, items: &mut Vec<T>, out: &mut Vec<Vec<T>>) {
            if k <= 1 {
                out.push(items.clone());
                return;
            }
            for i in 0..k {
                heap(k - 1, items, out);
                let j = if k.is_multiple_of(2) { i } else { 0 };
                items.swap(j, k - 1);
            }
        }
        let mut items = items.to_vec();
        let mut out = Vec::new();
        heap(items.len(), &mut items, &mut out);
        out
    }

    #[test]
    fn the_winner_does_not_depend_on_the_order_copies_come_in() {
        // Copies that each tie the others on all facts but a few, so every tie-breaker is exercised.
        let paths = ["/p/a.jsonl", "/p/b.jsonl"];
        let mut copies = Vec::new();
        for (i, embedded, sidechain, total, copied, ts, offset) in [
            (0, true, false, 300, false, 5, 9),
            (1, false, true, 300, false, 5, 9),
            (2, false, false, 200, false, 5, 9),
            (3, false, false, 200, true, 1, 9),
            (4, false, false, 200, false, 7, 1),
            (5, false, false, 200, false, 7, 0),
            (6, false, false, 200, false, 7, 0),
        ] {
            copies.push((
                i,
                ResponseRank {
                    origin: if embedded {
                        ResponseOrigin::EmbeddedInProgress
                    } else {
                        ResponseOrigin::AssistantLine
                    },
                    is_sidechain: sidechain,
                    total_tokens: total,
                    copied,
                    timestamp_ms: ts,
                    offset,
                    path: paths[i % 2],
                },
            ));
        }
        // 0 is embedded, 1 a sidechain (both with more tokens); 2 beats 3 (the original) and 4-6 (earlier); 5 and
        // 6 beat 4 (smaller offset), 6 beats 5 (its path sorts first): 2 wins.
        let orders = permutations(&copies);
        assert_eq!(orders.len(), 5040);
        for order in &orders {
            let winner = ResponseRank::best(order.iter().copied(), |(_, rank)| *rank);
            assert_eq!(winner.map(|(i, _)| i), Some(2), "order {order:?}");
        }
        // And the order is total: sorting any permutation gives one sequence.
        let sorted = |mut v: Vec<(usize, ResponseRank<'_>)>| {
            v.sort_by(|a, b| a.1.cmp(&b.1));
            v.into_iter().map(|(i, _)| i).collect::<Vec<_>>()
        };
        let expected = sorted(copies.clone());
        assert_eq!(expected, [0, 1, 3, 4, 5, 6, 2]);
        for order in orders.into_iter().step_by(97) {
            assert_eq!(sorted(order), expected);
        }
    }

    #[test]
    fn a_key_maps_to_todays_text_and_back() {
        let key = ResponseKey::of_ids("msg_01", "req_01");
        assert_eq!(key.to_string(), "msg_01:req_01");
        assert_eq!(key.as_str(), "msg_01:req_01");
        assert_eq!(ResponseKey::parse("msg_01:req_01"), Ok(key.clone()));
        assert_eq!("msg_01:req_01".parse::<ResponseKey>(), Ok(key));
        let line = ResponseKey::of_line("/p/s.jsonl", 42);
        assert_eq!(line.to_string(), "line:/p/s.jsonl:42");
        assert_eq!(ResponseKey::parse(line.as_str()), Ok(line));
        assert_eq!(
            ResponseKey::parse("no-separator"),
            Err(ResponseKeyError::NoSeparator("no-separator".into()))
        );
    }

    #[test]
    fn a_key_from_a_response_needs_both_ids() {
        let mut response = Response {
            message_id: Some("m".into()),
            request_id: Some("r".into()),
            model: None,
            usage: Default::default(),
            reported_cost_usd: None,
            origin: ResponseOrigin::AssistantLine,
            timestamp_ms: None,
            uuid: None,
        };
        assert_eq!(ResponseKey::of_response(&response, "/p", 7).as_str(), "m:r");
        response.request_id = None;
        assert_eq!(
            ResponseKey::of_response(&response, "/p", 7).as_str(),
            "line:/p:7"
        );
    }

    #[test]
    fn a_key_splits_at_every_colon_since_an_id_may_hold_one() {
        let key = ResponseKey::of_ids("m:1", "r");
        assert_eq!(
            key.id_splits().collect::<Vec<_>>(),
            [("m", "1:r"), ("m:1", "r")]
        );
    }
}
