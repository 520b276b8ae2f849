//! Prices Claude API token usage in USD from a price table compiled into the binary.
//!
//! The table lives in `src/prices.json` and is embedded with `include_str!`.
//! It is parsed once, the first time [`PriceTable::embedded`] is called. Nothing
//! here reads files, the environment or the network.
//!
//! Model names from transcripts, Bedrock, Vertex or LiteLLM-style ids are mapped
//! to one canonical id by [`normalize_model`] before lookup. A message made by the
//! client (`<synthetic>`) costs nothing ([`Cost::Free`]). A model that is not in the
//! table is [`Cost::Unpriced`], never a zero dollar amount.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// Version of the embedded price table. Bump it whenever a price changes, so that
/// stored costs can be recomputed.
pub const PRICE_TABLE_VERSION: &str = "2026-11-23.1";

const EMBEDDED_JSON: &str = include_str!("prices.json");

/// The model name Claude Code writes on messages it makes itself (API errors): free, and left out of usage.
pub const SYNTHETIC_MODEL: &str = "<synthetic>";

/// Token counts of one API request, as reported in its `usage` block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCounts {
    /// Uncached input tokens (`input_tokens`).
    pub input: u64,
    /// Output tokens (`output_tokens`).
    pub output: u64,
    /// Tokens written to the 5-minute cache (`cache_creation.ephemeral_5m_input_tokens`).
    pub cache_write_5m: u64,
    /// Tokens written to the 1-hour cache (`cache_creation.ephemeral_1h_input_tokens`).
    pub cache_write_1h: u64,
    /// Tokens read from the cache (`cache_read_input_tokens`).
    pub cache_read: u64,
}

impl TokenCounts {
    /// All input-side tokens of the request: uncached input, both cache writes and
    /// cache reads. This is what Anthropic compares with a long-context threshold.
    pub fn total_input(&self) -> u64 {
        self.input
            .saturating_add(self.cache_write_5m)
            .saturating_add(self.cache_write_1h)
            .saturating_add(self.cache_read)
    }
}

/// The cost of one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cost {
    /// Priced, in US dollars.
    Usd(f64),
    /// `<synthetic>` and other client-made messages
    Free,
    /// model not in the table
    Unpriced,
}

impl Cost {
    /// The dollar amount: `Some(x)` for [`Cost::Usd`], `Some(0.0)` for [`Cost::Free`],
    /// `None` for [`Cost::Unpriced`].
    pub fn usd(&self) -> Option<f64> {
        match *self {
            Cost::Usd(x) => Some(x),
            Cost::Free => Some(0.0),
            Cost::Unpriced => None,
        }
    }
}

/// Rates that apply to a whole request once its total input exceeds a threshold.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongContextTier {
    /// The tier applies when total input is strictly greater than this many tokens.
    #[serde(default = "default_threshold")]
    pub threshold_tokens: u64,
    /// USD per million uncached input tokens.
    pub input: f64,
    /// USD per million output tokens.
    pub output: f64,
    /// USD per million tokens written to the 5-minute cache.
    pub cache_write_5m: f64,
    /// USD per million tokens written to the 1-hour cache.
    pub cache_write_1h: f64,
    /// USD per million tokens read from the cache.
    pub cache_read: f64,
}

fn default_threshold() -> u64 {
    200_000
}

/// The price of one model, in USD per million tokens.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// USD per million uncached input tokens.
    pub input: f64,
    /// USD per million output tokens.
    pub output: f64,
    /// USD per million tokens written to the 5-minute cache.
    pub cache_write_5m: f64,
    /// USD per million tokens written to the 1-hour cache.
    pub cache_write_1h: f64,
    /// USD per million tokens read from the cache.
    pub cache_read: f64,
    /// Higher rates for long requests, for models that have them.
    #[serde(default)]
    pub long_context: Option<LongContextTier>,
    /// Where these prices came from.
    pub source: String,
}

