//! One way to run a statement on either backend: SQL is written once, in PostgreSQL's spelling
//! (`$1` placeholders, `schema.table` names, `::type` casts), values travel as [`Arg`]s and come
//! back through [`Row`]'s typed getters. On SQLite, [`sqlite_text`] rewrites the text
//! (`?1`, `schema_table`, casts dropped) and the `sqlite` module encodes times and dates as the
//! text it stores. This file holds the types; `backend.rs` runs them on the backend at hand.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{ColumnIndex, PgPool, Postgres, Sqlite, SqlitePool};

/// A value bound to a statement. `None` is SQL NULL of the variant's type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arg<'a> {
    Text(Option<&'a str>),
    /// JSON text (`jsonb` on PostgreSQL, text on SQLite).
    Json(Option<&'a str>),
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(bool),
    Time(Option<DateTime<Utc>>),
    Date(NaiveDate),
    /// An exact amount in centavos: `numeric` pesos on PostgreSQL, REAL pesos on SQLite.
    Centavos(Option<i64>),
    /// A list of ids, for `= ANY($n)` (an `int8[]` on PostgreSQL, a JSON array on SQLite).
    Ids(&'a [i64]),
}

impl<'a> Arg<'a> {
    pub fn json(text: &'a str) -> Self {
        Self::Json(Some(text))
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Self::Text(Some(v))
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Self::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Self::Text(v)
    }
}

impl<'a> From<&'a [i64]> for Arg<'a> {
    fn from(v: &'a [i64]) -> Self {
        Self::Ids(v)
    }
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}

impl From<i32> for Arg<'_> {
    fn from(v: i32) -> Self {
        Self::Int(Some(i64::from(v)))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Self::Int(v)
    }
}

impl From<f64> for Arg<'_> {
    fn from(v: f64) -> Self {
        Self::Float(Some(v))
    }
}

impl From<Option<f64>> for Arg<'_> {
    fn from(v: Option<f64>) -> Self {
        Self::Float(v)
    }
}

impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}

impl From<DateTime<Utc>> for Arg<'_> {
    fn from(v: DateTime<Utc>) -> Self {
        Self::Time(Some(v))
    }
}

impl From<Option<DateTime<Utc>>> for Arg<'_> {
    fn from(v: Option<DateTime<Utc>>) -> Self {
        Self::Time(v)
    }
}

impl From<NaiveDate> for Arg<'_> {
    fn from(v: NaiveDate) -> Self {
        Self::Date(v)
    }
}

/// Implements `sqlx::Type` and `sqlx::Encode` of [`Arg`] for one backend: text, JSON, numbers
/// and booleans bind as themselves, and each backend says how it binds a time, a date, an
/// amount in centavos and an id list (each expression sees the variant's value as `v`), and
/// optionally the type it names for each variant (`produces`).
macro_rules! encode_arg {
    (
        $db:ty, $buf:ty, $info:ty,
        time: |$t:ident| $time:expr,
        date: |$d:ident| $date:expr,
        centavos: |$c:ident| $cents:expr,
        ids: |$i:ident| $ids:expr
        $(, produces: $produces:path)? $(,)?
    ) => {
        impl sqlx::Type<$db> for $crate::store::Arg<'_> {
            fn type_info() -> $info {
                <&str as sqlx::Type<$db>>::type_info()
            }

            fn compatible(_: &$info) -> bool {
                true
            }
        }

        impl sqlx::Encode<'_, $db> for $crate::store::Arg<'_> {
            fn encode_by_ref(
                &self,
                buf: &mut $buf,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                fn put<'q, T: sqlx::Encode<'q, $db>>(
                    value: T,
                    buf: &mut $buf,
                ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                    value.encode(buf)
                }
                use $crate::store::Arg;
                match *self {
                    Arg::Text(v) | Arg::Json(v) => put(v, buf),
                    Arg::Int(v) => put(v, buf),
                    Arg::Float(v) => put(v, buf),
                    Arg::Bool(v) => put(v, buf),
                    Arg::Time($t) => put($time, buf),
                    Arg::Date($d) => put($date, buf),
                    Arg::Centavos($c) => put($cents, buf),
                    Arg::Ids($i) => put($ids, buf),
                }
            }

            $(
                fn produces(&self) -> Option<$info> {
                    Some($produces(self))
                }
            )?
        }
    };
}
pub(super) use encode_arg;

/// A row a table stores, described once: its table (PostgreSQL's name), its columns and, in
/// the same order, its values. Both backends' bulk writers work from this alone (`COPY` on
/// PostgreSQL, multi-row `INSERT` on SQLite), so a new column is one more name and one more
/// value here, plus the two migrations.
pub trait Record: Sync {
    const TABLE: &'static str;
    const COLUMNS: &'static [&'static str];
    /// Appends this row's values, one per column.
    fn values<'a>(&'a self, out: &mut Vec<Arg<'a>>);
}

/// An `INSERT` of one row that, when a row with the same `key` exists, updates it instead: every
/// column but the key and those in `keep` takes the new row's value. Values are bound as `$1`,
/// `$2`, … in the order of `columns`; those in `json` are cast to `jsonb`.
pub struct Upsert {
    pub table: &'static str,
    pub key: &'static str,
    pub columns: &'static [&'static str],
    pub json: &'static [&'static str],
    pub keep: &'static [&'static str],
}

