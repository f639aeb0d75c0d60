//! Brand detection over a whole transaction: every item (its brand field, then its product
//! name), the explicit mentions and the transcript, with the device's own `detectedBrands` as
//! evidence only.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::Serialize;

use scout_common::Transaction;

use super::{BrandMatcher, Detection, Source};

/// The brands the device itself reported, resolved to dictionary brands.
#[derive(Debug, Default, Clone)]
pub(crate) struct DeviceEvidence {
    brands: Vec<u32>,
}

impl DeviceEvidence {
    pub(crate) fn has(&self, brand: u32) -> bool {
        self.brands.contains(&brand)
    }
}

/// The brands of one transaction, by source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransactionBrands<'m> {
    /// One per item, in the transaction's order (`None`: no known brand in its fields).
    pub items: Vec<Option<Detection<'m>>>,
    /// Brands in `explicitMentions`, once each.
    pub mentions: Vec<Detection<'m>>,
    /// Brands in the transcript, once each, in order of first mention.
    pub transcript: Vec<Detection<'m>>,
    /// Names in the device's `detectedBrands` that no source supports (as the device wrote
    /// them): a disagreement worth recording, never a detection.
    pub device_only: Vec<String>,
}

impl<'m> TransactionBrands<'m> {
    /// Each brand once, with the evidence of the first source that found it (items, then
    /// mentions, then transcript).
    pub fn brands(&self) -> Vec<&Detection<'m>> {
        let mut out: Vec<&Detection<'m>> = Vec::new();
        let all = self
            .items
            .iter()
            .flatten()
            .chain(&self.mentions)
            .chain(&self.transcript);
        for d in all {
            if !out.iter().any(|o| std::ptr::eq(o.brand, d.brand)) {
                out.push(d);
            }
        }
        out
    }
}

/// Item detections already made, by what they were made from (brand field, product name,
/// category, the device's brands). A store sells the same few hundred products over and over,
/// so in a batch of transactions most items repeat one seen before; detection is a pure
/// function of those inputs, so the answer is reused instead of scanned and fuzzy-matched again.
/// Keep one per batch (per thread): it holds at most [`ItemMemo::MAX`] answers.
#[derive(Debug, Default)]
pub struct ItemMemo<'m> {
    seen: HashMap<String, Option<Detection<'m>>>,
    key: String,
}

impl<'m> ItemMemo<'m> {
    /// Answers held before the memo starts afresh (a few MB at most).
    pub const MAX: usize = 8192;

    pub fn new() -> Self {
        Self::default()
    }

    fn item(
        &mut self,
        m: &'m BrandMatcher,
        fields: [Option<&str>; 3],
        device: &DeviceEvidence,
    ) -> Option<Detection<'m>> {
        // Each field length-prefixed, so no two inputs share a key whatever their text holds.
        self.key.clear();
        for field in fields {
            match field {
                Some(text) => {
                    let _ = write!(self.key, "{}:{text}", text.len());
                }
                None => self.key.push('-'),
            }
        }
        for id in &device.brands {
            let _ = write!(self.key, ",{id}");
        }
        if let Some(found) = self.seen.get(self.key.as_str()) {
            return found.clone();
        }
        let [brand, product, category] = fields;
        let found = m.item_in(brand, product, category, device);
        if self.seen.len() >= Self::MAX {
            self.seen.clear();
        }
        self.seen.insert(self.key.clone(), found.clone());
        found
    }
}

pub(crate) fn detect<'m>(
    m: &'m BrandMatcher,
    tx: &Transaction,
    memo: &mut ItemMemo<'m>,
) -> TransactionBrands<'m> {
    let mut device = DeviceEvidence::default();
    let mut device_names: Vec<(&str, Option<u32>)> = Vec::new();
    for name in tx.detected_brands.keys() {
        let id = m.canonical_id(name);
        if let Some(id) = id
            && !device.brands.contains(&id)
        {
            device.brands.push(id);
        }
        device_names.push((name, id));
    }

    let items = tx
        .items
        .iter()
        .map(|item| {
            memo.item(
                m,
                [
                    item.brand_name.as_deref(),
                    item.product_name.as_deref(),
                    item.category.as_deref(),
                ],
                &device,
            )
        })
        .collect();

    let mut mentions: Vec<Detection<'m>> = Vec::new();
    for text in &tx.explicit_mentions {
        for d in m.detect_all_in(text, Source::ExplicitMention, &device) {
            match mentions.iter_mut().find(|o| std::ptr::eq(o.brand, d.brand)) {
                Some(o) if d.score > o.score => *o = d,
                Some(_) => {}
                None => mentions.push(d),
            }
        }
    }

    let transcript = tx
        .audio_transcript
        .as_deref()
        .map(|t| m.detect_all_in(t, Source::Transcript, &device))
        .unwrap_or_default();

    let mut out = TransactionBrands {
        items,
        mentions,
        transcript,
        device_only: Vec::new(),
    };
    let found = out.brands();
    let device_only = device_names
        .into_iter()
        .filter(|(_, id)| {
            id.is_none_or(|id| !found.iter().any(|d| std::ptr::eq(d.brand, m.brand_at(id))))
        })
        .map(|(name, _)| name.to_owned())
        .collect();
    out.device_only = device_only;
    out
}
