//! The rule that tells, from what the store remembers of a file ([`FileState`]) and what a stat and a few
//! hashes show of it now, whether it is unchanged, grew, or was rewritten. Pure: `sync::plan` gathers the
//! evidence (a stat, then the hashes only when [`judge`] asks for them) and acts on the verdict.
//!
//! The rule, in order:
//! 1. Not known before: read it from the start.
//! 2. Same device and inode, size, mtime and ctime, and on disk: unchanged, not opened. (A device, inode or
//!    ctime the store does not have, from a row written before it kept them, is not compared, but the file
//!    then is not skipped either: it is checked as in 6 and its next batch records them.)
//! 3. A subagent meta file (small, rewritten whole): read again whole.
//! 4. Another device or inode (a file renamed over the path, or deleted and written again): a rewrite. The
//!    bytes of the old inode may be anywhere in the new one, or nowhere; only reading it all can tell.
//! 5. Shorter than the committed offset: a rewrite.
//! 6. The same size with another mtime or ctime: a rewrite. An edit anywhere in a file moves its mtime, or
//!    at least its ctime (putting the mtime back moves the ctime), but neither says where. Hashes of a head and
//!    a window cannot prove that the bytes between them are the same, and nothing cheaper than the bytes
//!    themselves can; so the file is read again from the start, which is what checking every byte would cost
//!    anyway. Only a time change without growth pays this (a `touch`, a `chmod`, an edit in place); the link a
//!    capture makes moves the ctime too, so the sync records the ctime seen after the link.
//! 7. Otherwise (it grew, or it is back on disk): the hashes of its first `min(consumed, 4 KiB)` bytes and of
//!    the `min(consumed, 4 KiB)` bytes before the committed offset must be those recorded, else it is a
//!    rewrite; if they are, the new bytes are read from the committed offset.
//!
//! What this cannot see: an edit that leaves size, mtime and ctime all as they were (only within one tick of
//! the file system's clock after the last read), and an edit in the middle of a file that also grew, outside
//! both windows (telling it from an append would take reading every committed byte on every append).

use crate::reader::FileStat;
use sessiondb_core::{FileKind, FileState};

/// Hashes of the file's bytes now, at the windows the store recorded ([`FileState::head_len`] bytes at the
/// start, [`FileState::tail_len`] bytes before [`FileState::consumed`]). `None`: the file is too short to have
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    pub head: Option<u64>,
    pub tail: Option<u64>,
}

/// Why a file is read again from its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewriteReason {
    /// Another device or inode.
    Replaced,
    /// Shorter than the committed offset.
    Shrank,
    /// The same size, another mtime or ctime.
    ChangedInPlace,
    /// The first bytes differ.
    HeadChanged,
    /// The bytes before the committed offset differ.
    TailChanged,
}

/// What to do with a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Unchanged: not opened.
    Skip,
    /// Read from this offset, keeping what is indexed (0 for a file not known before).
    ReadFrom(u64),
    /// Drop what is indexed from it and read it from the start.
    Rewrite(RewriteReason),
    /// Call again with the hashes of the recorded windows.
    NeedsWindows,
}