impl ModelPrice {
    /// The cost of one request at this model's prices.
    ///
    /// Long-context rule: Anthropic bills the *whole* request (every input,
    /// cache and output token) at the long-context rates when its total input
    /// (`input + cache_write_5m + cache_write_1h + cache_read`) exceeds the
    /// tier's threshold (200,000 tokens for Sonnet 4 / 4.5). ccusage instead
    /// splits each token type at 200k and prices only the part above it at the
    /// higher rate; we follow Anthropic's published rule.
    pub fn cost(&self, tokens: &TokenCounts) -> f64 {
        let rates = match &self.long_context {
            Some(tier) if tokens.total_input() > tier.threshold_tokens => [
                tier.input,
                tier.output,
                tier.cache_write_5m,
                tier.cache_write_1h,
                tier.cache_read,
            ],
            _ => [
                self.input,
                self.output,
                self.cache_write_5m,
                self.cache_write_1h,
                self.cache_read,
            ],
        };
        let counts = [
            tokens.input,
            tokens.output,
            tokens.cache_write_5m,
            tokens.cache_write_1h,
            tokens.cache_read,
        ];
        let micro: f64 = counts
            .iter()
            .zip(rates.iter())
            .map(|(&n, &rate)| n as f64 * rate)
            .sum();
        micro / 1_000_000.0
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    version: String,
    #[allow(dead_code)]
    notes: Vec<String>,
    models: BTreeMap<String, ModelPrice>,
}

/// A table of model prices, keyed by canonical model id (see [`normalize_model`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PriceTable {
    version: String,
    models: BTreeMap<String, ModelPrice>,
}

impl PriceTable {
    /// The table compiled into this binary, parsed on first use.
    ///
    /// # Panics
    ///
    /// If the embedded `prices.json` does not parse; the crate's tests make sure it does.
    pub fn embedded() -> &'static PriceTable {
        static TABLE: OnceLock<PriceTable> = OnceLock::new();
        TABLE.get_or_init(|| {
            PriceTable::from_json(EMBEDDED_JSON).expect("embedded prices.json is valid")
        })
    }

    fn from_json(json: &str) -> Result<PriceTable, serde_json::Error> {
        let file: PriceFile = serde_json::from_str(json)?;
        Ok(PriceTable {
            version: file.version,
            models: file.models,
        })
    }

    /// The table's version, equal to [`PRICE_TABLE_VERSION`] for the embedded table.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The price of `model`, after [`normalize_model`]; `None` if it is not in the table.
    pub fn lookup(&self, model: &str) -> Option<&ModelPrice> {
        self.models.get(&normalize_model(model))
    }

    /// Every model in the table with its price, in id order.
    pub fn models(&self) -> impl Iterator<Item = (&str, &ModelPrice)> {
        self.models.iter().map(|(id, price)| (id.as_str(), price))
    }

    /// The cost of one request made with `model`.
    ///
    /// `<synthetic>` and an empty model name are [`Cost::Free`]; a model not in the
    /// table is [`Cost::Unpriced`]. See [`ModelPrice::cost`] for the long-context rule.
    pub fn cost(&self, model: &str, tokens: &TokenCounts) -> Cost {
        self.rate(model).cost(tokens)
    }

    /// How `model` (a name as written in a transcript) is priced.
    pub fn rate(&self, model: &str) -> ModelRate<'_> {
        let id = normalize_model(model);
        if id.is_empty() || id == SYNTHETIC_MODEL {
            return ModelRate::Free;
        }
        match self.models.get(&id) {
            Some(price) => ModelRate::Priced(price),
            None => ModelRate::Unpriced,
        }
    }
}

/// How one model is priced, resolved by [`PriceTable::rate`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ModelRate<'a> {
    Priced(&'a ModelPrice),
    Free,
    Unpriced,
}

impl ModelRate<'_> {
    pub fn cost(&self, tokens: &TokenCounts) -> Cost {
        match self {
            ModelRate::Priced(price) => Cost::Usd(price.cost(tokens)),
            ModelRate::Free => Cost::Free,
            ModelRate::Unpriced => Cost::Unpriced,
        }
    }
}

/// A [`PriceTable`] that remembers the rates of the few model names it met last. Normalizing a name costs
/// thousands of instructions, and a transcript names one or two models over thousands of responses.
pub struct RateMemo<'a> {
    table: &'a PriceTable,
    recent: Vec<(String, ModelRate<'a>)>,
}

impl<'a> RateMemo<'a> {
    /// Names remembered; past that, a name is resolved each time (a file naming more models is rare).
    const CAPACITY: usize = 8;

