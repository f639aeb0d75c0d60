//! Merging dictionary files (read by `file.rs`) by the rules of the shipped file's header: a later
//! file extends brands and companies and takes strong forms over; within one file a form has one
//! owner. Context groups and companies' `covers` are resolved once every file is in.

use std::collections::{HashMap, HashSet};

use super::dictionary::{
    BrandSpec, Category, CompanySpec, Dictionary, DictionaryError, FuzzySetting, KeyKind, KeySpec,
};
use super::file::{
    AliasDoc, BrandDoc, CompanyDoc, FileDoc, FuzzyDoc, Source, key_text, single_word,
};

/// Default scores per kind of entry.
const ALIAS_SCORE: f64 = 0.95;
const GENERIC_SCORE: f64 = 0.8;
const WEAK_SCORE: f64 = 0.85;
/// A company's name used as a product name: a low-confidence answer.
pub(crate) const COMPANY_SCORE: f64 = 0.5;

/// What a strong form means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Brand(usize),
    Company(usize),
}

/// Where a strong form was defined (for conflict messages).
#[derive(Debug, Clone)]
struct Owner {
    target: Target,
    file: usize,
    origin: String,
    line: usize,
}

/// A reference still to resolve once every file is read: a context group (groups may be
/// extended by later files) or a company's `covers` entry.
#[derive(Debug)]
struct Pending {
    index: usize,
    word: String,
    origin: String,
    line: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Merger {
    brands: Vec<BrandSpec>,
    companies: Vec<CompanySpec>,
    /// Normalised name → brand index, and the file that defined it.
    by_name: HashMap<String, (usize, usize)>,
    /// Normalised name → company index, and the file that defined it.
    company_by_name: HashMap<String, (usize, usize)>,
    strong_owner: HashMap<String, Owner>,
    groups: HashMap<String, Vec<String>>,
    noise: Vec<String>,
    pending_context: Vec<Pending>,
    pending_covers: Vec<Pending>,
    overrides: Vec<String>,
    warnings: Vec<String>,
    /// Where each company was first defined (file, line of its name).
    company_at: Vec<(String, usize)>,
    /// Weak forms with where they were written, checked against strong forms at the end.
    weak_forms: Vec<(usize, String, String)>,
}

impl Merger {
    pub(crate) fn add_file(
        &mut self,
        origin: &str,
        text: &str,
        file: usize,
    ) -> Result<(), DictionaryError> {
        let doc: FileDoc = toml::from_str(text).map_err(|e| DictionaryError::Parse {
            origin: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let src = Source { origin, text, file };
        self.add(&src, doc)
    }

    fn add(&mut self, src: &Source<'_>, doc: FileDoc) -> Result<(), DictionaryError> {
        if let Some(v) = &doc.version
            && *v.get_ref() != 1
        {
            return src.invalid(
                v.span(),
                "field version",
                format!(
                    "unsupported version {} (this build reads version 1)",
                    v.get_ref()
                ),
            );
        }
        for word in &doc.noise {
            let w = single_word(src, word, "noise")?;
            self.noise.push(w);
        }
        for (group, words) in &doc.context {
            let mut list = Vec::with_capacity(words.len());
            for word in words {
                list.push(single_word(src, word, &format!("context group {group:?}"))?);
            }
            self.groups.entry(group.clone()).or_default().extend(list);
        }
        for brand in doc.brands {
            self.add_brand(src, brand)?;
        }
        for company in doc.companies {
            self.add_company(src, company)?;
        }
        Ok(())
    }

    fn add_brand(&mut self, src: &Source<'_>, doc: BrandDoc) -> Result<(), DictionaryError> {
        let raw_name = doc.name.get_ref().trim();
        let name_line = src.line(doc.name.span().start);
        let label = format!("brand {raw_name:?}");
        let (name_compact, name_spaced) = key_text(src, &doc.name, raw_name, &label, "name")?;
        let category = match &doc.category {
            None => None,
            Some(c) => Some(Category::parse(c.get_ref()).map_or_else(
                || {
                    let all: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
                    src.invalid(
                        c.span(),
                        format!("{label}, field category"),
                        format!(
                            "unknown category {:?} (expected one of: {})",
                            c.get_ref(),
                            all.join(", ")
                        ),
                    )
                },
                Ok,
            )?),
        };
        let company = match &doc.company {
            None => None,
            Some(c) if c.get_ref().trim().is_empty() => {
                return src.invalid(c.span(), format!("{label}, field company"), "empty company");
            }
            Some(c) => Some(c.get_ref().trim().to_owned()),
        };
        let fuzzy = match &doc.fuzzy {
            None => None,
            Some(f) => Some(match f.get_ref() {
                FuzzyDoc::Switch(false) => FuzzySetting::Off,
                FuzzyDoc::Switch(true) => FuzzySetting::Default,
                FuzzyDoc::Threshold(t) if *t > 0.0 && *t <= 1.0 => FuzzySetting::Threshold(*t),
                FuzzyDoc::Threshold(t) => {
                    return src.invalid(
                        f.span(),
                        format!("{label}, field fuzzy"),
                        format!("threshold {t} is not within 0..1 (or write false)"),
                    );
                }
            }),
        };

        let index = match self.by_name.get(&name_compact) {
            Some(&(index, file)) if file == src.file => {
                return src.invalid(
                    doc.name.span(),
                    format!("{label}, field name"),
                    format!(
                        "brand {:?} is defined twice in this file",
                        self.brands[index].name
                    ),
                );
            }
            Some(&(index, _)) => {
                // Extending a brand from an earlier file.
                let b = &mut self.brands[index];
                if let Some(c) = category {
                    b.category = c;
                }
                if let Some(c) = company {
                    b.company = c;
                }
                if let Some(f) = fuzzy {
                    b.fuzzy = f;
                }
                index
            }
            None => {
                let (Some(category), Some(company)) = (category, company) else {
                    let field = if doc.category.is_none() {
                        "category"
                    } else {
                        "company"
                    };
                    return src.invalid(
                        doc.name.span(),
                        format!("{label}, field {field}"),
                        format!("a new brand needs a {field}"),
                    );
                };
                self.brands.push(BrandSpec {
                    name: raw_name.to_owned(),
                    category,
                    company,
                    keys: Vec::new(),
                    context: Vec::new(),
                    not_before: Vec::new(),
                    fuzzy: fuzzy.unwrap_or(FuzzySetting::Default),
                });
                let index = self.brands.len() - 1;
                self.by_name.insert(name_compact.clone(), (index, src.file));
                index
            }
        };

        // Weak forms first: a name equal to one of its weak aliases is weak itself.
        let mut weak_compacts: Vec<String> = Vec::new();
        let mut keys: Vec<(KeySpec, usize)> = Vec::new();
        for (field, list, kind, strong, default_score) in [
            ("weak", &doc.weak, KeyKind::Alias, false, WEAK_SCORE),
            ("aliases", &doc.aliases, KeyKind::Alias, true, ALIAS_SCORE),
            (
                "generic",
                &doc.generic,
                KeyKind::Generic,
                true,
                GENERIC_SCORE,
            ),
        ] {
            for alias in list {
                let (text, score) = match alias.get_ref() {
                    AliasDoc::Plain(t) => (t.as_str(), default_score),
                    AliasDoc::Scored(s) => (s.alias.as_str(), s.score),
                };
                let what = format!("{label}, field {field}");
                if !(score > 0.0 && score <= 1.0) {
                    return src.invalid(
                        alias.span(),
                        what,
                        format!("score {score} for {text:?} is not within 0..1"),
                    );
                }
                let (compact, spaced) = key_text(src, alias, text, &label, field)?;
                if !strong && !weak_compacts.contains(&compact) {
                    weak_compacts.push(compact.clone());
                    self.weak_forms.push((
                        index,
                        compact.clone(),
                        format!("{}, line {}", src.origin, src.line(alias.span().start)),
                    ));
                } else if strong && weak_compacts.contains(&compact) {
                    return src.invalid(
                        alias.span(),
                        what,
                        format!("{text:?} is listed both as weak and as {field}"),
                    );
                }
                keys.push((
                    KeySpec {
                        compact,
                        spaced,
                        kind,
                        strong,
                        score,
                    },
                    src.line(alias.span().start),
                ));
            }
        }
        keys.insert(
            0,
            (
                KeySpec {
                    compact: name_compact.clone(),
                    spaced: name_spaced,
                    kind: KeyKind::Name,
                    strong: true,
                    score: 1.0,
                },
                name_line,
            ),
        );
        // The same form twice in one entry is harmless but untidy (a weak form equal to the
        // name is not: it makes the name weak).
        let mut seen: HashSet<&str> = HashSet::new();
        for (key, line) in &keys {
            let weak_name = !key.strong && key.compact == name_compact;
            if !seen.insert(&key.compact) && !weak_name {
                self.warnings.push(format!(
                    "{}, line {line}: {label} lists {:?} twice",
                    src.origin, key.spaced
                ));
            }
        }
        for (key, line) in keys {
            self.add_key(src, index, key, line, &label)?;
        }
        for word in &doc.context {
            let w = word.get_ref().trim();
            let line = src.line(word.span().start);
            if let Some(group) = w.strip_prefix('@') {
                self.pending_context.push(Pending {
                    index,
                    word: group.to_owned(),
                    origin: src.origin.to_owned(),
                    line,
                });
            } else {
                let w = single_word(src, word, &format!("{label}, field context"))?;
                self.brands[index].context.push(w);
            }
        }
        for word in &doc.not_before {
            let w = single_word(src, word, &format!("{label}, field not_before"))?;
            self.brands[index].not_before.push(w);
        }
        Ok(())
    }

    fn add_company(&mut self, src: &Source<'_>, doc: CompanyDoc) -> Result<(), DictionaryError> {
        let raw_name = doc.name.get_ref().trim();
        let label = format!("company {raw_name:?}");
        let (name_compact, name_spaced) = key_text(src, &doc.name, raw_name, &label, "name")?;
        let index = match self.company_by_name.get(&name_compact) {
            Some(&(_, file)) if file == src.file => {
                return src.invalid(
                    doc.name.span(),
                    format!("{label}, field name"),
                    "defined twice in this file",
                );
            }
            Some(&(index, _)) => index,
            None => {
                self.companies.push(CompanySpec {
                    name: raw_name.to_owned(),
                    keys: Vec::new(),
                    covers: Vec::new(),
                    brands: Vec::new(),
                });
                let index = self.companies.len() - 1;
                self.company_at
                    .push((src.origin.to_owned(), src.line(doc.name.span().start)));
                self.company_by_name
                    .insert(name_compact.clone(), (index, src.file));
                self.pending_covers.push(Pending {
                    index,
                    word: raw_name.to_owned(),
                    origin: src.origin.to_owned(),
                    line: src.line(doc.name.span().start),
                });
                index
            }
        };
        let mut forms = vec![(name_compact, name_spaced, src.line(doc.name.span().start))];
        for alias in &doc.aliases {
            let (compact, spaced) = key_text(src, alias, alias.get_ref(), &label, "aliases")?;
            forms.push((compact, spaced, src.line(alias.span().start)));
        }
        for (compact, spaced, line) in forms {
            if self.companies[index]
                .keys
                .iter()
                .any(|k| k.compact == compact)
            {
                self.warnings.push(format!(
                    "{}, line {line}: {label} lists {spaced:?} twice",
                    src.origin
                ));
                continue;
            }
            self.claim(src, Target::Company(index), &compact, &spaced, line, &label)?;
            self.companies[index].keys.push(KeySpec {
                compact,
                spaced,
                kind: KeyKind::Company,
                strong: true,
                score: COMPANY_SCORE,
            });
        }
        for cover in &doc.covers {
            let c = cover.get_ref().trim();
            if c.is_empty() {
                return src.invalid(cover.span(), format!("{label}, field covers"), "empty");
            }
            self.pending_covers.push(Pending {
                index,
                word: c.to_owned(),
                origin: src.origin.to_owned(),
                line: src.line(cover.span().start),
            });
        }
        Ok(())
    }

    fn add_key(
        &mut self,
        src: &Source<'_>,
        brand: usize,
        key: KeySpec,
        line: usize,
        label: &str,
    ) -> Result<(), DictionaryError> {
        let existing = self.brands[brand]
            .keys
            .iter()
            .position(|k| k.compact == key.compact);
        if let Some(pos) = existing {
            // The same form twice for one brand ("7 up" and "7up"): keep the stronger reading.
            let k = &mut self.brands[brand].keys[pos];
            if k.kind == KeyKind::Name && !key.strong {
                // "Smart" is the name and ambiguous on its own: the name needs context too (a
                // brand field that says exactly "Smart" is still read as the brand).
                k.strong = false;
                k.score = key.score;
                if self
                    .strong_owner
                    .get(&key.compact)
                    .is_some_and(|o| o.target == Target::Brand(brand))
                {
                    self.strong_owner.remove(&key.compact);
                }
                return Ok(());
            }
            if key.strong && !k.strong && k.kind != KeyKind::Name {
                *k = key.clone();
            } else {
                k.score = k.score.max(key.score);
                return Ok(());
            }
        }
        if key.strong {
            self.claim(
                src,
                Target::Brand(brand),
                &key.compact,
                &key.spaced,
                line,
                label,
            )?;
        }
        if existing.is_none() {
            self.brands[brand].keys.push(key);
        }
        Ok(())
    }

    /// Records `target` as the owner of a strong form: an error when another owner has it in
    /// the same file, a takeover (logged as an override) when it came from an earlier file.
    fn claim(
        &mut self,
        src: &Source<'_>,
        target: Target,
        compact: &str,
        spaced: &str,
        line: usize,
        label: &str,
    ) -> Result<(), DictionaryError> {
        if let Some(owner) = self.strong_owner.get(compact).cloned()
            && owner.target != target
        {
            let other = self.describe(owner.target);
            if owner.file == src.file {
                return Err(DictionaryError::Invalid {
                    origin: src.origin.to_owned(),
                    line,
                    what: label.to_owned(),
                    message: format!(
                        "{spaced:?} already belongs to {other} ({}, line {})",
                        owner.origin, owner.line
                    ),
                });
            }
            // A later file takes the form over.
            match owner.target {
                Target::Brand(b) => self.brands[b].keys.retain(|k| k.compact != compact),
                Target::Company(c) => self.companies[c].keys.retain(|k| k.compact != compact),
            }
            self.overrides.push(format!(
                "{}, line {line}: {spaced:?} now means {} instead of {other}",
                src.origin,
                self.describe(target)
            ));
        }
        self.strong_owner.insert(
            compact.to_owned(),
            Owner {
                target,
                file: src.file,
                origin: src.origin.to_owned(),
                line,
            },
        );
        Ok(())
    }

    fn describe(&self, target: Target) -> String {
        match target {
            Target::Brand(b) => format!("brand {:?}", self.brands[b].name),
            Target::Company(c) => format!("company {:?}", self.companies[c].name),
        }
    }

    pub(crate) fn finish(mut self) -> Result<Dictionary, DictionaryError> {
        for p in std::mem::take(&mut self.pending_context) {
            let Some(words) = self.groups.get(&p.word) else {
                let mut known: Vec<&str> = self.groups.keys().map(String::as_str).collect();
                known.sort_unstable();
                return Err(DictionaryError::Invalid {
                    origin: p.origin,
                    line: p.line,
                    what: format!("brand {:?}, field context", self.brands[p.index].name),
                    message: format!(
                        "unknown context group \"@{}\" (defined: {})",
                        p.word,
                        known.join(", ")
                    ),
                });
            };
            self.brands[p.index].context.extend(words.iter().cloned());
        }
        // A company's name covers the brands of that company; `covers` adds subsidiaries. The
        // name may match no brand when `covers` does; a `covers` entry must match one.
        for p in std::mem::take(&mut self.pending_covers) {
            let owned: Vec<usize> = (0..self.brands.len())
                .filter(|&b| self.brands[b].company == p.word)
                .collect();
            let company = &mut self.companies[p.index];
            let is_name = p.word == company.name;
            if owned.is_empty() && !is_name {
                return Err(DictionaryError::Invalid {
                    origin: p.origin,
                    line: p.line,
                    what: format!("company {:?}, field covers", company.name),
                    message: format!("no brand has company {:?}", p.word),
                });
            }
            company.covers.push(p.word);
            company.brands.extend(owned);
            company.brands.sort_unstable();
            company.brands.dedup();
        }
        for (c, (origin, line)) in self.companies.iter().zip(&self.company_at) {
            if c.brands.is_empty() {
                return Err(DictionaryError::Invalid {
                    origin: origin.clone(),
                    line: *line,
                    what: format!("company {:?}", c.name),
                    message: format!(
                        "no brand has company {:?} (use a brand's company as the name, or list \
                         the brands' companies in covers)",
                        c.name
                    ),
                });
            }
        }
        for (brand, compact, at) in std::mem::take(&mut self.weak_forms) {
            if let Some(owner) = self.strong_owner.get(&compact)
                && let Target::Brand(other) = owner.target
                && other != brand
            {
                self.warnings.push(format!(
                    "{at}: weak form {compact:?} of brand {:?} is hidden by brand {:?} ({}, line {})",
                    self.brands[brand].name, self.brands[other].name, owner.origin, owner.line
                ));
            }
        }
        for b in &mut self.brands {
            b.context.sort_unstable();
            b.context.dedup();
            b.not_before.sort_unstable();
            b.not_before.dedup();
        }
        self.noise.sort_unstable();
        self.noise.dedup();
        Ok(Dictionary {
            brands: self.brands,
            companies: self.companies,
            noise: self.noise,
            overrides: self.overrides,
            warnings: self.warnings,
        })
    }
}
