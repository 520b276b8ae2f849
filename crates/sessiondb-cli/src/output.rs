//! Human-readable tables for the terminal. JSON output is the serialized core types and lives in `main.rs`.

use crate::config::Settings;
use chrono_tz::Tz;
use sessiondb_core::{Chain, DoctorReport, SessionDetail, SessionSummary, UsageReport};
use sessiondb_ingest::{SyncReport, Unavailable};
use std::io::{self, Write};

pub fn human_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn usd(v: f64) -> String {
    format!("${v:.2}")
}

fn short(text: &str, max: usize) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        return one_line;
    }
    let cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

fn local_time(iso: Option<&str>, tz: Tz) -> String {
    iso.and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "-".into())
}

fn home_relative(path: &str) -> String {
    match dirs::home_dir().and_then(|h| path.strip_prefix(&*h.to_string_lossy()).map(str::to_owned))
    {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("~{rest}"),
        _ => path.to_owned(),
    }
}

pub fn print_sync_report(out: &mut dyn Write, r: &SyncReport) -> io::Result<()> {
    if r.roots.is_empty() {
        if !r.unavailable_roots.is_empty() {
            // Configured but missing: `print_sync_warnings` says which.
            return Ok(());
        }
        writeln!(
            out,
            "No Claude config dir found (set CLAUDE_CONFIG_DIR or create ~/.claude)."
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "Synced {}: {} files ({} read, {} unchanged, {} rewritten, {} gone from disk), {:.1} MB, {} lines, {} skipped or odd lines{}",
        r.roots.join(", "),
        r.files_seen,
        r.files_read,
        r.files_unchanged,
        r.files_rewritten,
        r.files_missing,
        r.bytes_read as f64 / 1e6,
        human_count(r.lines),
        r.issues,
        if r.issues > 0 { " (see `sessiondb doctor`)" } else { "" }
    )?;
    for unreadable in &r.discovery_issues {
        writeln!(
            out,
            "  could not read {}: {}",
            unreadable.path, unreadable.detail
        )?;
    }
    Ok(())
}

/// What the user should know about a sync that still succeeded, one line each: roots left alone because
/// they looked missing or emptied, batches another sync had written first.
pub fn print_sync_warnings(out: &mut dyn Write, r: &SyncReport) -> io::Result<()> {
    for spared in &r.unavailable_roots {
        let state = match spared.reason {
            Unavailable::Missing => "does not exist (not mounted?)",
            Unavailable::Empty => "holds no session files",
        };
        writeln!(
            out,
            "sessiondb: warning: config dir {} {state}; its {} indexed files keep their state until it is back",
            spared.root, spared.known_files
        )?;
    }
    if r.stale_batches > 0 {
        writeln!(
            out,
            "sessiondb: another sync ran at the same time; it had already written {} of the batches read here (skipped)",
            r.stale_batches
        )?;
    }
    Ok(())
}

pub fn print_sessions(out: &mut dyn Write, sessions: &[SessionSummary], tz: Tz) -> io::Result<()> {
    if sessions.is_empty() {
        return writeln!(out, "No sessions.");
    }
    writeln!(
        out,
        "{:<16}  {:<8}  {:<28}  {:<40}  {:>5}  {:>12}  {:>9}  STATE",
        "LAST ACTIVITY", "ID", "PROJECT", "TITLE", "MSGS", "TOKENS", "COST"
    )?;
    for s in sessions {
        let state = match s.state {
            sessiondb_core::SessionState::OnDisk => "",
            sessiondb_core::SessionState::Deleted => "deleted on disk",
            sessiondb_core::SessionState::HistoryOnly => "history only",
        };
        writeln!(
            out,
            "{:<16}  {:<8}  {:<28}  {:<40}  {:>5}  {:>12}  {:>9}  {}",
            local_time(s.last_activity_at.as_deref(), tz),
            s.session_id.chars().take(8).collect::<String>(),
            short(&home_relative(s.project_dir.as_deref().unwrap_or("-")), 28),
            short(s.title.as_deref().unwrap_or("-"), 40),
            s.message_count,
            human_count(s.total_tokens),
            usd(s.cost_usd),
            state
        )?;
    }
    Ok(())
}

/// Billing blocks as a table; the active one with its burn rate and projection.
pub fn print_blocks(
    out: &mut dyn Write,
    blocks: &[sessiondb_core::Block],
    tz: Tz,
) -> io::Result<()> {
    writeln!(
        out,
        "{:<16}  {:<7}  {:>8}  {:>15}  {:>10}  MODELS",
        "BLOCK START", "STATUS", "ENTRIES", "TOTAL TOKENS", "COST"
    )?;
    for b in blocks {
        let status = if b.is_gap {
            "gap"
        } else if b.is_active {
            "ACTIVE"
        } else {
            "ended"
        };
        writeln!(
            out,
            "{:<16}  {:<7}  {:>8}  {:>15}  {:>10}  {}",
            local_time(Some(&b.start_time), tz),
            status,
            b.entries,
            human_count(b.total_tokens),
            usd(b.cost_usd),
            b.models.join(", ")
        )?;
        if let (Some(rate), Some(projection)) = (&b.burn_rate, &b.projection) {
            writeln!(
                out,
                "{:<16}  burning {} tokens/min, {}/h; by {} (in {} min): {} tokens, {}",
                "",
                human_count(rate.tokens_per_minute.round() as u64),
                usd(rate.cost_per_hour),
                local_time(Some(&b.end_time), tz),
                projection.remaining_minutes,
                human_count(projection.total_tokens),
                usd(projection.total_cost)
            )?;
        }
    }
    Ok(())
}

pub fn print_usage(out: &mut dyn Write, report: &UsageReport, label: &str) -> io::Result<()> {
    let key_width = report
        .rows
        .iter()
        .map(|r| r.key.chars().count().min(48))
        .max()
        .unwrap_or(5)
        .max(label.len())
        .max(5);
    writeln!(
        out,
        "{:<key_width$}  {:>12}  {:>12}  {:>14}  {:>14}  {:>15}  {:>10}  MODELS",
        label.to_uppercase(),
        "INPUT",
        "OUTPUT",
        "CACHE WRITE",
        "CACHE READ",
        "TOTAL TOKENS",
        "COST",
    )?;
    let row = |out: &mut dyn Write, key: &str, t: &sessiondb_core::UsageTotals, models: &str| {
        writeln!(
            out,
            "{:<key_width$}  {:>12}  {:>12}  {:>14}  {:>14}  {:>15}  {:>10}  {}",
            short(key, 48),
            human_count(t.input_tokens),
            human_count(t.output_tokens),
            human_count(t.cache_creation_tokens),
            human_count(t.cache_read_tokens),
            human_count(t.total_tokens),
            usd(t.cost_usd),
            models
        )
    };
    for r in &report.rows {
        row(out, &r.key, &r.totals, &r.models.join(", "))?;
    }
    row(out, "TOTAL", &report.totals, "")?;
    if report.totals.unpriced_tokens > 0 {
        writeln!(
            out,
            "{} tokens are from models without a price: their cost is not included.",
            human_count(report.totals.unpriced_tokens)
        )?;
    }
    if report.totals.reported_cost_usd > 0.0 {
        writeln!(
            out,
            "Claude Code itself wrote costUSD totalling {} on these lines (old versions).",
            usd(report.totals.reported_cost_usd)
        )?;
    }
    Ok(())
}

pub fn print_session(out: &mut dyn Write, d: &SessionDetail, tz: Tz) -> io::Result<()> {
    let s = &d.summary;
    writeln!(out, "Session     {}", s.session_id)?;
    writeln!(out, "Title       {}", s.title.as_deref().unwrap_or("-"))?;
    writeln!(
        out,
        "Project     {}",
        s.project_dir.as_deref().unwrap_or("-")
    )?;
    writeln!(
        out,
        "Branch      {}",
        s.git_branch.as_deref().unwrap_or("-")
    )?;
    writeln!(
        out,
        "Started     {}",
        local_time(s.started_at.as_deref(), tz)
    )?;
    writeln!(
        out,
        "Last active {}",
        local_time(s.last_activity_at.as_deref(), tz)
    )?;
    writeln!(
        out,
        "Messages    {} (+{} in subagents)",
        s.message_count, s.subagent_message_count
    )?;
    writeln!(
        out,
        "Version     {}",
        s.claude_version.as_deref().unwrap_or("-")
    )?;
    writeln!(
        out,
        "On disk     {}",
        if s.on_disk {
            "yes"
        } else {
            "no (kept from the archive)"
        }
    )?;
    writeln!(out, "Tokens      {}", human_count(s.total_tokens))?;
    writeln!(out, "Cost        {}", usd(s.cost_usd))?;
    if let Some(claude) = s.claude_cost_usd {
        let diff = s.cost_usd - claude;
        writeln!(
            out,
            "Claude Code's own cost-state total: {} (computed {} differs by {:+.4})",
            usd(claude),
            usd(s.cost_usd),
            diff
        )?;
    }
    if s.unpriced_tokens > 0 {
        writeln!(
            out,
            "Unpriced    {} tokens (model without a price)",
            human_count(s.unpriced_tokens)
        )?;
    }
    writeln!(out, "\nUsage by model:")?;
    for m in &d.usage_by_model {
        writeln!(
            out,
            "  {:<32} {:>5} responses  in {:>10}  out {:>10}  cache w {:>11} (1h {:>9})  cache r {:>12}  {}{}",
            m.model,
            m.responses,
            human_count(m.input_tokens),
            human_count(m.output_tokens),
            human_count(m.cache_creation_tokens),
            human_count(m.cache_write_1h_tokens),
            human_count(m.cache_read_tokens),
            m.cost_usd.map(usd).unwrap_or_else(|| "unpriced".into()),
            m.reported_cost_usd
                .map(|r| format!(" (costUSD in lines: {})", usd(r)))
                .unwrap_or_default()
        )?;
    }
    writeln!(out, "\nFiles:")?;
    for f in &d.files {
        writeln!(
            out,
            "  {} ({} lines, {} bytes{}{})",
            f.path,
            f.lines,
            f.size,
            if f.on_disk { "" } else { ", deleted on disk" },
            f.agent_type
                .as_deref()
                .map(|t| format!(", subagent {t}"))
                .unwrap_or_default()
        )?;
    }
    if !d.links.is_empty() {
        writeln!(out, "\nLinks:")?;
        for l in &d.links {
            writeln!(
                out,
                "  {:<10} {} -> {}  at {}",
                l.kind,
                l.from,
                l.to,
                l.junction_uuid.as_deref().unwrap_or("-")
            )?;
        }
    }
    Ok(())
}

pub fn print_doctor(out: &mut dyn Write, r: &DoctorReport) -> io::Result<()> {
    writeln!(
        out,
        "Database      {} ({:.1} MB)",
        r.db_path,
        r.db_bytes as f64 / 1e6
    )?;
    writeln!(
        out,
        "Schema        v{}; prices {}",
        r.schema_version,
        r.price_table_version.as_deref().unwrap_or("-")
    )?;
    writeln!(
        out,
        "Last sync     {}",
        r.last_sync_at.as_deref().unwrap_or("never")
    )?;
    writeln!(
        out,
        "Indexed       {} files ({} gone from disk), {} lines, {} responses, {} sessions",
        r.files,
        r.files_missing_on_disk,
        human_count(r.lines),
        human_count(r.responses),
        human_count(r.sessions)
    )?;
    writeln!(
        out,
        "Raw archive   {:.1} MB of lines kept in {:.1} MB (zstd); {:.1} MB held by captures in {}",
        r.raw_bytes_archived as f64 / 1e6,
        r.raw_bytes_compressed as f64 / 1e6,
        r.raw_bytes_captured as f64 / 1e6,
        r.capture_dir
    )?;
    let n = &r.not_session_usage;
    if n.ids > 0 {
        writeln!(
            out,
            "Start-up      {} tokens (${:.4}, {} responses) under {} ids that are not sessions (Warmup sidechains): {} tokens (${:.4}, {} ids) counted under the session each was started for, the rest under their project only",
            human_count(n.total_tokens),
            n.cost_usd,
            human_count(n.responses),
            n.ids,
            human_count(n.attributed_tokens),
            n.attributed_cost_usd,
            n.attributed_ids
        )?;
    }
    if !r.pending_partial_lines.is_empty() {
        writeln!(out, "\nIncomplete last lines (left for the next sync):")?;
        for (path, bytes) in &r.pending_partial_lines {
            writeln!(out, "  {path}: {bytes} bytes")?;
        }
    }
    if r.issues.is_empty() {
        writeln!(out, "\nNo skipped lines.")?;
    } else {
        writeln!(out, "\nSkipped or altered lines:")?;
        for issue in &r.issues {
            writeln!(out, "  {} — {} × {}", issue.path, issue.count, issue.kind)?;
            for (offset, length, detail) in &issue.examples {
                writeln!(out, "      at byte {offset} ({length} bytes): {detail}")?;
            }
        }
    }
    Ok(())
}

pub fn print_settings(out: &mut dyn Write, s: &Settings) -> io::Result<()> {
    writeln!(
        out,
        "db           {}  ({})",
        s.db.value.display(),
        s.db.source
    )?;
    writeln!(
        out,
        "claude_dirs  {}  ({})",
        s.claude_dirs
            .value
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        s.claude_dirs.source
    )?;
    writeln!(out, "tz           {}  ({})", s.tz.value, s.tz.source)?;
    for p in &s.projects {
        writeln!(
            out,
            "project      {}{}  (config file)",
            p.path.display(),
            p.name
                .as_deref()
                .map(|n| format!(" as {n}"))
                .unwrap_or_default()
        )?;
    }
    writeln!(
        out,
        "config file  {}",
        s.config_file
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "-".into())
    )
}

