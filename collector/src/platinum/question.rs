//! A question, end to end: refused, asked back about, or read into a plan and answered. Every
//! outcome is audited in `metadata.ai_sql_audit` (a refusal or a clarification as the error).

use std::time::Instant;

use chrono::NaiveDate;
use serde::Serialize;

use super::ask::{Reading, products_note, read, read_with_products};
use super::dates::manila_today;
use super::execute::{Answer, AnswerError, Engine, STATEMENT_TIMEOUT};
use crate::store::{Arg, ReadLimits};

/// What a question got.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Answered {
        #[serde(flatten)]
        answer: Box<Answer>,
        /// How words were taken (defaults, corrected spellings).
        notes: Vec<String>,
    },
    Clarify {
        clarification: String,
        suggestions: Vec<String>,
    },
    Refused {
        refused: String,
    },
}

/// Filipino product words and the English that product names are usually written in.
const PRODUCT_WORDS: [(&str, &str); 16] = [
    ("sardinas", "sardine"),
    ("tinapay", "bread"),
    ("itlog", "egg"),
    ("bigas", "rice"),
    ("yelo", "ice"),
    ("sabon", "soap"),
    ("asukal", "sugar"),
    ("asin", "salt"),
    ("mantika", "oil"),
    ("suka", "vinegar"),
    ("toyo", "soy sauce"),
    ("serbesa", "beer"),
    ("tubig", "water"),
    ("kandila", "candle"),
    ("posporo", "match"),
    ("panghugas", "dishwashing"),
];

/// The shortest word looked for in product names: shorter ones match too much by chance.
const MIN_PRODUCT_WORD: usize = 4;

impl Engine {
    /// Each of `words` with the word silver's product names hold for it (itself, or the
    /// English of a Filipino product word: `sardinas` → `sardine`), if every one is found.
    async fn product_words(
        &self,
        words: &[String],
    ) -> Result<Option<Vec<(String, String)>>, AnswerError> {
        let limits = ReadLimits {
            timeout: STATEMENT_TIMEOUT,
            max_rows: 1,
        };
        let mut found = Vec::new();
        for word in words {
            let word = word.to_lowercase();
            if word.chars().count() < MIN_PRODUCT_WORD || !word.chars().all(char::is_alphanumeric) {
                return Ok(None);
            }
            let english = PRODUCT_WORDS
                .iter()
                .find(|(tl, _)| *tl == word)
                .map(|(_, en)| (*en).to_owned());
            let mut named = None;
            for candidate in std::iter::once(word.clone()).chain(english) {
                let pattern = format!("%{candidate}%");
                let rows = self
                    .store()
                    .read_only_query(
                        "SELECT 1 FROM silver.transactions_cleaned \
                         WHERE lower(product_name) LIKE $1 LIMIT 1",
                        &[Arg::from(pattern.as_str())],
                        limits,
                    )
                    .await?;
                if !rows.is_empty() {
                    named = Some(candidate);
                    break;
                }
            }
            match named {
                Some(n) => found.push((word, n)),
                None => return Ok(None),
            }
        }
        Ok(Some(found))
    }

    /// Reads `question` (as of `as_of`, default today in Manila) and answers it.
    pub async fn ask(
        &self,
        question: &str,
        as_of: Option<NaiveDate>,
    ) -> Result<Outcome, AnswerError> {
        let started = Instant::now();
        let as_of = as_of.unwrap_or_else(manila_today);
        let mut reading = read(question, as_of, self.brands());
        if let Reading::Clarify { unknown, .. } = &reading
            && !unknown.is_empty()
            && let Some(products) = self.product_words(unknown).await?
        {
            reading = read_with_products(question, as_of, self.brands(), &products);
        }
        match reading {
            Reading::Plan {
                mut plan,
                mut notes,
                product_hints,
            } => {
                // "Coke Mismo": the brand's product so named, when silver has one.
                if plan.filters.products.is_empty()
                    && !product_hints.is_empty()
                    && let Some(found) = self.product_words(&product_hints).await?
                {
                    let named: Vec<String> = found.into_iter().map(|(_, n)| n).collect();
                    notes.push(products_note(&named));
                    plan.filters.products = named;
                }
                let answer = self.answer(&plan, Some(question)).await?;
                Ok(Outcome::Answered {
                    answer: Box::new(answer),
                    notes,
                })
            }
            Reading::Clarify {
                clarification,
                suggestions,
                ..
            } => {
                let why = format!("clarification: {clarification}");
                self.audit_refusal(question, &why, started.elapsed()).await;
                Ok(Outcome::Clarify {
                    clarification,
                    suggestions,
                })
            }
            Reading::Refused { reason } => {
                self.audit_refusal(question, &reason, started.elapsed())
                    .await;
                Ok(Outcome::Refused { refused: reason })
            }
        }
    }
}
