//! A question, end to end: refused, asked back about, or read into a plan and answered. Every
//! outcome is audited in `metadata.ai_sql_audit` (a refusal or a clarification as the error).

use std::time::Instant;

use chrono::NaiveDate;
use serde::Serialize;

use super::ask::{Reading, read};
use super::dates::manila_today;
use super::execute::{Answer, AnswerError, Engine};

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

impl Engine {
    /// Reads `question` (as of `as_of`, default today in Manila) and answers it.
    pub async fn ask(
        &self,
        question: &str,
        as_of: Option<NaiveDate>,
    ) -> Result<Outcome, AnswerError> {
        let started = Instant::now();
        let as_of = as_of.unwrap_or_else(manila_today);
        match read(question, as_of, self.brands()) {
            Reading::Plan { plan, notes } => {
                let answer = self.answer(&plan, Some(question)).await?;
                Ok(Outcome::Answered {
                    answer: Box::new(answer),
                    notes,
                })
            }
            Reading::Clarify {
                clarification,
                suggestions,
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
