//! The fixed category vocabulary of the brand dictionary: the shelves of a sari-sari store. A
//! brand has exactly one; silver's `product_category` is its name.

use std::fmt;

use serde::Serialize;

/// A store category. The names are what silver and gold store; the first nineteen are the
/// original vocabulary and keep their spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Category {
    /// Soft drinks, water, ready-to-drink tea, energy and sports drinks.
    Beverages,
    /// Juice drinks, powdered juice, powdered chocolate and malt drinks.
    #[serde(rename = "Juices & Powdered Drinks")]
    JuicesPowderedDrinks,
    Coffee,
    /// Milk (powdered, evaporated, condensed, fresh, ready-to-drink), cream, cheese, formula.
    Dairy,
    #[serde(rename = "Ice Cream")]
    IceCream,
    /// Loaf bread, snack cakes, margarine, cheese spread, peanut butter.
    #[serde(rename = "Bread & Spreads")]
    BreadSpreads,
    /// Biscuits, crackers, cookies, wafers.
    Biscuits,
    /// Candies, gum, chocolates.
    Candies,
    Snacks,
    /// Instant noodles (pancit canton, cup noodles, ramyun).
    #[serde(rename = "Instant Noodles")]
    InstantNoodles,
    #[serde(rename = "Canned Goods")]
    CannedGoods,
    /// Soy sauce, vinegar, fish sauce, ketchup, mayonnaise, sauces.
    Condiments,
    /// Seasonings, flavour mixes, breading.
    #[serde(rename = "Cooking Essentials")]
    CookingEssentials,
    #[serde(rename = "Cooking Oil")]
    CookingOil,
    /// Rice, flour, pasta, baking and pancake mixes, oats.
    #[serde(rename = "Rice & Flour")]
    RiceFlour,
    /// Hotdogs, tocino, longganisa, chicken, nuggets, ham.
    #[serde(rename = "Frozen Goods")]
    FrozenGoods,
    #[serde(rename = "Personal Care")]
    PersonalCare,
    #[serde(rename = "Oral Care")]
    OralCare,
    #[serde(rename = "Hair Care")]
    HairCare,
    #[serde(rename = "Baby Care")]
    BabyCare,
    #[serde(rename = "Feminine Care")]
    FeminineCare,
    Laundry,
    Household,
    Tobacco,
    Alcohol,
    #[serde(rename = "Telco Load")]
    TelcoLoad,
    Medicine,
    /// Not a shelf: the category of a company-level detection when the company sells in
    /// several categories. Never a brand's category, not in [`Category::ALL`], never parsed.
    Unknown,
}

impl Category {
    /// Every category a brand can have, in the dictionary's order.
    pub const ALL: [Category; 27] = [
        Category::Beverages,
        Category::JuicesPowderedDrinks,
        Category::Coffee,
        Category::Dairy,
        Category::IceCream,
        Category::BreadSpreads,
        Category::Biscuits,
        Category::Candies,
        Category::Snacks,
        Category::InstantNoodles,
        Category::CannedGoods,
        Category::Condiments,
        Category::CookingEssentials,
        Category::CookingOil,
        Category::RiceFlour,
        Category::FrozenGoods,
        Category::PersonalCare,
        Category::OralCare,
        Category::HairCare,
        Category::BabyCare,
        Category::FeminineCare,
        Category::Laundry,
        Category::Household,
        Category::Tobacco,
        Category::Alcohol,
        Category::TelcoLoad,
        Category::Medicine,
    ];

    /// The category's name as written in the dictionary and in silver.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Beverages => "Beverages",
            Category::JuicesPowderedDrinks => "Juices & Powdered Drinks",
            Category::Coffee => "Coffee",
            Category::Dairy => "Dairy",
            Category::IceCream => "Ice Cream",
            Category::BreadSpreads => "Bread & Spreads",
            Category::Biscuits => "Biscuits",
            Category::Candies => "Candies",
            Category::Snacks => "Snacks",
            Category::InstantNoodles => "Instant Noodles",
            Category::CannedGoods => "Canned Goods",
            Category::Condiments => "Condiments",
            Category::CookingEssentials => "Cooking Essentials",
            Category::CookingOil => "Cooking Oil",
            Category::RiceFlour => "Rice & Flour",
            Category::FrozenGoods => "Frozen Goods",
            Category::PersonalCare => "Personal Care",
            Category::OralCare => "Oral Care",
            Category::HairCare => "Hair Care",
            Category::BabyCare => "Baby Care",
            Category::FeminineCare => "Feminine Care",
            Category::Laundry => "Laundry",
            Category::Household => "Household",
            Category::Tobacco => "Tobacco",
            Category::Alcohol => "Alcohol",
            Category::TelcoLoad => "Telco Load",
            Category::Medicine => "Medicine",
            Category::Unknown => "Unknown",
        }
    }

    /// Parses a category name, ignoring case, spacing and "&" against "and" ("instant noodles",
    /// "TelcoLoad", "bread and spreads"). `Unknown` is not a category to parse.
    pub fn parse(s: &str) -> Option<Category> {
        let squash = |s: &str| -> String {
            s.replace('&', " and ")
                .chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect()
        };
        let want = squash(s);
        Category::ALL
            .into_iter()
            .find(|c| squash(c.as_str()) == want)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_parse_loosely() {
        assert_eq!(
            Category::parse("instant noodles"),
            Some(Category::InstantNoodles)
        );
        assert_eq!(Category::parse("TelcoLoad"), Some(Category::TelcoLoad));
        assert_eq!(
            Category::parse("bread and spreads"),
            Some(Category::BreadSpreads)
        );
        assert_eq!(
            Category::parse("Juices & Powdered Drinks"),
            Some(Category::JuicesPowderedDrinks)
        );
        assert_eq!(Category::parse("Drinks"), None);
        assert_eq!(Category::parse("Unknown"), None);
    }

    #[test]
    fn names_round_trip_and_match_serde() {
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Some(c));
            assert_eq!(
                serde_json::to_value(c).unwrap(),
                serde_json::Value::from(c.as_str())
            );
        }
        assert_eq!(
            serde_json::to_value(Category::Unknown).unwrap(),
            serde_json::Value::from("Unknown")
        );
    }
}