    pub fn new(table: &'a PriceTable) -> Self {
        RateMemo {
            table,
            recent: Vec::new(),
        }
    }

    /// The same as [`PriceTable::cost`].
    pub fn cost(&mut self, model: &str, tokens: &TokenCounts) -> Cost {
        if let Some((_, rate)) = self.recent.iter().find(|(name, _)| name == model) {
            return rate.cost(tokens);
        }
        let rate = self.table.rate(model);
        if self.recent.len() < Self::CAPACITY {
            self.recent.push((model.to_owned(), rate));
        }
        rate.cost(tokens)
    }
}

const FAMILIES: [&str; 3] = ["opus", "sonnet", "haiku"];

/// Maps a model name as it appears in transcripts or cloud APIs to its canonical id.
///
/// - lower-cases and trims;
/// - drops everything up to the last `/` (`anthropic/`, `bedrock/…/`, ARNs);
/// - drops `anthropic.` and a region prefix before it (`us.`, `eu.`, `apac.`, `global.`, …);
/// - drops a `[1m]`-style suffix, a Vertex `@20250514` suffix, a Bedrock `-v1:0` / `-v2`
///   suffix, `-latest`, and a trailing `-YYYYMMDD` date;
/// - writes Claude 3.x ids version-first (`claude-3-7-sonnet`) and Claude 4 and later
///   family-first (`claude-sonnet-4-5`), and `claude-opus-4-0` as `claude-opus-4`.
///
/// Bare aliases such as `sonnet` or `opus` are left alone; they name no single model and
/// so are not priced.
pub fn normalize_model(model: &str) -> String {
    let lower = model.trim().to_ascii_lowercase();
    let mut s: &str = &lower;

    if let Some(pos) = s.rfind('/') {
        s = &s[pos + 1..];
    }
    if let Some(pos) = s.find("anthropic.") {
        let before = &s[..pos];
        let region_ok = before.is_empty()
            || before.strip_suffix('.').is_some_and(|r| {
                !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if region_ok {
            s = &s[pos + "anthropic.".len()..];
        }
    }
    if s.ends_with(']') {
        if let Some(pos) = s.rfind('[') {
            s = &s[..pos];
        }
    }
    if let Some(pos) = s.find('@') {
        s = &s[..pos];
    }
    // Bedrock revision: ":0" after "-v1".
    if let Some((head, tail)) = s.rsplit_once(':') {
        if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
            s = head;
        }
    }
    if let Some((head, tail)) = s.rsplit_once('-') {
        let is_version = tail.len() > 1
            && tail.starts_with('v')
            && tail[1..].bytes().all(|b| b.is_ascii_digit());
        if is_version {
            s = head;
        }
    }
    if let Some(head) = s.strip_suffix("-latest") {
        s = head;
    }
    if let Some((head, tail)) = s.rsplit_once('-') {
        if tail.len() == 8 && tail.bytes().all(|b| b.is_ascii_digit()) {
            s = head;
        }
    }

    reorder_family(s).unwrap_or_else(|| s.to_string())
}

/// `claude-4-opus` -> `claude-opus-4`, `claude-sonnet-3-7` -> `claude-3-7-sonnet`,
/// `claude-opus-4-0` -> `claude-opus-4`. `None` when `s` is already canonical or is
/// not of that shape.
fn reorder_family(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split('-').collect();
    if parts.len() < 3 || parts[0] != "claude" {
        return None;
    }
    let is_num = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());

    let (family, nums): (&str, Vec<&str>) = if FAMILIES.contains(&parts[1]) {
        (parts[1], parts[2..].to_vec())
    } else if FAMILIES.contains(parts.last()?) {
        (parts.last()?, parts[1..parts.len() - 1].to_vec())
    } else {
        return None;
    };
    if nums.is_empty() || !nums.iter().all(|p| is_num(p)) {
        return None;
    }
    let major: u32 = nums[0].parse().ok()?;
    let mut nums = nums;
    if nums.len() == 2 && nums[1] == "0" {
        nums.truncate(1);
    }
    let version = nums.join("-");
    let canonical = if major >= 4 {
        format!("claude-{family}-{version}")
    } else {
        format!("claude-{version}-{family}")
    };
    (canonical != s).then_some(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(
            normalize_model(input),
            expected,
            "normalize_model({input:?})"
        );
    }

    fn assert_usd(cost: Cost, expected: f64) {
        match cost {
            Cost::Usd(x) => assert!(
                (x - expected).abs() < 1e-9,
                "expected ${expected}, got ${x}"
            ),
            other => panic!("expected Usd({expected}), got {other:?}"),
        }
    }

    #[test]
    fn normalization_table() {
        check("claude-sonnet-4-5-20250929", "claude-sonnet-4-5");
        check("claude-sonnet-4-5", "claude-sonnet-4-5");
        check(
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "claude-sonnet-4-5",
        );
        check(
            "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "claude-sonnet-4-5",
        );
        check(
            "apac.anthropic.claude-sonnet-4-20250514-v1:0",
            "claude-sonnet-4",
        );
        check(
            "global.anthropic.claude-haiku-4-5-20251001-v1:0",
            "claude-haiku-4-5",
        );
        check(
            "anthropic.claude-3-5-sonnet-20241022-v2:0",
            "claude-3-5-sonnet",
        );
        check("anthropic/claude-opus-4-1-20250805", "claude-opus-4-1");
        check(
            "bedrock/us.anthropic.claude-opus-4-20250514-v1:0",
            "claude-opus-4",
        );
        check(
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-opus-4-6-v1",
            "claude-opus-4-6",
        );
        check("claude-sonnet-4-5@20250929", "claude-sonnet-4-5");
        check("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet");
        check("claude-opus-4-6[1m]", "claude-opus-4-6");
        check("claude-sonnet-4-5-20250929[1m]", "claude-sonnet-4-5");
        check("Claude-Opus-4-5-20251101", "claude-opus-4-5");
        check("  claude-opus-4-6  ", "claude-opus-4-6");
        check("claude-3-5-sonnet-20241022", "claude-3-5-sonnet");
        check("claude-3-5-sonnet-20240620", "claude-3-5-sonnet");
        check("claude-3-5-sonnet-latest", "claude-3-5-sonnet");
        check("claude-3-7-sonnet-20250219", "claude-3-7-sonnet");
        check("claude-3-5-haiku-20241022", "claude-3-5-haiku");
        check("claude-3-haiku-20240307", "claude-3-haiku");
        check("claude-3-opus-20240229", "claude-3-opus");
        check("claude-3-sonnet-20240229", "claude-3-sonnet");
        check("claude-sonnet-3-7", "claude-3-7-sonnet");
        check("claude-haiku-3-5-20241022", "claude-3-5-haiku");
        check("claude-4-opus-20250514", "claude-opus-4");
        check("claude-4-sonnet-20250514", "claude-sonnet-4");
        check("claude-opus-4-0", "claude-opus-4");
        check("claude-sonnet-4-0", "claude-sonnet-4");
        check("claude-opus-4-20250514", "claude-opus-4");
        check("claude-haiku-4-5-20251001", "claude-haiku-4-5");
        check("claude-opus-4-7-20260416", "claude-opus-4-7");
        check("claude-opus-4-6-20260205", "claude-opus-4-6");
        check("<synthetic>", "<synthetic>");
        check("", "");
        check("sonnet", "sonnet");
        check("opus", "opus");
        check("gpt-4o", "gpt-4o");
    }

    #[test]
    fn the_memo_prices_as_the_table_does_past_its_capacity() {
        let table = PriceTable::embedded();
        let mut memo = RateMemo::new(table);
        let mut names: Vec<String> = table.models().map(|(id, _)| id.to_string()).collect();
        names.extend(
            [
                "claude-sonnet-4-5-20250929",
                "<synthetic>",
                "",
                "gpt-5",
                "us.anthropic.claude-opus-4-1-v1:0",
            ]
            .map(String::from),
        );
        assert!(names.len() > 2 * RateMemo::CAPACITY);
        let tokens = TokenCounts {
            input: 1_000,
            output: 2_000,
            cache_write_5m: 3_000,
            cache_write_1h: 4_000,
            cache_read: 300_000,
        };
        // Twice over, in both orders: remembered names and names past the capacity.
        for name in names.iter().chain(names.iter().rev()).chain(names.iter()) {
            assert_eq!(
                memo.cost(name, &tokens),
                table.cost(name, &tokens),
                "{name}"
            );
        }
        assert_eq!(memo.cost("gpt-5", &tokens), Cost::Unpriced);
        assert_eq!(memo.cost("<synthetic>", &tokens), Cost::Free);
    }

    #[test]
    fn every_table_key_is_canonical() {
        for (id, _) in PriceTable::embedded().models() {
            assert_eq!(normalize_model(id), id, "table key {id:?} is not canonical");
        }
    }

    #[test]
    fn embedded_table_parses_and_has_current_version() {
        let table = PriceTable::embedded();
        assert_eq!(table.version(), PRICE_TABLE_VERSION);
        assert!(table.models().count() >= 16);
    }

    #[test]
    fn required_models_are_priced() {
        let table = PriceTable::embedded();
        for id in [
            "claude-3-haiku",
            "claude-3-opus",
            "claude-3-sonnet",
            "claude-3-5-haiku",
            "claude-3-5-sonnet",
            "claude-3-7-sonnet",
            "claude-sonnet-4",
            "claude-sonnet-4-5",
            "claude-sonnet-4-6",
            "claude-opus-4",
            "claude-opus-4-1",
            "claude-opus-4-5",
            "claude-opus-4-6",
            "claude-haiku-4-5",
        ] {
            assert!(table.lookup(id).is_some(), "{id} is not priced");
        }
    }

    #[test]
    fn synthetic_and_empty_are_free() {
        let table = PriceTable::embedded();
        let tokens = TokenCounts {
            input: 100,
            output: 100,
            ..TokenCounts::default()
        };
        assert_eq!(table.cost("<synthetic>", &tokens), Cost::Free);
        assert_eq!(table.cost("", &tokens), Cost::Free);
        assert_eq!(Cost::Free.usd(), Some(0.0));
    }

    #[test]
    fn unknown_and_ambiguous_models_are_unpriced() {
        let table = PriceTable::embedded();
        let tokens = TokenCounts {
            input: 100,
            ..TokenCounts::default()
        };
        for model in [
            "gpt-4o",
            "claude-opus-9",
            "sonnet",
            "opus",
            "haiku",
            "default",
        ] {
            assert_eq!(table.cost(model, &tokens), Cost::Unpriced, "{model}");
            assert!(table.lookup(model).is_none(), "{model}");
        }
        assert_eq!(Cost::Unpriced.usd(), None);
    }

    #[test]
    fn sonnet_4_5_hand_computed_cost() {
        let tokens = TokenCounts {
            input: 1_000,
            output: 2_000,
            cache_write_5m: 10_000,
            cache_write_1h: 20_000,
            cache_read: 100_000,
        };
        // 1,000 x $3 + 2,000 x $15 + 10,000 x $3.75 + 20,000 x $6 + 100,000 x $0.30
        // = 3,000 + 30,000 + 37,500 + 120,000 + 30,000 = 220,500 micro-dollars.
        let table = PriceTable::embedded();
        assert_usd(table.cost("claude-sonnet-4-5-20250929", &tokens), 0.2205);
        assert_usd(
            table.cost("us.anthropic.claude-sonnet-4-5-20250929-v1:0", &tokens),
            0.2205,
        );
    }

    #[test]
    fn sonnet_4_5_long_context_bills_whole_request_at_higher_rates() {
        let table = PriceTable::embedded();
        // Total input 200,010 > 200,000: every token at the long-context rates.
        let tokens = TokenCounts {
            input: 10,
            output: 1_000,
            cache_write_5m: 0,
            cache_write_1h: 0,
            cache_read: 200_000,
        };
        // 10 x $6 + 1,000 x $22.50 + 200,000 x $0.60 = 60 + 22,500 + 120,000
        assert_usd(table.cost("claude-sonnet-4-5", &tokens), 0.14256);

        // All five long-context rates, including both cache writes.
        let tokens = TokenCounts {
            input: 1_000,
            output: 2_000,
            cache_write_5m: 10_000,
            cache_write_1h: 20_000,
            cache_read: 200_000,
        };
        // 1,000 x 6 + 2,000 x 22.5 + 10,000 x 7.5 + 20,000 x 12 + 200,000 x 0.6
        // = 6,000 + 45,000 + 75,000 + 240,000 + 120,000 = 486,000
        assert_usd(table.cost("claude-sonnet-4-5", &tokens), 0.486);

        // Exactly 200,000 is not over the threshold: base rates.
        let tokens = TokenCounts {
            input: 0,
            output: 1_000,
            cache_write_5m: 0,
            cache_write_1h: 0,
            cache_read: 200_000,
        };
        // 1,000 x 15 + 200,000 x 0.3 = 15,000 + 60,000
        assert_usd(table.cost("claude-sonnet-4-5", &tokens), 0.075);
    }

    #[test]
    fn opus_4_5_has_no_long_context_tier() {
        let table = PriceTable::embedded();
        let price = table.lookup("claude-opus-4-5-20251101").expect("priced");
        assert!(price.long_context.is_none());
        let tokens = TokenCounts {
            input: 300_000,
            output: 1_000,
            ..TokenCounts::default()
        };
        // 300,000 x $5 + 1,000 x $25 = 1,500,000 + 25,000
        assert_usd(table.cost("claude-opus-4-5", &tokens), 1.525);
    }

    #[test]
    fn anchor_prices() {
        let table = PriceTable::embedded();
        let rates = |id: &str| {
            let p = table
                .lookup(id)
                .unwrap_or_else(|| panic!("{id} not priced"));
            [
                p.input,
                p.output,
                p.cache_write_5m,
                p.cache_write_1h,
                p.cache_read,
            ]
        };
        assert_eq!(rates("claude-opus-4"), [15.0, 75.0, 18.75, 30.0, 1.5]);
        assert_eq!(rates("claude-opus-4-1"), [15.0, 75.0, 18.75, 30.0, 1.5]);
        assert_eq!(rates("claude-opus-4-5"), [5.0, 25.0, 6.25, 10.0, 0.5]);
        assert_eq!(rates("claude-sonnet-4"), [3.0, 15.0, 3.75, 6.0, 0.3]);
        assert_eq!(rates("claude-sonnet-4-5"), [3.0, 15.0, 3.75, 6.0, 0.3]);
        assert_eq!(rates("claude-haiku-4-5"), [1.0, 5.0, 1.25, 2.0, 0.1]);
        assert_eq!(rates("claude-3-5-haiku"), [0.8, 4.0, 1.0, 1.6, 0.08]);
        for id in ["claude-sonnet-4", "claude-sonnet-4-5"] {
            let tier = table.lookup(id).unwrap().long_context.clone().unwrap();
            assert_eq!(tier.threshold_tokens, 200_000);
            assert_eq!(
                [
                    tier.input,
                    tier.output,
                    tier.cache_write_5m,
                    tier.cache_write_1h,
                    tier.cache_read
                ],
                [6.0, 22.5, 7.5, 12.0, 0.6]
            );
        }
    }

    #[test]
    fn every_model_has_sane_rates() {
        for (id, p) in PriceTable::embedded().models() {
            let mut sets = vec![(
                "base",
                [
                    p.input,
                    p.output,
                    p.cache_write_5m,
                    p.cache_write_1h,
                    p.cache_read,
                ],
            )];
            if let Some(t) = &p.long_context {
                assert!(t.threshold_tokens > 0, "{id}: zero threshold");
                sets.push((
                    "long_context",
                    [
                        t.input,
                        t.output,
                        t.cache_write_5m,
                        t.cache_write_1h,
                        t.cache_read,
                    ],
                ));
            }
            for (name, [input, output, w5, w1, read]) in sets {
                for (field, rate) in [
                    ("input", input),
                    ("output", output),
                    ("cache_write_5m", w5),
                    ("cache_write_1h", w1),
                    ("cache_read", read),
                ] {
                    assert!(
                        rate.is_finite() && rate > 0.0,
                        "{id} {name} {field} = {rate}"
                    );
                }
                assert!(w1 >= w5, "{id} {name}: 1h write {w1} < 5m write {w5}");
                assert!(
                    read < input,
                    "{id} {name}: cache read {read} >= input {input}"
                );
                assert!(
                    output > input,
                    "{id} {name}: output {output} <= input {input}"
                );
            }
            assert!(!p.source.trim().is_empty(), "{id}: no source");
        }
    }

    #[test]
    fn zero_tokens_cost_zero_dollars_for_priced_models() {
        let table = PriceTable::embedded();
        assert_usd(table.cost("claude-opus-4-6", &TokenCounts::default()), 0.0);
    }
}
