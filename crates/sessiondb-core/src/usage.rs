//! Usage reports: deduplicated responses grouped by period (in a time zone), session, project, model or branch.
//!
//! Stores aggregate responses into coarse buckets (15-minute slots for time reports, since every time zone's
//! offset is a multiple of 15 minutes); this module folds the buckets into days, weeks or months of the
//! requested zone and computes totals. Keeping the zone arithmetic here keeps the stores' SQL portable.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Width of the time buckets a store returns.
pub const TIME_BUCKET_MS: i64 = 15 * 60 * 1000;

/// How a usage report groups its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    Period(Period),
    Session,
    Project,
    Model,
    Branch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    /// ISO weeks, Monday first; the key is the Monday's date.
    Week,
    Month,
}

/// What the caller asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageQuery {
    pub grouping: Grouping,
    /// First day included (in `tz`).
    pub since: Option<NaiveDate>,
    /// Last day included (in `tz`).
    pub until: Option<NaiveDate>,
    pub tz: Tz,
}

impl UsageQuery {
    /// The instant range `[since, until]` covers, as epoch ms (`until` exclusive).
    pub fn range_ms(&self) -> (Option<i64>, Option<i64>) {
        let start_of = |date: NaiveDate| -> Option<i64> {
            let midnight = date.and_hms_opt(0, 0, 0)?;
            self.tz
                .from_local_datetime(&midnight)
                .earliest()
                .map(|t| t.timestamp_millis())
        };
        let since = self.since.and_then(start_of);
        let until = self.until.and_then(|d| d.succ_opt()).and_then(start_of);
        (since, until)
    }
}

/// A slice of deduplicated usage a store aggregated.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageBucket {
    /// The bucket's start (epoch ms, a multiple of [`TIME_BUCKET_MS`]) for period groupings, else `None`.
    pub time_bucket_ms: Option<i64>,
    /// Session id, project dir, model or branch for the other groupings.
    pub label: Option<String>,
    pub model: String,
    pub responses: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cache_read_tokens: u64,
    pub cost_usd: f64,
    pub unpriced_tokens: u64,
    pub reported_cost_usd: f64,
}

/// Token and cost sums; one per row and one for the whole report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UsageTotals {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cache_read_tokens: u64,
    pub total_tokens: u64,
    pub cost_usd: f64,
    /// Tokens of responses whose model has no price: their cost is unknown, not zero.
    pub unpriced_tokens: u64,
    /// Deduplicated API responses counted.
    pub responses: u64,
    /// `costUSD` that old Claude Code versions wrote themselves, for comparison.
    pub reported_cost_usd: f64,
}

impl UsageTotals {
    /// Adds a bucket. Saturating: the counts a sync stores are bounded per response (see
    /// `sessiondb_format::numbers`), so this never saturates on real data, but a report never wraps.
    fn add(&mut self, bucket: &UsageBucket) {
        let add = |sum: &mut u64, n: u64| *sum = sum.saturating_add(n);
        add(&mut self.input_tokens, bucket.input_tokens);
        add(&mut self.output_tokens, bucket.output_tokens);
        add(
            &mut self.cache_creation_tokens,
            bucket.cache_creation_tokens,
        );
        add(&mut self.cache_read_tokens, bucket.cache_read_tokens);
        for n in [
            bucket.input_tokens,
            bucket.output_tokens,
            bucket.cache_creation_tokens,
            bucket.cache_read_tokens,
        ] {
            add(&mut self.total_tokens, n);
        }
        self.cost_usd += bucket.cost_usd;
        add(&mut self.unpriced_tokens, bucket.unpriced_tokens);
        add(&mut self.responses, bucket.responses);
        self.reported_cost_usd += bucket.reported_cost_usd;
    }
}

/// One row of a usage report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageRow {
    pub key: String,
    #[serde(flatten)]
    pub totals: UsageTotals,
    pub models: Vec<String>,
}

/// `{"rows": [...], "totals": {...}}`: the JSON contract of `usage --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageReport {
    pub rows: Vec<UsageRow>,
    pub totals: UsageTotals,
}

/// Folds store buckets into report rows for `query`.
pub fn build_usage_report(query: &UsageQuery, buckets: &[UsageBucket]) -> UsageReport {
    let mut rows: BTreeMap<String, (UsageTotals, BTreeSet<String>)> = BTreeMap::new();
    let mut totals = UsageTotals::default();
    for bucket in buckets {
        let key = match query.grouping {
            Grouping::Period(period) => match bucket
                .time_bucket_ms
                .and_then(|ms| period_key(period, ms, query.tz))
            {
                Some(key) => key,
                None => "unknown".to_owned(),
            },
            _ => bucket.label.clone().unwrap_or_else(|| "unknown".to_owned()),
        };
        let row = rows.entry(key).or_default();
        row.0.add(bucket);
        row.1.insert(bucket.model.clone());
        totals.add(bucket);
    }
    let mut rows: Vec<UsageRow> = rows
        .into_iter()
        .map(|(key, (totals, models))| UsageRow {
            key,
            totals,
            models: models.into_iter().collect(),
        })
        .collect();
    if !matches!(query.grouping, Grouping::Period(_)) {
        rows.sort_by(|a, b| {
            b.totals
                .cost_usd
                .total_cmp(&a.totals.cost_usd)
                .then(b.totals.total_tokens.cmp(&a.totals.total_tokens))
                .then(a.key.cmp(&b.key))
        });
    }
    UsageReport { rows, totals }
}

