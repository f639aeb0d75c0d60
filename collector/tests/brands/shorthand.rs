//! Till shorthand and word-level rules: vowel-dropped brand names ("SFGRD"), initialisms that
//! need their brand's words ("LM", "GT"), context words in shorthand ("CHS", "LD"), words that
//! cancel a brand when they follow it ("century egg"), and one word that is two brands
//! ("Champion" detergent or cigarette).

use scout_collector::brands::Method;

use crate::{brand_of, matcher};

#[test]
fn vowel_dropped_names_are_read_when_one_brand_has_them() {
    for (text, brand) in [
        ("SFGRD PW 60G", "Safeguard"),
        ("SFGRD LEMON FRESH 130G", "Safeguard"),
        ("ALSKA EVAP 370ML", "Alaska"),
        ("KPK BRWN 3IN1 TWIN", "Kopiko"),
        ("GRT TST WHITE 30G", "Great Taste"),
        ("PLMLV SHMP 12ML", "Palmolive"),
        ("NSCF CLSSC 25G", "Nescafé"),
    ] {
        let d = matcher()
            .detect(text)
            .unwrap_or_else(|| panic!("{text}: nothing"));
        assert_eq!(d.brand.name, brand, "{text}");
        assert_eq!(d.method, Method::Fuzzy, "{text}");
        assert!(
            d.score < 0.9,
            "{text}: shorthand stays below an alias: {}",
            d.score
        );
    }
}

#[test]
fn short_or_real_words_are_not_shorthand() {
    // Store words, units and short tokens stay unknown.
    for text in [
        "yelo", "itlog", "bigas", "pandesal", "load 50", "PCS", "BTL 1L", "ASST", "TD 1KG", "SM",
        "MLK 1L", "pls po", "CRSP",
    ] {
        assert_eq!(brand_of(text), None, "{text}");
    }
}

#[test]
fn initialisms_need_the_brands_own_words() {
    for (text, brand) in [
        ("LM PCNT CNTN CHLMNSI 60G", "Lucky Me!"),
        ("LM BEEF MAMI 55G", "Lucky Me!"),
        ("GT WHITE 3IN1 TWIN", "Great Taste"),
        ("BB FORTIFIED 33G", "Bear Brand"),
        ("BB SWAK 33G", "Bear Brand"),
        ("H&S COOL MENTHOL 12ML", "Head & Shoulders"),
        ("DP VINEGAR 1L", "Datu Puti"),
        ("DP TOYO 350ML", "Datu Puti"),
        ("RH GRANDE 1L BEER", "Red Horse"),
    ] {
        let d = matcher()
            .detect(text)
            .unwrap_or_else(|| panic!("{text}: nothing"));
        assert_eq!(d.brand.name, brand, "{text}");
        assert_eq!(d.method, Method::Context, "{text}");
    }
    // Alone, or next to another brand's words, an initialism is nothing.
    for text in ["LM", "GT 2PCS", "BB", "DP", "H&S", "bb po", "gt po isa"] {
        assert_eq!(brand_of(text), None, "{text}");
    }
    // "LM" is also L&M cigarettes: the context decides.
    assert_eq!(brand_of("LM RED 20S KAHA").as_deref(), Some("L&M"));
    assert_eq!(brand_of("L&M RED 20S").as_deref(), Some("L&M"));
}

#[test]
fn context_words_count_in_shorthand() {
    for (text, brand) in [
        ("EDEN CHS 45G", "Eden"),
        ("SMART LD 100", "Smart"),
        ("SMART TXT 20", "Smart"),
        ("LIBERTY COND 300ML", "Liberty"),
        ("JOY DSHWSHNG 20ML", "Joy"),
    ] {
        let d = matcher()
            .detect(text)
            .unwrap_or_else(|| panic!("{text}: nothing"));
        assert_eq!(d.brand.name, brand, "{text}");
        assert_eq!(d.method, Method::Context, "{text}");
    }
    // Shorthand of another brand's words does not confirm.
    assert_eq!(brand_of("EDEN LD 45G"), None);
    assert_eq!(brand_of("SMART CHS"), None);
}

#[test]
fn a_following_word_can_say_it_is_not_the_brand() {
    for text in [
        "century egg",
        "CENTURY EGG 1PC",
        "isang century egg po",
        "centuri egg",
    ] {
        assert_eq!(brand_of(text), None, "{text}");
    }
    for text in [
        "isang Century",
        "century tuna po",
        "CENTURY TUNA FLAKES IN OIL 155G",
        "century po tsaka itlog",
    ] {
        assert_eq!(brand_of(text).as_deref(), Some("Century Tuna"), "{text}");
    }
}

#[test]
fn champion_is_laundry_or_tobacco_by_context() {
    for text in [
        "Champion Menthol sigarilyo",
        "champion po isang kaha",
        "CHAMPION LIGHTS 20S",
        "yosi champion isa",
    ] {
        assert_eq!(
            brand_of(text).as_deref(),
            Some("Champion (cigarettes)"),
            "{text}"
        );
    }
    for text in [
        "Champion Detergent Bar 390g",
        "champion po na bareta",
        "CHAMPION SUPRA 70G",
        "champion powder sachet",
    ] {
        assert_eq!(brand_of(text).as_deref(), Some("Champion"), "{text}");
    }
    assert_eq!(brand_of("champion"), None);
    // A brand field that says exactly "Champion" is the detergent brand of that name.
    let d = matcher().detect_item(Some("Champion"), None).unwrap();
    assert_eq!(d.brand.name, "Champion");
}

#[test]
fn local_brands_are_known() {
    for (text, brand) in [
        ("Young's Town Sardines 155g", "Young's Town"),
        ("Liberty Condensada 300ml", "Liberty"),
        ("Magic Flakes 28g", "Magic Flakes"),
        ("choc nut 24s", "Choc Nut"),
        ("Hany Milk Chocolate", "Hany"),
        ("Eight O'Clock Orange 25g", "Eight O'Clock"),
        ("8 oclock mango po", "Eight O'Clock"),
        ("Petron Gasul 11kg", "Petron Gasul"),
        ("Petron LPG 11kg refill", "Petron Gasul"),
        ("Dona Maria Jasponica 5kg", "Doña Maria"),
        ("Charmee Pantyliner 20s", "Charmee"),
        ("Rufina Patis 350ml", "Rufina"),
        ("Delimondo Corned Beef 380g", "Delimondo"),
    ] {
        assert_eq!(brand_of(text).as_deref(), Some(brand), "{text}");
    }
    // Charmee is not a misspelt Carefree, and "liberty" alone is not milk.
    assert_ne!(brand_of("charmee").as_deref(), Some("Carefree"));
    assert_eq!(brand_of("liberty"), None);
    // "Gasul" is what people call any LPG tank.
    assert_eq!(brand_of("gasul po pa refill"), None);
}
