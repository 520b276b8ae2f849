//! Billing blocks: Claude's 5-hour usage windows, the way ccusage's `blocks` report draws them, so its users'
//! scripts keep working on sessiondb's output.
//!
//! Deduplicated responses, in time order, fall into blocks: a block starts at its first response's time
//! floored to the UTC hour and lasts five hours; a response more than five hours after the block's start, or
//! more than five hours after the previous response, starts a new block, and a silence longer than five hours
//! is shown as a gap block (from five hours after the last response to the next one). A block is active while
//! it has not ended and its last response is less than five hours old. The burn rate and the projection to the
//! block's end follow from its first and last response.

use serde::Serialize;

/// How long a billing block lasts.
pub const BLOCK_MS: i64 = 5 * 60 * 60 * 1000;

const HOUR_MS: i64 = 60 * 60 * 1000;

/// One deduplicated response, as blocks need it.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageEvent {
    pub at_ms: i64,
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cache_read_tokens: u64,
    pub cost_usd: f64,
}

/// Token sums of a block, named as ccusage names them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockTokens {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
}

/// Tokens per minute and dollars per hour between a block's first and last response.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BurnRate {
    pub tokens_per_minute: f64,
    /// Input and output tokens only (what ccusage's indicator colours).
    pub tokens_per_minute_for_indicator: f64,
    pub cost_per_hour: f64,
}

/// Where an active block ends up at this burn rate.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Projection {
    pub total_tokens: u64,
    pub total_cost: f64,
    pub remaining_minutes: u64,
}

/// One billing block (or the gap between two), with ccusage's field names.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Block {
    /// The start as RFC 3339 (`gap-` and the gap's start for a gap).
    pub id: String,
    pub start_time: String,
    pub end_time: String,
    /// The last response's time; `None` for a gap.
    pub actual_end_time: Option<String>,
    pub is_active: bool,
    pub is_gap: bool,
    /// Responses in the block.
    pub entries: u64,
    pub token_counts: BlockTokens,
    pub total_tokens: u64,
    #[serde(rename = "costUSD")]
    pub cost_usd: f64,
    /// Models in order of first use.
    pub models: Vec<String>,
    pub burn_rate: Option<BurnRate>,
    pub projection: Option<Projection>,
    #[serde(skip)]
    pub start_ms: i64,
    #[serde(skip)]
    pub end_ms: i64,
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The blocks of `events` (in any order), as of `now_ms`.
pub fn build_blocks(events: &[UsageEvent], now_ms: i64) -> Vec<Block> {
    let mut sorted: Vec<&UsageEvent> = events.iter().collect();
    sorted.sort_by_key(|e| e.at_ms);
    let mut blocks = Vec::new();
    let mut current: Vec<&UsageEvent> = Vec::new();
    let mut start_ms = 0;
    for event in sorted {
        if let Some(last) = current.last() {
            let since_start = event.at_ms - start_ms;
            let since_last = event.at_ms - last.at_ms;
            if since_start > BLOCK_MS || since_last > BLOCK_MS {
                let last_ms = last.at_ms;
                blocks.push(block_of(start_ms, &current, now_ms));
                if since_last > BLOCK_MS {
                    blocks.push(gap(last_ms + BLOCK_MS, event.at_ms));
                }
                current.clear();
            }
        }
        if current.is_empty() {
            start_ms = event.at_ms.div_euclid(HOUR_MS) * HOUR_MS;
        }
        current.push(event);
    }
    if !current.is_empty() {
        blocks.push(block_of(start_ms, &current, now_ms));
    }
    // By start: a gap starts five hours after the last response, which can be after the floored start of the
    // block that ends it.
    blocks.sort_by_key(|b| b.start_ms);
    blocks
}

fn gap(start_ms: i64, end_ms: i64) -> Block {
    Block {
        id: format!("gap-{}", rfc3339(start_ms)),
        start_time: rfc3339(start_ms),
        end_time: rfc3339(end_ms),
        actual_end_time: None,
        is_active: false,
        is_gap: true,
        entries: 0,
        token_counts: BlockTokens::default(),
        total_tokens: 0,
        cost_usd: 0.0,
        models: Vec::new(),
        burn_rate: None,
        projection: None,
        start_ms,
        end_ms,
    }
}