fn period_key(period: Period, ms: i64, tz: Tz) -> Option<String> {
    let local = DateTime::<Utc>::from_timestamp_millis(ms)?.with_timezone(&tz);
    let date = local.date_naive();
    Some(match period {
        Period::Day => date.format("%Y-%m-%d").to_string(),
        Period::Week => {
            let monday =
                date - chrono::Duration::days(i64::from(date.weekday().num_days_from_monday()));
            monday.format("%Y-%m-%d").to_string()
        }
        Period::Month => format!("{:04}-{:02}", date.year(), date.month()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(ms: i64, model: &str, input: u64, cost: f64) -> UsageBucket {
        UsageBucket {
            time_bucket_ms: Some(ms - ms.rem_euclid(TIME_BUCKET_MS)),
            label: None,
            model: model.into(),
            responses: 1,
            input_tokens: input,
            output_tokens: 0,
            cache_creation_tokens: 0,
            cache_read_tokens: 0,
            cost_usd: cost,
            unpriced_tokens: 0,
            reported_cost_usd: 0.0,
        }
    }

    fn query(grouping: Grouping, tz: &str) -> UsageQuery {
        UsageQuery {
            grouping,
            since: None,
            until: None,
            tz: tz.parse().unwrap(),
        }
    }

    #[test]
    fn days_follow_the_time_zone() {
        // 2026-11-01T23:30Z is Nov 1 in UTC but Nov 2 in Berlin (UTC+1) and still Nov 1 in New York.
        let ms = 1_793_575_800_000;
        let buckets = [bucket(ms, "m", 10, 1.0)];
        let utc = build_usage_report(&query(Grouping::Period(Period::Day), "UTC"), &buckets);
        assert_eq!(utc.rows[0].key, "2026-11-01");
        let berlin = build_usage_report(
            &query(Grouping::Period(Period::Day), "Europe/Berlin"),
            &buckets,
        );
        assert_eq!(berlin.rows[0].key, "2026-11-02");
        let kathmandu = build_usage_report(
            &query(Grouping::Period(Period::Day), "Asia/Kathmandu"),
            &buckets,
        );
        assert_eq!(kathmandu.rows[0].key, "2026-11-02");
    }

    #[test]
    fn weeks_start_on_monday_and_months_fold() {
        let wed = 1_793_750_400_000; // 2026-11-04T00:00Z, a Wednesday
        let buckets = [
            bucket(wed, "a", 1, 0.5),
            bucket(wed + 86_400_000, "b", 2, 0.25),
        ];
        let weeks = build_usage_report(&query(Grouping::Period(Period::Week), "UTC"), &buckets);
        assert_eq!(weeks.rows.len(), 1);
        assert_eq!(weeks.rows[0].key, "2026-11-02");
        assert_eq!(weeks.rows[0].models, vec!["a".to_string(), "b".to_string()]);
        let months = build_usage_report(&query(Grouping::Period(Period::Month), "UTC"), &buckets);
        assert_eq!(months.rows[0].key, "2026-11");
        assert_eq!(months.totals.input_tokens, 3);
        assert!((months.totals.cost_usd - 0.75).abs() < 1e-12);
    }

    #[test]
    fn totals_saturate_instead_of_wrapping() {
        // A store never hands out such buckets (counts are bounded when parsed), but a report must not wrap
        // (or panic) if one does.
        let ms = 1_793_575_800_000;
        let mut huge = bucket(ms, "m", u64::MAX, 1.0);
        huge.output_tokens = u64::MAX;
        let buckets = [huge, bucket(ms, "m", 10, 1.0)];
        let report = build_usage_report(&query(Grouping::Period(Period::Day), "UTC"), &buckets);
        assert_eq!(report.totals.input_tokens, u64::MAX);
        assert_eq!(report.totals.total_tokens, u64::MAX);
        assert_eq!(report.rows[0].totals.output_tokens, u64::MAX);
    }

    #[test]
    fn since_until_are_whole_days_in_the_zone() {
        let q = UsageQuery {
            grouping: Grouping::Period(Period::Day),
            since: NaiveDate::from_ymd_opt(2026, 11, 2),
            until: NaiveDate::from_ymd_opt(2026, 11, 2),
            tz: "Europe/Berlin".parse().unwrap(),
        };
        let (since, until) = q.range_ms();
        assert_eq!(since, Some(1_793_574_000_000)); // 2026-11-01T23:00Z
        assert_eq!(until, Some(1_793_660_400_000));
    }
}