/// A chain as a tree: each session under the one it continues, with the link kind and when it started.
pub fn print_chain(out: &mut dyn Write, chain: &Chain, tz: Tz) -> io::Result<()> {
    use std::collections::{BTreeMap, BTreeSet};
    let known: BTreeMap<&str, &SessionSummary> = chain
        .sessions
        .iter()
        .map(|s| (s.session_id.as_str(), s))
        .collect();
    let mut children: BTreeMap<&str, Vec<&sessiondb_core::Link>> = BTreeMap::new();
    let mut has_parent: BTreeSet<&str> = BTreeSet::new();
    for link in chain.links.iter().filter(|l| l.from != l.to) {
        children.entry(link.from.as_str()).or_default().push(link);
        has_parent.insert(link.to.as_str());
    }
    writeln!(
        out,
        "Chain {}  head: {}",
        chain.chain_id,
        chain
            .head
            .as_deref()
            .unwrap_or("none (no member is resumable)")
    )?;
    fn describe(s: Option<&&SessionSummary>, tz: Tz) -> String {
        match s {
            Some(s) => format!(
                "{}  {}  {}",
                local_time(s.started_at.as_deref(), tz),
                short(s.title.as_deref().unwrap_or("-"), 50),
                match s.state {
                    sessiondb_core::SessionState::OnDisk => "",
                    sessiondb_core::SessionState::Deleted => "(deleted on disk)",
                    sessiondb_core::SessionState::HistoryOnly => "(history only)",
                }
            ),
            None => String::new(),
        }
    }
    #[allow(clippy::too_many_arguments)]
    fn walk(
        out: &mut dyn Write,
        id: &str,
        depth: usize,
        known: &BTreeMap<&str, &SessionSummary>,
        children: &BTreeMap<&str, Vec<&sessiondb_core::Link>>,
        head: Option<&str>,
        seen: &mut BTreeSet<String>,
        tz: Tz,
    ) -> io::Result<()> {
        if !seen.insert(id.to_owned()) {
            return Ok(());
        }
        for link in children.get(id).map(Vec::as_slice).unwrap_or_default() {
            writeln!(
                out,
                "{}└─ {} {}{}  {}",
                "   ".repeat(depth),
                link.kind,
                link.to,
                if Some(link.to.as_str()) == head {
                    " (head)"
                } else {
                    ""
                },
                describe(known.get(link.to.as_str()), tz)
            )?;
            walk(out, &link.to, depth + 1, known, children, head, seen, tz)?;
        }
        Ok(())
    }
    let mut seen = BTreeSet::new();
    let mut roots: Vec<&SessionSummary> = chain
        .sessions
        .iter()
        .filter(|s| !has_parent.contains(s.session_id.as_str()))
        .collect();
    if roots.is_empty() {
        // Links that go both ways (a cycle): start from the chain's oldest session.
        roots.extend(chain.sessions.first());
    }
    for root in roots {
        writeln!(
            out,
            "{}{}  {}",
            root.session_id,
            if Some(root.session_id.as_str()) == chain.head.as_deref() {
                " (head)"
            } else {
                ""
            },
            describe(Some(&root), tz)
        )?;
        walk(
            out,
            &root.session_id,
            0,
            &known,
            &children,
            chain.head.as_deref(),
            &mut seen,
            tz,
        )?;
    }
    Ok(())
}

/// What a `serve` over this database reported about its syncing.
pub fn print_serve_status(
    out: &mut dyn Write,
    s: &crate::serve_status::ServeStatus,
) -> io::Result<()> {
    let who = if s.running == Some(true) {
        format!("serve (pid {}, {})", s.pid, s.listen)
    } else {
        format!("serve (pid {}, {}; no longer running)", s.pid, s.listen)
    };
    match &s.last_error {
        Some(error) => writeln!(
            out,
            "Serve         {who}: syncing FAILS since {} ({} in a row; retrying): {error}",
            s.last_error_at.as_deref().unwrap_or("?"),
            s.failures_in_a_row
        ),
        None => writeln!(
            out,
            "Serve         {who}: syncing fine, last at {}",
            s.last_finished_at.as_deref().unwrap_or("never")
        ),
    }
}
