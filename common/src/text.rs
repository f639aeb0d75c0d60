//! Bounding free text that travels in answers and logs (a rejection's reason, a refusal's
//! message), so a hostile value cannot make them large.

/// Cuts `text` to at most `max_bytes` bytes on a character boundary, ending in `…` when
/// anything was cut, and frees the rest.
pub fn clip(text: &mut String, max_bytes: usize) {
    if text.len() <= max_bytes {
        return;
    }
    let end = text.floor_char_boundary(max_bytes.saturating_sub('…'.len_utf8()));
    text.truncate(end);
    text.push('…');
    text.shrink_to_fit();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_on_a_character_boundary_within_the_bound() {
        let mut short = "piso".to_owned();
        clip(&mut short, 10);
        assert_eq!(short, "piso");
        // "₱" is three bytes: a cut inside it backs off to the boundary before it.
        let mut money = "₱₱₱₱".to_owned();
        clip(&mut money, 8);
        assert_eq!(money, "₱…");
        assert!(money.len() <= 8);
    }
}
