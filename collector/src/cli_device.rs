//! `scout-collector device add|list|revoke|move`: the device registry on the command line.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use crate::devices;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Register a device and print its token (shown once, on the last line).
    Add {
        device_id: String,
        /// The store the device belongs to.
        #[arg(long)]
        store: String,
    },
    /// List registered devices.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a device's token: its requests get 401 from then on.
    Revoke { device_id: String },
    /// Move a device to another store (its token stays valid). From then on it may write only
    /// for the new store; rows it already sent stay with the store they were sold in.
    Move {
        device_id: String,
        /// The store the device now belongs to.
        #[arg(long)]
        store: String,
    },
}

/// Runs a `device` subcommand.
pub async fn device(store: &Store, command: DeviceCommand) -> anyhow::Result<ExitCode> {
    match command {
        DeviceCommand::Add {
            device_id,
            store: store_id,
        } => {
            let device_id = scout_common::DeviceId::parse(&device_id)
                .with_context(|| format!("Invalid device id {device_id:?}"))?;
            let store_id = store_id.trim();
            anyhow::ensure!(!store_id.is_empty(), "--store must not be empty");
            let token = devices::new_token()?;
            let added = store
                .add_device(device_id.as_str(), store_id, &devices::token_hash(&token))
                .await?;
            if !added {
                eprintln!(
                    "error: device {device_id} is already registered and active; \
                     revoke it first to issue a new token"
                );
                return Ok(ExitCode::FAILURE);
            }
            println!("Registered device {device_id} for store {store_id}.");
            println!("Its token is shown only now; put it in the agent's token_file:");
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        DeviceCommand::List { json } => {
            let list = store.list_devices().await?;
            if json {
                let rows: Vec<_> = list
                    .iter()
                    .map(|d| {
                        serde_json::json!({
                            "device_id": d.device_id,
                            "store_id": d.store_id,
                            "created_at": d.created_at,
                            "revoked_at": d.revoked_at,
                            "last_seen_at": d.last_seen_at,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!(
                    "{:<20} {:<10} {:<8} {:<20} LAST SEEN",
                    "DEVICE", "STORE", "STATE", "REGISTERED"
                );
                for d in list {
                    let state = if d.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    println!(
                        "{:<20} {:<10} {:<8} {:<20} {}",
                        d.device_id,
                        d.store_id,
                        state,
                        d.created_at.format("%Y-%m-%d %H:%M:%S"),
                        d.last_seen_at.map_or("never".to_owned(), |t| t
                            .format("%Y-%m-%d %H:%M:%S")
                            .to_string())
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DeviceCommand::Revoke { device_id } => {
            let canonical = scout_common::DeviceId::parse(&device_id)
                .with_context(|| format!("Invalid device id {device_id:?}"))?;
            if store.revoke_device(canonical.as_str()).await? {
                println!("Revoked device {canonical}.");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("error: no active device {canonical}");
                Ok(ExitCode::FAILURE)
            }
        }
        DeviceCommand::Move {
            device_id,
            store: store_id,
        } => {
            let canonical = scout_common::DeviceId::parse(&device_id)
                .with_context(|| format!("Invalid device id {device_id:?}"))?;
            let store_id = store_id.trim();
            anyhow::ensure!(!store_id.is_empty(), "--store must not be empty");
            match store.move_device(canonical.as_str(), store_id).await? {
                Some(previous) => {
                    println!("Moved device {canonical} from store {previous} to store {store_id}.");
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!("error: no active device {canonical}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}
