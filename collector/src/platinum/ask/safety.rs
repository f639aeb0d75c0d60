//! Questions refused before any reading: asking to change data, to reveal secrets or tables
//! outside the catalogue, or carrying SQL. A refusal names its reason; nothing of the question
//! ever reaches SQL text in any case (plans bind values), so this is the polite first wall.

use super::tokenizer::tokens;

/// Characters and sequences that belong to SQL, not to a question.
const SQL_MARKS: &[&str] = &[
    ";", "--", "/*", "*/", "`", "\"", "=", "<>", "||", "\\", "0x",
];
/// Words that ask for a change.
const WRITES: &[&str] = &[
    "delete",
    "drop",
    "update",
    "insert",
    "truncate",
    "alter",
    "create",
    "grant",
    "revoke",
    "remove",
    "erase",
    "modify",
    "overwrite",
    "replace",
    "burahin",
    "bura",
    "burahin",
    "tanggalin",
    "alisin",
    "baguhin",
    "palitan",
    "i-delete",
    "idelete",
    "i-update",
    "iupdate",
    "wipe",
    "reset",
    "exec",
    "execute",
    "vacuum",
    "attach",
    "pragma",
];
/// Words that reach for what the catalogue does not hold.
const SECRETS: &[&str] = &[
    "token",
    "tokens",
    "secret",
    "secrets",
    "password",
    "passwords",
    "passwd",
    "key",
    "keys",
    "credential",
    "credentials",
    "hash",
    "hashes",
    "api_key",
    "apikey",
    "susi",
    "bronze",
    "metadata",
    "audit",
    "schema",
    "schemas",
    "table",
    "tables",
    "information_schema",
    "pg_catalog",
    "sqlite_master",
    "pg_user",
    "pg_shadow",
    "admin",
    "sql",
    "database",
];
/// Words that, together, are SQL.
const SQL_WORDS: &[&str] = &["select", "union", "from", "where", "join", "into", "values"];

/// Why a question is refused, if it is.
pub fn refusal(question: &str) -> Option<String> {
    let lower = question.to_lowercase();
    if let Some(mark) = SQL_MARKS.iter().find(|m| lower.contains(**m)) {
        return Some(format!(
            "refused: the question contains SQL syntax ({mark:?})"
        ));
    }
    let words = tokens(&lower);
    if let Some(w) = words.iter().find(|w| WRITES.contains(&w.as_str())) {
        return Some(format!(
            "refused: questions can only read sales figures, never change data ({w:?})"
        ));
    }
    if let Some(w) = words.iter().find(|w| SECRETS.contains(&w.as_str())) {
        return Some(format!(
            "refused: only sales figures can be asked about, not {w:?}"
        ));
    }
    let sql: Vec<&String> = words
        .iter()
        .filter(|w| SQL_WORDS.contains(&w.as_str()))
        .collect();
    if words.iter().any(|w| w == "select" || w == "union") || sql.len() >= 3 {
        return Some("refused: the question reads as SQL".to_owned());
    }
    if lower.contains('\'') && words.iter().any(|w| w == "or" || w == "and") {
        let quotes = lower.matches('\'').count();
        if quotes >= 2 {
            return Some("refused: quoted text in a question is not allowed".to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::refusal;

    #[test]
    fn hostile_questions_are_refused_and_plain_ones_pass() {
        for q in [
            "delete all sales yesterday",
            "burahin ang benta kahapon",
            "sales; DROP TABLE silver.transactions_cleaned",
            "revenue -- comment",
            "show device tokens",
            "what is the admin password",
            "revenue by store union select token_hash from devices",
            "sales where store = 1",
            "ipakita ang bronze",
        ] {
            assert!(refusal(q).is_some(), "{q}");
        }
        for q in [
            "which brand sold best in store 102 last Saturday?",
            "ilang piraso ng Bear Brand ang nabenta nitong Sabado?",
            "what's the revenue per store's daypart",
        ] {
            assert_eq!(refusal(q), None, "{q}");
        }
    }
}