fn block_of(start_ms: i64, events: &[&UsageEvent], now_ms: i64) -> Block {
    let end_ms = start_ms + BLOCK_MS;
    let first_ms = events.first().map_or(start_ms, |e| e.at_ms);
    let last_ms = events.last().map_or(start_ms, |e| e.at_ms);
    let mut tokens = BlockTokens::default();
    let mut cost = 0.0;
    let mut models: Vec<String> = Vec::new();
    for e in events {
        tokens.input_tokens = tokens.input_tokens.saturating_add(e.input_tokens);
        tokens.output_tokens = tokens.output_tokens.saturating_add(e.output_tokens);
        tokens.cache_creation_input_tokens = tokens
            .cache_creation_input_tokens
            .saturating_add(e.cache_creation_tokens);
        tokens.cache_read_input_tokens = tokens
            .cache_read_input_tokens
            .saturating_add(e.cache_read_tokens);
        cost += e.cost_usd;
        // A `<synthetic>` response (Claude Code's own, never sent to the API) counts as an entry, not a model.
        if e.model != sessiondb_pricing::SYNTHETIC_MODEL && !models.iter().any(|m| m == &e.model) {
            models.push(e.model.clone());
        }
    }
    let total = tokens
        .input_tokens
        .saturating_add(tokens.output_tokens)
        .saturating_add(tokens.cache_creation_input_tokens)
        .saturating_add(tokens.cache_read_input_tokens);
    let is_active = now_ms - last_ms < BLOCK_MS && now_ms < end_ms;
    let minutes = (last_ms - first_ms) as f64 / 60_000.0;
    let burn_rate = (minutes > 0.0).then(|| BurnRate {
        tokens_per_minute: total as f64 / minutes,
        tokens_per_minute_for_indicator: (tokens.input_tokens + tokens.output_tokens) as f64
            / minutes,
        cost_per_hour: cost / minutes * 60.0,
    });
    let projection = match (&burn_rate, is_active) {
        (Some(rate), true) => {
            let remaining = ((end_ms - now_ms) as f64 / 60_000.0).max(0.0);
            Some(Projection {
                total_tokens: (total as f64 + rate.tokens_per_minute * remaining).round() as u64,
                total_cost: ((cost + rate.cost_per_hour / 60.0 * remaining) * 100.0).round()
                    / 100.0,
                remaining_minutes: remaining.round() as u64,
            })
        }
        _ => None,
    };
    Block {
        id: rfc3339(start_ms),
        start_time: rfc3339(start_ms),
        end_time: rfc3339(end_ms),
        actual_end_time: Some(rfc3339(last_ms)),
        is_active,
        is_gap: false,
        entries: events.len() as u64,
        token_counts: tokens,
        total_tokens: total,
        cost_usd: cost,
        models,
        burn_rate,
        projection,
        start_ms,
        end_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_704_103_200_000; // 2024-01-01T10:00:00Z

    fn event(at_ms: i64, model: &str) -> UsageEvent {
        UsageEvent {
            at_ms,
            model: model.into(),
            input_tokens: 1000,
            output_tokens: 500,
            cache_creation_tokens: 0,
            cache_read_tokens: 0,
            cost_usd: 0.01,
        }
    }

    #[test]
    fn responses_within_five_hours_of_the_floored_start_share_a_block() {
        let blocks = build_blocks(
            &[
                event(T0 + 2 * HOUR_MS, "a"),
                event(T0 + 55 * 60_000, "b"),
                event(T0 + HOUR_MS, "a"),
            ],
            T0 + 100 * HOUR_MS,
        );
        assert_eq!(blocks.len(), 1);
        let block = &blocks[0];
        assert_eq!(block.start_time, "2024-01-01T10:00:00.000Z");
        assert_eq!(block.end_time, "2024-01-01T15:00:00.000Z");
        assert_eq!(block.entries, 3);
        assert_eq!(block.total_tokens, 4500);
        assert_eq!(block.models, vec!["b", "a"], "models in order of first use");
        assert!(!block.is_active);
    }

    #[test]
    fn a_silence_over_five_hours_is_a_gap_block_between_two_blocks() {
        let blocks = build_blocks(
            &[event(T0 + 30 * 60_000, "a"), event(T0 + 8 * HOUR_MS, "a")],
            T0 + 100 * HOUR_MS,
        );
        let gaps: Vec<bool> = blocks.iter().map(|b| b.is_gap).collect();
        assert_eq!(gaps, vec![false, true, false]);
        assert_eq!(blocks[1].start_time, "2024-01-01T15:30:00.000Z");
        assert_eq!(blocks[1].end_time, "2024-01-01T18:00:00.000Z");
        assert_eq!(blocks[1].id, "gap-2024-01-01T15:30:00.000Z");
        assert_eq!(blocks[2].start_time, "2024-01-01T18:00:00.000Z");
    }

    #[test]
    fn blocks_are_in_order_of_their_start_even_when_a_gap_starts_after_the_next_block() {
        // The gap starts at 15:40 (five hours after 10:40); the next response at 15:50 starts a block at 15:00.
        let blocks = build_blocks(
            &[
                event(T0 + 40 * 60_000, "a"),
                event(T0 + 5 * HOUR_MS + 50 * 60_000 + 1, "a"),
            ],
            T0 + 100 * HOUR_MS,
        );
        let starts: Vec<(&str, bool)> = blocks
            .iter()
            .map(|b| (b.start_time.as_str(), b.is_gap))
            .collect();
        assert_eq!(
            starts,
            vec![
                ("2024-01-01T10:00:00.000Z", false),
                ("2024-01-01T15:00:00.000Z", false),
                ("2024-01-01T15:40:00.000Z", true),
            ]
        );
    }

    #[test]
    fn activity_past_the_blocks_end_starts_a_new_block_without_a_gap() {
        // Every hour for seven hours: no silence, but the first block ends after five.
        let events: Vec<UsageEvent> = (0..7).map(|h| event(T0 + h * HOUR_MS + 1, "a")).collect();
        let blocks = build_blocks(&events, T0 + 100 * HOUR_MS);
        assert_eq!(blocks.len(), 2);
        assert!(!blocks[1].is_gap);
        assert_eq!(blocks[0].entries, 5);
        assert_eq!(blocks[1].start_time, "2024-01-01T15:00:00.000Z");
    }

    #[test]
    fn the_active_block_has_a_burn_rate_and_a_projection_to_its_end() {
        let blocks = build_blocks(&[event(T0, "a"), event(T0 + 60_000, "a")], T0 + 2 * 60_000);
        let block = &blocks[0];
        assert!(block.is_active);
        let rate = block.burn_rate.as_ref().unwrap();
        assert_eq!(rate.tokens_per_minute, 3000.0);
        assert!((rate.cost_per_hour - 1.2).abs() < 1e-9);
        let projection = block.projection.as_ref().unwrap();
        assert_eq!(projection.remaining_minutes, 298);
        assert_eq!(projection.total_tokens, 3000 + 3000 * 298);
    }

    #[test]
    fn serialized_with_ccusages_names() {
        let blocks = build_blocks(&[event(T0, "a")], T0);
        let value = serde_json::to_value(&blocks[0]).unwrap();
        for field in [
            "id",
            "startTime",
            "endTime",
            "actualEndTime",
            "isActive",
            "isGap",
            "entries",
            "tokenCounts",
            "totalTokens",
            "costUSD",
            "models",
            "burnRate",
            "projection",
        ] {
            assert!(value.get(field).is_some(), "{field} missing: {value}");
        }
        assert!(value.get("start_ms").is_none());
        assert_eq!(value["tokenCounts"]["cacheReadInputTokens"], 0);
    }
}
