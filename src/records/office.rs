//! The office's procedures as changes the ledger writes: one effect type
//! for doors, key authorizers and key orders, cameras and video requests,
//! held clips, and photo permissions and distributions. None of them is
//! read on the decision path, so none needs installing in memory.

use serde::{Deserialize, Serialize};

use crate::records::cardholder::distribution::{self, Distribution, PhotoPermission};
use crate::records::doors::{self, Door};
use crate::records::keyorders::{self, KeyAuthorizer, KeyOrder};
use crate::records::video::{self, Camera, ExportRequest, WorkRequest};
use crate::store::{cf, Store, StoreError};

/// One record-level effect of an office procedure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OfficeEffect {
    /// A door registered or changed.
    Door(Door),
    /// A key authorizer registered or changed.
    Authorizer(KeyAuthorizer),
    /// A key authorizer removed (DLC, handle).
    AuthorizerRemoved(String, String),
    /// A key order, new or advanced.
    KeyOrder(KeyOrder),
    /// A camera installed or altered (on an approved request).
    Camera(Camera),
    /// An installation or alteration request, new or decided.
    VideoWork(WorkRequest),
    /// An export request, new or advanced.
    VideoExport(ExportRequest),
    /// A held clip deleted (export id): denied, or collected. Each
    /// appliance deletes and erases its own copy, if it holds one.
    ClipDeleted(u64),
    /// A photo permission recorded.
    PhotoPermission(PhotoPermission),
    /// A photo distribution recorded.
    PhotoDistribution(Distribution),
}

impl OfficeEffect {
    /// Adds the effect to `batch`.
    pub fn stage(&self, store: &Store, batch: &mut rocksdb::WriteBatch) -> Result<(), StoreError> {
        match self {
            OfficeEffect::Door(d) => doors::stage(store, batch, d),
            OfficeEffect::Authorizer(a) => keyorders::stage_authorizer(store, batch, a),
            OfficeEffect::AuthorizerRemoved(dlc, handle) => {
                keyorders::stage_authorizer_removed(store, batch, dlc, handle);
                Ok(())
            }
            OfficeEffect::KeyOrder(o) => keyorders::stage_order(store, batch, o),
            OfficeEffect::Camera(c) => video::stage_camera(store, batch, c),
            OfficeEffect::VideoWork(w) => video::stage_work(store, batch, w),
            OfficeEffect::VideoExport(e) => video::stage_export(store, batch, e),
            OfficeEffect::ClipDeleted(id) => {
                batch.delete_cf(store.cf(cf::CLIPS), video::clip_key(*id));
                Ok(())
            }
            OfficeEffect::PhotoPermission(p) => distribution::stage_permission(store, batch, p),
            OfficeEffect::PhotoDistribution(d) => distribution::stage_distribution(store, batch, d),
        }
    }
}
