//! `scout-collector brands …`: the unresolved queue and teaching, on the command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::{TeachReport, UnresolvedReport};
use crate::brands::TaughtEntry;
use crate::files::format_centavos;
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct BrandsArgs {
    #[command(subcommand)]
    pub command: BrandsCommand,
    /// An operator's brand dictionary file, merged over the shipped one (taught entries are
    /// merged after it).
    #[arg(
        long = "brands-file",
        global = true,
        env = crate::brands::BRANDS_FILE_ENV,
        value_name = "PATH"
    )]
    pub brands_file: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum BrandsCommand {
    /// List the product names silver could not give a brand, by revenue, with suggestions.
    Unresolved {
        /// How far back to look, in days.
        #[arg(long, default_value_t = 30)]
        since: u32,
        /// Most names listed.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Teach that NAME (a product name's word or words) means BRAND, then re-process the
    /// transactions it changes.
    Alias {
        name: String,
        #[arg(long)]
        brand: String,
    },
    /// Teach a brand the dictionary lacks (and optionally its aliases), then re-process the
    /// transactions it changes.
    Add {
        name: String,
        /// One of the dictionary's categories (e.g. "Ice Cream", "Snacks").
        #[arg(long)]
        category: String,
        /// The company that sells it in the Philippines.
        #[arg(long)]
        company: String,
        /// Other names for it (repeatable).
        #[arg(long = "alias")]
        aliases: Vec<String>,
    },
    /// List what operators taught, oldest first.
    Taught,
}

/// Runs a `brands` subcommand.
pub async fn run(store: &Store, args: BrandsArgs) -> anyhow::Result<ExitCode> {
    let file = args.brands_file;
    match args.command {
        BrandsCommand::Unresolved { since, limit } => {
            let matcher = super::matcher(store, file.as_deref()).await?;
            let report = super::unresolved(store, &matcher, since, limit.clamp(1, 10_000)).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", unresolved_table(&report));
            }
        }
        BrandsCommand::Alias { name, brand } => {
            let report = super::teach(store, file, TaughtEntry::Alias { name, brand }).await?;
            print_teach(&report, args.json)?;
        }
        BrandsCommand::Add {
            name,
            category,
            company,
            aliases,
        } => {
            let report = super::teach(
                store,
                file.clone(),
                TaughtEntry::Brand {
                    name: name.clone(),
                    category,
                    company,
                },
            )
            .await?;
            print_teach(&report, args.json)?;
            for alias in aliases {
                let report = super::teach(
                    store,
                    file.clone(),
                    TaughtEntry::Alias {
                        name: alias,
                        brand: report.brand.clone(),
                    },
                )
                .await?;
                print_teach(&report, args.json)?;
            }
        }
        BrandsCommand::Taught => {
            let taught = store.taught_entries().await?;
            if args.json {
                let rows: Vec<serde_json::Value> = taught
                    .iter()
                    .map(|e| match e {
                        TaughtEntry::Alias { name, brand } => {
                            serde_json::json!({"kind": "alias", "name": name, "brand": brand})
                        }
                        TaughtEntry::Brand {
                            name,
                            category,
                            company,
                        } => serde_json::json!({"kind": "brand", "name": name,
                            "category": category, "company": company}),
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if taught.is_empty() {
                println!("nothing taught yet");
            } else {
                print!("{}", crate::brands::to_toml(&taught));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_teach(report: &TeachReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    println!(
        "taught {} {:?} → {}: {} name(s) change brand, {} transaction(s) re-processed \
         ({} silver rows), {} gold partition(s) rebuilt",
        report.kind,
        report.name,
        report.brand,
        report.changed.len(),
        report.bronze_rows_queued,
        report.silver_rows,
        report.gold_partitions
    );
    for c in &report.changed {
        println!(
            "  {:<40} {} → {}",
            c.product_name
                .as_deref()
                .or(c.device_brand.as_deref())
                .unwrap_or(""),
            c.before.as_deref().unwrap_or("(none)"),
            c.after.as_deref().unwrap_or("(none)")
        );
    }
    Ok(())
}

/// The queue as a table: name, items, revenue, stores, last seen, suggestions.
pub fn unresolved_table(report: &UnresolvedReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "revenue without a brand since {}: ₱{} of ₱{} ({:.1}%)",
        report.since.format("%Y-%m-%d %H:%M UTC"),
        format_centavos(report.unresolved_revenue_centavos),
        format_centavos(report.revenue_centavos),
        report.unresolved_share * 100.0
    );
    if report.names.is_empty() {
        out.push_str("no unresolved names\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<40} {:>7} {:>14} {:>6}  {:<10}  suggestions",
        "name", "items", "revenue", "stores", "last seen"
    );
    for n in &report.names {
        let name: String = n.name.name.chars().take(40).collect();
        let suggestions: Vec<String> = n
            .suggestions
            .iter()
            .map(|s| format!("{} ({:.2})", s.brand, s.similarity))
            .collect();
        let _ = writeln!(
            out,
            "{name:<40} {:>7} {:>14} {:>6}  {:<10}  {}",
            n.name.items,
            format_centavos(n.name.revenue_centavos),
            n.name.stores,
            n.name
                .last_seen
                .map(|t| t.format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
            suggestions.join(", ")
        );
    }
    out
}
