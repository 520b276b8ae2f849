//! The one rule for naming a session on a command line or in a URL: its full id, or a prefix of at least
//! [`MIN_ID_PREFIX`] characters that only one session's id starts with. Stores fetch the candidates
//! ([`Store::session_ids_starting_with`]); this module decides.

use crate::store::{Store, StoreError};

/// The shortest prefix accepted in place of a full session id.
pub const MIN_ID_PREFIX: usize = 4;

/// How many candidates an ambiguous prefix reports (one more is fetched, to say "and more").
pub const MAX_ID_CANDIDATES: usize = 10;

/// Why an id or prefix names no single session.
#[derive(Debug, thiserror::Error)]
pub enum SessionIdError {
    #[error("no session {id:?} in the index (try `sessiondb sync`, or check the id)")]
    Unknown { id: String },
    #[error(
        "session id prefix {id:?} is too short: give at least {min} characters, or the full id"
    )]
    TooShort { id: String, min: usize },
    #[error("session id prefix {id:?} is ambiguous: it matches {}{}; give more characters",
        candidates.join(", "), if *more { ", …" } else { "" })]
    Ambiguous {
        id: String,
        /// Up to [`MAX_ID_CANDIDATES`] matching ids, in order.
        candidates: Vec<String>,
        /// More ids match than are listed.
        more: bool,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SessionIdError {
    /// The id as typed was wrong (as opposed to the store failing).
    pub fn is_user_error(&self) -> bool {
        !matches!(self, SessionIdError::Store(_))
    }
}

/// Picks the session `id` names among `candidates`: the ids that start with `id`, in order (at most
/// [`MAX_ID_CANDIDATES`] + 1 of them are needed). An exact match always wins.
pub fn pick_session_id(id: &str, candidates: &[String]) -> Result<String, SessionIdError> {
    let matching: Vec<&String> = candidates.iter().filter(|c| c.starts_with(id)).collect();
    if let Some(exact) = matching.iter().find(|c| c.as_str() == id) {
        return Ok((*exact).clone());
    }
    if id.chars().count() < MIN_ID_PREFIX {
        return Err(SessionIdError::TooShort {
            id: id.to_owned(),
            min: MIN_ID_PREFIX,
        });
    }
    match matching.as_slice() {
        [] => Err(SessionIdError::Unknown { id: id.to_owned() }),
        [only] => Ok((*only).clone()),
        several => Err(SessionIdError::Ambiguous {
            id: id.to_owned(),
            candidates: several
                .iter()
                .take(MAX_ID_CANDIDATES)
                .map(|c| (*c).clone())
                .collect(),
            more: several.len() > MAX_ID_CANDIDATES,
        }),
    }
}

/// The full id of the session `id` names (see [`pick_session_id`]).
pub fn resolve_session_id(store: &dyn Store, id: &str) -> Result<String, SessionIdError> {
    let candidates = store.session_ids_starting_with(id, MAX_ID_CANDIDATES + 1)?;
    pick_session_id(id, &candidates)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn exact_unique_short_ambiguous_unknown() {
        let known = ids(&["abcd1111", "abcd2222", "abce3333", "xy"]);
        assert_eq!(pick_session_id("abcd1", &known).unwrap(), "abcd1111");
        assert_eq!(pick_session_id("abce", &known).unwrap(), "abce3333");
        // An exact id shorter than the minimum is still that session.
        assert_eq!(pick_session_id("xy", &known).unwrap(), "xy");
        assert!(matches!(
            pick_session_id("abc", &known),
            Err(SessionIdError::TooShort { min: 4, .. })
        ));
        match pick_session_id("abcd", &known) {
            Err(SessionIdError::Ambiguous {
                candidates, more, ..
            }) => {
                assert_eq!(candidates, ids(&["abcd1111", "abcd2222"]));
                assert!(!more);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            pick_session_id("zzzz", &known),
            Err(SessionIdError::Unknown { .. })
        ));
    }

    #[test]
    fn an_ambiguous_prefix_lists_at_most_ten() {
        let known: Vec<String> = (0..11).map(|i| format!("abcd{i:02}")).collect();
        let err = pick_session_id("abcd", &known).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("abcd00") && text.contains("abcd09") && text.contains('…'));
        assert!(!text.contains("abcd10"), "{text}");
    }
}