impl Upsert {
    pub fn sql(&self) -> String {
        let values: Vec<String> = (1..)
            .zip(self.columns)
            .map(|(n, c)| match self.json.contains(c) {
                true => format!("${n}::jsonb"),
                false => format!("${n}"),
            })
            .collect();
        let set: Vec<String> = self
            .columns
            .iter()
            .filter(|c| **c != self.key && !self.keep.contains(c))
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        format!(
            "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}",
            self.table,
            self.columns.join(", "),
            values.join(", "),
            self.key,
            set.join(", ")
        )
    }
}

/// Rewrites PostgreSQL-spelled SQL for SQLite: `$N` becomes `?N`, `= ANY($N)` becomes
/// `IN (SELECT value FROM json_each(?N))` (an [`Arg::Ids`] list), a layer-qualified name
/// (`bronze.x`, `silver.x`, …) becomes `layer_x`, and `::type` casts are dropped. String
/// literals and quoted identifiers are left as they are.
pub fn sqlite_text(sql: &str) -> String {
    const LAYERS: [&str; 8] = [
        "bronze", "silver", "gold", "scout", "metadata", "staging", "platinum", "archive",
    ];
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    let mut previous: Option<char> = None;
    while let Some(c) = rest.chars().next() {
        // Literals and quoted identifiers: copied through to their closing quote.
        if c == '\'' || c == '"' {
            let end = rest[1..].find(c).map_or(rest.len(), |i| i + 2);
            out.push_str(&rest[..end]);
            rest = &rest[end..];
            previous = Some(c);
            continue;
        }
        if let Some(list) = rest.strip_prefix("= ANY($") {
            let digits = list
                .find(|d: char| !d.is_ascii_digit())
                .unwrap_or(list.len());
            if digits > 0 && list[digits..].starts_with(')') {
                out.push_str("IN (SELECT value FROM json_each(?");
                out.push_str(&list[..digits]);
                out.push_str("))");
                rest = &list[digits + 1..];
                previous = Some(')');
                continue;
            }
        }
        if c == '$' && rest[1..].starts_with(|d: char| d.is_ascii_digit()) {
            out.push('?');
            rest = &rest[1..];
            previous = Some('?');
            continue;
        }
        if let Some(cast) = rest.strip_prefix("::") {
            let name = cast.find(|d: char| !ident(d)).unwrap_or(cast.len());
            let mut tail = &cast[name..];
            if tail.starts_with('(') {
                tail = tail.find(')').map_or("", |i| &tail[i + 1..]);
            }
            tail = tail.strip_prefix("[]").unwrap_or(tail);
            rest = tail;
            continue;
        }
        if !previous.is_some_and(ident) && c.is_ascii_alphabetic() {
            let word = rest.find(|d: char| !ident(d)).unwrap_or(rest.len());
            let (name, after) = rest.split_at(word);
            if LAYERS.contains(&name) && after.starts_with('.') && after[1..].starts_with(ident) {
                out.push_str(name);
                out.push('_');
                rest = &after[1..];
            } else {
                out.push_str(name);
                rest = after;
            }
            previous = name.chars().last();
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
        previous = Some(c);
    }
    out
}

/// A row from either backend, read through typed getters that know each backend's encoding.
#[derive(Debug)]
pub enum Row {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

/// A column by position or name.
pub trait Column: ColumnIndex<SqliteRow> + ColumnIndex<PgRow> + Copy {}
impl<T: ColumnIndex<SqliteRow> + ColumnIndex<PgRow> + Copy> Column for T {}

/// A (business day, store) partition.
pub type Partition = (NaiveDate, String);

/// Which pending bronze rows or queued partitions a stage batch claims.
#[derive(Debug, Clone, Copy)]
pub enum Claim<'a, K> {
    /// The first in key order, up to this many.
    Next(i64),
    /// These, as far as they are still pending (and, on PostgreSQL, not held by another worker).
    Only(&'a [K]),
}

/// A pool of either backend.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An open transaction of either backend.
#[derive(Debug)]
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

#[cfg(test)]
mod tests {
    use super::{Upsert, sqlite_text};

    #[test]
    fn an_upsert_updates_all_but_its_key_and_kept_columns() {
        let upsert = Upsert {
            table: "staging.t",
            key: "k",
            columns: &["k", "a", "doc", "first_at", "b"],
            json: &["doc"],
            keep: &["first_at"],
        };
        assert_eq!(
            upsert.sql(),
            "INSERT INTO staging.t (k, a, doc, first_at, b) VALUES ($1, $2, $3::jsonb, $4, $5) \
             ON CONFLICT (k) DO UPDATE SET a = excluded.a, doc = excluded.doc, b = excluded.b"
        );
    }

    #[test]
    fn postgres_spelling_becomes_sqlite_spelling() {
        assert_eq!(
            sqlite_text(
                "INSERT INTO metadata.gold_pending (d) SELECT $1::date, $2::numeric(14, 2), \
                 x.meta FROM bronze.raw_transactions x WHERE x.tags = $10::text[] \
                 AND x.id = ANY($3)"
            ),
            "INSERT INTO metadata_gold_pending (d) SELECT ?1, ?2, \
             x.meta FROM bronze_raw_transactions x WHERE x.tags = ?10 \
             AND x.id IN (SELECT value FROM json_each(?3))"
        );
    }

    #[test]
    fn literals_quoted_names_and_other_dots_are_left_alone() {
        let sql = "SELECT 'bronze.x $1 ::text', \"gold.y\", g.metadata, processing_metadata.a, \
                   json_extract(v, '$[0]') FROM scout.scout_gold_transactions g";
        assert_eq!(
            sqlite_text(sql),
            "SELECT 'bronze.x $1 ::text', \"gold.y\", g.metadata, processing_metadata.a, \
             json_extract(v, '$[0]') FROM scout_scout_gold_transactions g"
        );
    }
}
