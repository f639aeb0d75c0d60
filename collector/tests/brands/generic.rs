//! Everyday product words are not brands: a generic item ("bagoong alamang", "facial cleanser")
//! must stay unknown rather than be counted as a look-alike brand's sale, while real misspellings
//! of brand names still fuzzy-match.

use scout_collector::brands::Method;

use crate::{brand_of, matcher};

#[test]
fn generic_product_names_stay_unknown() {
    for text in [
        "bagoong alamang 1/4",
        "Barrio Fiesta Bagoong",
        "powdered milk tingi",
        "Juicy Lemon Powdered Drink",
        "cheesecake slice",
        "chz stick",
        "facial cleanser",
        "Eskinol Facial Cleanser",
        "Quake Overload",
        "patis 350ml",
        "toyo at suka",
        "chocolate cake slice",
        "vanilla ice cream cup",
        "strawberry jam",
        "corned beef 150g",
        "sardinas sa kamatis",
        "iodized salt 1kg",
        "brown sugar 1/4",
        "cooking oil 1/2 litro",
        "powdered juice orange",
        "bath soap bar",
        "shampoo sachet",
        "dishwashing paste",
        "gasul refill",
        "lpg tank refill",
        "saba banana",
        "happy birthday cake",
        "hotdog bun",
        "cheese sticks",
        "potato chips big",
        "mosquito coil",
    ] {
        let all = matcher().detect_all(text);
        assert!(
            all.is_empty(),
            "{text:?} should be unknown, got {:?}",
            all.iter()
                .map(|d| (&d.brand.name, d.method, &d.matched))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn misspelled_brand_names_still_fuzzy_match() {
    for (text, want) in [
        ("safegaurd", "Safeguard"),
        ("safegard", "Safeguard"),
        ("colgte", "Colgate"),
        ("marlbro", "Marlboro"),
        ("knor", "Knorr"),
        ("tayd", "Tide"),
        ("lemon sqaure cheesecake", "Lemon Square"),
        ("palmoliv shampoo", "Palmolive"),
    ] {
        assert_eq!(brand_of(text).as_deref(), Some(want), "{text:?}");
    }
    let d = matcher().detect("colgte").unwrap();
    assert_eq!(d.method, Method::Fuzzy);
}

#[test]
fn a_brand_that_starts_like_another_is_not_taken_for_it() {
    assert_eq!(brand_of("Pall Mall").as_deref(), Some("Pall Mall"));
    assert_eq!(brand_of("Goya").as_deref(), Some("Goya"));
    assert_eq!(brand_of("Saba sardines").as_deref(), Some("Saba"));
    assert_eq!(
        brand_of("Highlands corned beef").as_deref(),
        Some("Highlands")
    );
    assert_eq!(brand_of("happy toothpaste").as_deref(), Some("Hapee"));
    // "Tang" alone is also a Tagalog word ("ang tang ng panahon"): a drink word is needed.
    assert_eq!(brand_of("Tang"), None);
    assert_eq!(brand_of("Tang orange").as_deref(), Some("Tang"));
}