/// The verdict for a file of `kind` whose stat is `now`, given what the store knows of it and, when a
/// previous call asked for them, the hashes of its windows (see the module doc for the rule).
pub fn judge(
    known: Option<&FileState>,
    kind: FileKind,
    now: &FileStat,
    windows: Option<&Windows>,
) -> Verdict {
    let Some(known) = known else {
        return Verdict::ReadFrom(0);
    };
    // A value the store or the platform lacks is not compared.
    let same_or_unknown = |recorded: Option<u64>, seen: Option<u64>| {
        recorded.is_none() || seen.is_none() || recorded == seen
    };
    let same_identity =
        same_or_unknown(known.device, now.device) && same_or_unknown(known.inode, now.inode);
    let ctime_moved = matches!((known.ctime_ns, now.ctime_ns), (Some(a), Some(b)) if a != b);
    let ctime_known = known.ctime_ns.is_some() || now.ctime_ns.is_none();
    let times_moved = known.mtime_ns != now.mtime_ns || ctime_moved;
    let stat_complete = known.device.is_some() == now.device.is_some()
        && known.inode.is_some() == now.inode.is_some()
        && ctime_known;
    if known.on_disk && same_identity && known.size == now.size && !times_moved && stat_complete {
        return Verdict::Skip;
    }
    if kind == FileKind::SubagentMeta {
        return Verdict::ReadFrom(known.consumed);
    }
    if !same_identity {
        return Verdict::Rewrite(RewriteReason::Replaced);
    }
    if now.size < known.consumed {
        return Verdict::Rewrite(RewriteReason::Shrank);
    }
    if now.size == known.size && times_moved {
        return Verdict::Rewrite(RewriteReason::ChangedInPlace);
    }
    let head_recorded = known.head_len > 0;
    // A row from before tail hashes were kept has bytes consumed and no window: only its head is compared.
    let tail_recorded = known.tail_len > 0;
    if !head_recorded && !tail_recorded {
        return Verdict::ReadFrom(known.consumed);
    }
    let Some(windows) = windows else {
        return Verdict::NeedsWindows;
    };
    if head_recorded && windows.head != Some(known.head_hash) {
        return Verdict::Rewrite(RewriteReason::HeadChanged);
    }
    if tail_recorded && windows.tail != Some(known.tail_hash) {
        return Verdict::Rewrite(RewriteReason::TailChanged);
    }
    Verdict::ReadFrom(known.consumed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> FileState {
        FileState {
            path: "/c/projects/p/s.jsonl".into(),
            kind: FileKind::Transcript,
            device: Some(7),
            inode: Some(42),
            size: 10_000,
            mtime_ns: 1_000,
            ctime_ns: Some(2_000),
            consumed: 9_000,
            head_hash: 11,
            head_len: 4096,
            tail_hash: 22,
            tail_len: 4096,
            on_disk: true,
        }
    }

    fn stat_of(state: &FileState) -> FileStat {
        FileStat {
            device: state.device,
            inode: state.inode,
            size: state.size,
            mtime_ns: state.mtime_ns,
            ctime_ns: state.ctime_ns,
        }
    }

    const SAME: Windows = Windows {
        head: Some(11),
        tail: Some(22),
    };

    fn judge_transcript(known: &FileState, now: &FileStat, windows: Option<&Windows>) -> Verdict {
        judge(Some(known), FileKind::Transcript, now, windows)
    }

    #[test]
    fn an_unknown_file_is_read_from_its_start() {
        let now = stat_of(&known());
        assert_eq!(
            judge(None, FileKind::Transcript, &now, None),
            Verdict::ReadFrom(0)
        );
    }

    #[test]
    fn an_unchanged_stat_is_skipped_without_hashes() {
        let known = known();
        assert_eq!(
            judge_transcript(&known, &stat_of(&known), None),
            Verdict::Skip
        );
    }

    #[test]
    fn a_moved_ctime_with_the_same_size_is_a_rewrite_even_with_the_mtime_put_back() {
        let known = known();
        let now = FileStat {
            ctime_ns: Some(3_000),
            ..stat_of(&known)
        };
        assert_eq!(
            judge_transcript(&known, &now, Some(&SAME)),
            Verdict::Rewrite(RewriteReason::ChangedInPlace)
        );
        let now = FileStat {
            mtime_ns: 5_000,
            ..stat_of(&known)
        };
        assert_eq!(
            judge_transcript(&known, &now, None),
            Verdict::Rewrite(RewriteReason::ChangedInPlace)
        );
    }

    #[test]
    fn another_inode_or_device_is_a_rewrite_even_when_it_starts_the_same() {
        let known = known();
        for now in [
            FileStat {
                inode: Some(43),
                size: 20_000,
                ..stat_of(&known)
            },
            FileStat {
                device: Some(8),
                ..stat_of(&known)
            },
        ] {
            assert_eq!(
                judge_transcript(&known, &now, Some(&SAME)),
                Verdict::Rewrite(RewriteReason::Replaced)
            );
        }
    }

    #[test]
    fn a_file_shorter_than_its_offset_is_a_rewrite() {
        let known = known();
        let now = FileStat {
            size: 8_999,
            mtime_ns: 5_000,
            ..stat_of(&known)
        };
        assert_eq!(
            judge_transcript(&known, &now, None),
            Verdict::Rewrite(RewriteReason::Shrank)
        );
    }

    #[test]
    fn growth_is_read_from_the_offset_only_when_both_windows_match() {
        let known = known();
        let now = FileStat {
            size: 12_000,
            mtime_ns: 5_000,
            ctime_ns: Some(5_000),
            ..stat_of(&known)
        };
        assert_eq!(judge_transcript(&known, &now, None), Verdict::NeedsWindows);
        assert_eq!(
            judge_transcript(&known, &now, Some(&SAME)),
            Verdict::ReadFrom(9_000)
        );
        let head_changed = Windows {
            head: Some(12),
            ..SAME
        };
        assert_eq!(
            judge_transcript(&known, &now, Some(&head_changed)),
            Verdict::Rewrite(RewriteReason::HeadChanged)
        );
        let tail_changed = Windows {
            tail: Some(23),
            ..SAME
        };
        assert_eq!(
            judge_transcript(&known, &now, Some(&tail_changed)),
            Verdict::Rewrite(RewriteReason::TailChanged)
        );
        let too_short = Windows { tail: None, ..SAME };
        assert_eq!(
            judge_transcript(&known, &now, Some(&too_short)),
            Verdict::Rewrite(RewriteReason::TailChanged)
        );
    }

    #[test]
    fn a_row_from_before_ctimes_is_checked_once_and_compares_its_head_only() {
        let known = FileState {
            device: None,
            ctime_ns: None,
            tail_hash: 0,
            tail_len: 0,
            ..known()
        };
        let now = FileStat {
            device: Some(7),
            ctime_ns: Some(2_000),
            ..stat_of(&known)
        };
        // Not skipped (its next batch records the ctime), not a rewrite (the ctime was never recorded).
        assert_eq!(judge_transcript(&known, &now, None), Verdict::NeedsWindows);
        let other_tail = Windows {
            tail: Some(99),
            ..SAME
        };
        assert_eq!(
            judge_transcript(&known, &now, Some(&other_tail)),
            Verdict::ReadFrom(9_000)
        );
    }

    #[test]
    fn a_file_back_on_disk_is_checked_before_it_is_read_on() {
        let known = FileState {
            on_disk: false,
            ..known()
        };
        let now = stat_of(&known);
        assert_eq!(judge_transcript(&known, &now, None), Verdict::NeedsWindows);
        assert_eq!(
            judge_transcript(&known, &now, Some(&SAME)),
            Verdict::ReadFrom(9_000)
        );
    }

    #[test]
    fn a_meta_file_that_changed_is_read_whole_again() {
        let known = FileState {
            kind: FileKind::SubagentMeta,
            ..known()
        };
        let now = FileStat {
            inode: Some(43),
            ..stat_of(&known)
        };
        assert_eq!(
            judge(Some(&known), FileKind::SubagentMeta, &now, None),
            Verdict::ReadFrom(9_000)
        );
    }
}
