//! Splitting a question into lower-case tokens: words (inner hyphens and apostrophes kept, so
//! "araw-araw", "cross-tab" and "store's" stay one token), numbers and ISO dates.

/// The question's tokens, in order.
pub fn tokens(question: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = question.chars().peekable();
    while let Some(c) = chars.next() {
        let inner = (c == '-' || c == '\'' || c == '’')
            && !current.is_empty()
            && chars.peek().is_some_and(|n| n.is_alphanumeric());
        // "55+": an age bracket open at the top.
        let plus = c == '+' && !current.is_empty() && current.chars().all(|d| d.is_ascii_digit());
        if c.is_alphanumeric() || inner || plus {
            let c = if c == '’' { '\'' } else { c };
            current.extend(c.to_lowercase());
        } else {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            // "% of sales": the sign is a word.
            if c == '%' {
                out.push("%".to_owned());
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::tokens;

    #[test]
    fn words_numbers_and_dates() {
        assert_eq!(
            tokens("Kita ng bawat tindahan, araw-araw? Top-5 from 2026-11-01 (store #102)"),
            [
                "kita",
                "ng",
                "bawat",
                "tindahan",
                "araw-araw",
                "top-5",
                "from",
                "2026-11-01",
                "store",
                "102"
            ]
        );
        assert_eq!(tokens("  "), Vec::<String>::new());
        assert_eq!(tokens("GCash vs cash’s"), ["gcash", "vs", "cash's"]);
    }
}
