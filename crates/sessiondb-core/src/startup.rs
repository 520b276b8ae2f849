//! Which session a start-up Warmup was paid for when its lines name no session.
//!
//! Claude Code 2.0.x starts every run by taking a new id X (and leaving an empty `X.jsonl`) and sending two
//! `Warmup` sidechains (`agent-<7 hex>.jsonl`) under X. A new session keeps X, and `--resume` switches to the
//! resumed id before the Warmup replies come back (their usage lines already carry it). On `--continue` (2.0.76,
//! `tests/fixtures/claude-code-2.0.76`, steps 04 and 19) the replies came back before the switch: both lines keep
//! X, which is never a session ([`crate::is_session`]), and the continued session's own turn follows at once,
//! 0.3 s after the last Warmup line, in the same project folder. [`warmup_started_for`] reads that from the
//! times of the lines around the Warmup; when the files show nothing that close, the usage stays under the
//! project (an interactive start the user quit, or a continue whose first prompt was typed later).

/// The longest wait, after the last line of a Warmup whose lines name no session, for the next main-thread line
/// of the session it was started for. 2.0.76 wrote the continued turn 0.3 s after it (against a local mock);
/// this leaves room for a slow API reply and a long transcript to load. In the public samples the nearest line
/// after such a Warmup came 136 s later, from a session that had started with Warmups of its own.
pub const WARMUP_TO_TURN_MS: i64 = 10_000;

/// The lines of an id that is not a session but carries usage (a start-up Warmup's id), in epoch ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartupSpan {
    /// Its first line.
    pub first_ms: i64,
    /// Its last line.
    pub last_ms: i64,
}

/// A session in the same project folder as a [`StartupSpan`], seen from it: its main-thread user and assistant
/// lines just before and just after the span's first line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    pub session_id: String,
    /// Its last main-thread line before the span's first line.
    pub last_before_ms: Option<i64>,
    /// Its first main-thread line at or after the span's first line.
    pub first_after_ms: Option<i64>,
}

/// The session a start-up Warmup whose lines name no session was started for, if the files show it: the session
/// of the same project folder that writes the first main-thread line after the Warmup began, when that line
/// comes within [`WARMUP_TO_TURN_MS`] of the Warmup's last line, no other session wrote one as early, and the
/// session already had a main-thread line before the Warmup (it was continued: a new session's Warmups carry its
/// own id). `None` otherwise: the usage then counts under its project only.
pub fn warmup_started_for(span: StartupSpan, neighbours: &[Neighbour]) -> Option<&str> {
    let mut firsts = neighbours
        .iter()
        .filter_map(|n| n.first_after_ms.map(|at| (at, n)))
        .filter(|(at, _)| *at >= span.first_ms);
    let (mut at, mut next) = firsts.next()?;
    let mut tied = false;
    for (other_at, other) in firsts {
        if other_at < at {
            (at, next, tied) = (other_at, other, false);
        } else if other_at == at && other.session_id != next.session_id {
            tied = true;
        }
    }
    let continued = next
        .last_before_ms
        .is_some_and(|before| before < span.first_ms);
    (!tied && continued && at.saturating_sub(span.last_ms) <= WARMUP_TO_TURN_MS)
        .then_some(next.session_id.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(id: &str, before: Option<i64>, after: Option<i64>) -> Neighbour {
        Neighbour {
            session_id: id.to_owned(),
            last_before_ms: before,
            first_after_ms: after,
        }
    }

    const SPAN: StartupSpan = StartupSpan {
        first_ms: 100_000,
        last_ms: 100_200,
    };

    #[test]
    fn a_continue_is_the_session_whose_turn_follows_the_warmup() {
        // 2.0.76 step 04: the continued session's prompt 0.3 s after the Warmup's reply; a fork copied its lines
        // later, with their old times, under another id.
        let neighbours = [
            n("continued", Some(96_000), Some(100_480)),
            n("fork", Some(96_000), Some(100_570)),
            n("older", Some(92_000), None),
        ];
        assert_eq!(warmup_started_for(SPAN, &neighbours), Some("continued"));
    }

    #[test]
    fn nothing_close_enough_leaves_it_to_the_project() {
        // A start the user quit: the next line in the folder comes minutes later.
        let neighbours = [n("later", Some(50_000), Some(236_000))];
        assert_eq!(warmup_started_for(SPAN, &neighbours), None);
        assert_eq!(warmup_started_for(SPAN, &[]), None);
        // Just inside the wait.
        let neighbours = [n("s", Some(50_000), Some(SPAN.last_ms + WARMUP_TO_TURN_MS))];
        assert_eq!(warmup_started_for(SPAN, &neighbours), Some("s"));
    }

    #[test]
    fn a_new_session_or_a_tie_is_not_evidence() {
        // A session that starts after the Warmup has Warmups of its own.
        assert_eq!(
            warmup_started_for(SPAN, &[n("new", None, Some(100_400))]),
            None
        );
        // Two sessions writing at the same instant: no way to tell which one was continued.
        let neighbours = [
            n("a", Some(90_000), Some(100_400)),
            n("b", Some(95_000), Some(100_400)),
        ];
        assert_eq!(warmup_started_for(SPAN, &neighbours), None);
        // The earliest wins even when a later one was newer before.
        let neighbours = [
            n("a", Some(90_000), Some(100_400)),
            n("b", Some(99_000), Some(100_500)),
        ];
        assert_eq!(warmup_started_for(SPAN, &neighbours), Some("a"));
    }
}
