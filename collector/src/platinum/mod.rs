//! Platinum: questions about the medallion tables answered safely. What enters is a [`Plan`]
//! (the contract: intent, dimensions, measures, filters, sort, limit, `as_of`); what leaves is
//! an [`Answer`] that carries the plan it answered, the SQL it ran and the rows.
//!
//! Guarantees:
//! - SQL is generated only from a validated plan and the [`catalogue`]: identifiers are fixed
//!   expressions, every caller value is a bound parameter, every query has a `LIMIT` ≤ 10,000.
//! - The query runs read-only (`Store::read_only_query`: a `READ ONLY` transaction with a
//!   statement timeout on PostgreSQL, a read-only connection with a time limit on SQLite).
//! - The smallest table that can answer is used: gold when its grain allows, silver otherwise.
//! - Every call is audited in `metadata.ai_sql_audit`; answers are cached for five minutes,
//!   keyed by the plan and the data's version.

pub mod ask;
pub mod catalogue;
pub mod crosstab;
pub mod dates;
pub mod execute;
pub mod generate;
pub mod plan;
pub mod print;
pub mod question;
pub mod reading;

pub use ask::{Reading, read};
pub use catalogue::Source;
pub use crosstab::Crosstab;
pub use dates::{Period, manila_today};
pub use execute::{Answer, AnswerError, Engine};
pub use plan::{Dimension, Filters, Intent, Measure, Plan, PlanError, Sort, SortKey};
pub use question::Outcome;
