//! Request slots: a device may have `--max-in-flight-per-device` ingest requests in progress
//! (429 beyond), the collector `--max-in-flight` in all (503 beyond). A slot is held for the
//! whole request and freed when it ends, however it ends (the client going away included).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::ApiError;
use crate::routes::AppState;
use crate::store::DeviceRecord;

/// A slot among the device's in-flight requests, freed on drop.
struct DeviceSlot {
    per_device: Arc<Mutex<HashMap<String, usize>>>,
    device_id: String,
}

impl Drop for DeviceSlot {
    fn drop(&mut self) {
        if let Ok(mut map) = self.per_device.lock()
            && let Some(n) = map.get_mut(&self.device_id)
        {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.device_id);
            }
        }
    }
}

/// Held while a request is processed: its device's slot and a collector-wide permit.
pub(super) struct Slot {
    _device: DeviceSlot,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// Takes the device's slot first (429 when that device is already busy), then a collector-wide
/// permit (503 when the collector is).
pub(super) fn reserve(state: &AppState, device: &DeviceRecord) -> Result<Slot, ApiError> {
    let device_slot = {
        let mut map = state
            .per_device
            .lock()
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("per-device slot table poisoned")))?;
        let n = map.entry(device.device_id.clone()).or_insert(0);
        if *n >= state.limits.max_in_flight_per_device {
            return Err(ApiError::TooManyRequests {
                retry_after_secs: 1,
            });
        }
        *n += 1;
        DeviceSlot {
            per_device: Arc::clone(&state.per_device),
            device_id: device.device_id.clone(),
        }
    };
    let permit = Arc::clone(&state.in_flight)
        .try_acquire_owned()
        .map_err(|_| ApiError::Unavailable {
            retry_after_secs: 1,
        })?;
    Ok(Slot {
        _device: device_slot,
        _permit: permit,
    })
}
