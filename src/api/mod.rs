//! The admin API's contract: every operation with its method, path and the
//! roles that may call it — the one table both the server and the client
//! are built from — and the request and response bodies they share.
//!
//! "What may the police role do?" is answered here and nowhere else:
//! [`Op::allowed_for`] lists it, the server refuses every other operation
//! before a handler runs, `docs/SECURITY.md` prints the table, and a test
//! calls every operation with every role.

pub mod types;

use std::fmt;

use crate::pki::identity::Role;

/// HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Read.
    Get,
    /// Create or act.
    Post,
    /// Replace.
    Put,
    /// Change some fields.
    Patch,
    /// Remove.
    Delete,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

use Role::{
    Auditor, CardOffice, Director, DirectorDesignee, KeyAuthorizer, Police, PoliceChief, Reader,
    SecurityOffice,
};

macro_rules! operations {
    ($(
        $(#[$doc:meta])*
        $op:ident: $method:ident $path:literal => $name:literal [$($role:ident),* $(,)?];
    )*) => {
        /// Every admin operation.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Op {
            $( $(#[$doc])* $op, )*
        }

        impl Op {
            /// Every operation, in table order.
            pub const ALL: &'static [Op] = &[$(Op::$op),*];

            /// Its HTTP method.
            pub fn method(self) -> Method {
                match self { $(Op::$op => Method::$method,)* }
            }

            /// Its path template; `{...}` segments are parameters.
            pub fn path(self) -> &'static str {
                match self { $(Op::$op => $path,)* }
            }

            /// Its name: the audit trail's `action` and the `op` label of
            /// `portcullis_admin_requests_total`.
            pub fn name(self) -> &'static str {
                match self { $(Op::$op => $name,)* }
            }

            /// The roles that may call it.
            pub fn roles(self) -> &'static [Role] {
                match self { $(Op::$op => &[$($role),*],)* }
            }
        }
    };
}

operations! {
    /// Who the caller's certificate says they are.
    Whoami: Get "/v1/whoami" => "whoami"
        [
            Reader,
            SecurityOffice,
            CardOffice,
            Police,
            PoliceChief,
            Director,
            DirectorDesignee,
            KeyAuthorizer,
            Auditor,
        ];

    /// Issue a holder's first card.
    CardIssue: Post "/v1/cards" => "card.issue" [SecurityOffice];
    /// A card's status.
    CardShow: Get "/v1/cards/{id}" => "card.show" [SecurityOffice, CardOffice];
    /// Revoke a card for good.
    CardRevoke: Post "/v1/cards/{id}/revoke" => "card.revoke" [SecurityOffice];
    /// Suspend an active card.
    CardSuspend: Post "/v1/cards/{id}/suspend" => "card.suspend" [SecurityOffice];
    /// Resume a suspended card.
    CardResume: Post "/v1/cards/{id}/resume" => "card.resume" [SecurityOffice];
    /// Set or clear a card's expiry.
    CardExpiry: Put "/v1/cards/{id}/expiry" => "card.expiry" [SecurityOffice];
    /// Replace a holder's working card; every older card dies in the same
    /// step. Never lifts a suspension or revocation.
    CardReplace: Post "/v1/holders/{id}/replace-card" => "card.replace"
        [SecurityOffice, CardOffice];

    /// Find a cardholder by MIT ID number: their holder id only.
    HolderFind: Post "/v1/holders/find" => "holder.find" [SecurityOffice, CardOffice];
    /// Create a cardholder record (policy fields only).
    HolderCreate: Post "/v1/holders" => "holder.create" [SecurityOffice];
    /// Read a cardholder record (audited).
    HolderShow: Get "/v1/holders/{id}" => "holder.view" [SecurityOffice];
    /// Change fields of a cardholder record.
    HolderUpdate: Patch "/v1/holders/{id}" => "holder.update" [SecurityOffice];
    /// Assign access levels.
    HolderLevels: Put "/v1/holders/{id}/levels" => "holder.levels" [SecurityOffice];
    /// A holder's cards and their status.
    HolderCards: Get "/v1/holders/{id}/cards" => "holder.cards"
        [SecurityOffice, CardOffice];

    /// Upload a photo (JPEG or PNG).
    PhotoUpload: Put "/v1/holders/{id}/photo" => "photo.upload" [SecurityOffice];
    /// A photo, for producing and replacing cards (audited).
    PhotoShow: Get "/v1/holders/{id}/photo" => "photo.view.card-production"
        [SecurityOffice, CardOffice];
    /// Release a photo digitally within the Institute: only with the
    /// recorded permission (the Dean's for a student, the person's written
    /// one otherwise), never when withheld; recorded.
    PhotoRelease: Post "/v1/holders/{id}/photo/release" => "photo.release" [SecurityOffice];
    /// Record the permission a digital release rests on.
    PhotoPermissionSet: Put "/v1/holders/{id}/photo/permission" => "photo.permission"
        [SecurityOffice];
    /// Record a hard copy given to one of the policy's recipients.
    PhotoHardCopy: Post "/v1/holders/{id}/photo/hard-copy" => "photo.hard-copy"
        [SecurityOffice];
    /// The person's single copy of their own photo.
    PhotoOwnCopy: Post "/v1/holders/{id}/photo/own-copy" => "photo.own-copy"
        [SecurityOffice, CardOffice];
    /// Every distribution of a person's photo, and the permission on record.
    PhotoDistributions: Get "/v1/holders/{id}/photo/distributions" => "photo.distributions"
        [SecurityOffice, Auditor];
    /// Record or clear the person's request to withhold their photo.
    PhotoWithheld: Put "/v1/holders/{id}/photo/withheld" => "photo.withheld"
        [SecurityOffice];

    /// Departments, labs and centers.
    DlcList: Get "/v1/dlcs" => "dlc.list" [SecurityOffice, CardOffice];
    /// Register a department, lab or center (or rename it).
    DlcPut: Put "/v1/dlcs/{code}" => "dlc.put" [SecurityOffice];

    /// Every door group, schedule, level and holiday.
    AccessShow: Get "/v1/access" => "access.show" [SecurityOffice];
    /// Replace every access definition.
    AccessSet: Put "/v1/access" => "access.update" [SecurityOffice];

    /// Re-encrypt every record under a new key.
    KeysRotate: Post "/v1/keys/rotate" => "keys.rotate" [SecurityOffice];

    /// The admin audit trail.
    AuditRead: Get "/v1/audit" => "audit.read" [Auditor];
    /// The look-up audit.
    LookupsRead: Get "/v1/lookups" => "lookups.read" [Auditor];

    /// Access resolution: one card, door or reader in a past window, for a
    /// ticket.
    JournalLookup: Get "/v1/journal" => "journal.lookup" [SecurityOffice, CardOffice];
    /// Register the chief of police's signing key.
    ChiefKeySet: Put "/v1/police/chief-key" => "police.chief-key" [SecurityOffice];
    /// Journal records under a request signed by the chief.
    Investigate: Post "/v1/investigations" => "investigation.journal" [Police];
    /// A photo under a request signed by the chief.
    InvestigatePhoto: Post "/v1/investigations/photo" => "investigation.photo" [Police];
    /// The notification outbox.
    NotificationsList: Get "/v1/notifications" => "notifications.list" [SecurityOffice];
    /// Mark a notification done.
    NotificationDone: Post "/v1/notifications/{id}/done" => "notification.done"
        [SecurityOffice];
    /// The oldest entry of every part of the journal against the window.
    RetentionReport: Get "/v1/retention" => "retention.report"
        [SecurityOffice, Auditor, Director, DirectorDesignee];

    /// Revoke a certificate (staff or reader): refused from its next request
    /// or read on.
    CertRevoke: Post "/v1/certificates/revoked" => "certificate.revoke" [SecurityOffice];
    /// The revoked certificates.
    CertRevokedList: Get "/v1/certificates/revoked" => "certificate.list-revoked"
        [SecurityOffice, Auditor];

    /// Make an online backup (a consistent copy of every record).
    BackupCreate: Post "/v1/backups" => "backup.create" [SecurityOffice];
    /// The backups on disk.
    BackupList: Get "/v1/backups" => "backup.list" [SecurityOffice, Auditor];

    /// Door alarms in force (forced or held open, tamper, reader offline),
    /// with who to call.
    AlarmsList: Get "/v1/alarms" => "alarms.list" [SecurityOffice];
    /// Acknowledge an alarm (it stays until the door reports it over).
    AlarmAck: Post "/v1/alarms/{door}/{kind}/ack" => "alarm.ack" [SecurityOffice];

    /// Registered readers.
    ReadersList: Get "/v1/readers" => "readers.list" [SecurityOffice];
    /// The door registry.
    DoorsList: Get "/v1/doors" => "doors.list" [SecurityOffice];
    /// Register a door (its name, building, whether a residence hall's).
    DoorPut: Put "/v1/doors/{door}" => "door.put" [SecurityOffice];

    /// Key authorizers of every DLC.
    AuthorizersList: Get "/v1/key-authorizers" => "key-authorizers.list"
        [SecurityOffice, CardOffice, Auditor];
    /// Register a DLC's key authorizer (master keys or room keys only).
    AuthorizerPut: Put "/v1/key-authorizers/{dlc}/{handle}" => "key-authorizer.put"
        [SecurityOffice];
    /// Remove a key authorizer.
    AuthorizerRemove: Delete "/v1/key-authorizers/{dlc}/{handle}" => "key-authorizer.remove"
        [SecurityOffice];
    /// Key orders (a key authorizer sees their own DLCs' only).
    KeyOrdersList: Get "/v1/key-orders" => "key-orders.list"
        [SecurityOffice, CardOffice, KeyAuthorizer, Auditor];
    /// One key order and its history.
    KeyOrderShow: Get "/v1/key-orders/{id}" => "key-order.show"
        [SecurityOffice, CardOffice, KeyAuthorizer, Auditor];
    /// Submit a key order for one's own DLC.
    KeyOrderSubmit: Post "/v1/key-orders" => "key-order.submit" [KeyAuthorizer];
    /// The keys are cut: notify the authorizer.
    KeyOrderReady: Post "/v1/key-orders/{id}/ready" => "key-order.ready" [SecurityOffice];
    /// Hand the keys over at 7-019, against a valid ID card of the
    /// recipient and the authorizer's name or the RT number.
    KeyOrderPickup: Post "/v1/key-orders/{id}/pickup" => "key-order.pickup"
        [SecurityOffice, CardOffice];
    /// The holder asks to return the keys: notify the authorizer.
    KeyOrderReturnRequest: Post "/v1/key-orders/{id}/return-request" => "key-order.return-request"
        [SecurityOffice, CardOffice];
    /// The authorizer has the keys back.
    KeyOrderReturned: Post "/v1/key-orders/{id}/returned" => "key-order.returned"
        [KeyAuthorizer];

    /// The camera registry.
    CamerasList: Get "/v1/video/cameras" => "video.cameras"
        [SecurityOffice, Director, DirectorDesignee, Auditor];
    /// Installation and alteration requests.
    VideoWorkList: Get "/v1/video/requests" => "video.requests"
        [SecurityOffice, Director, DirectorDesignee, Auditor];
    /// Submit a written installation or alteration request.
    VideoWorkSubmit: Post "/v1/video/requests" => "video.request.submit" [SecurityOffice];
    /// Approve or deny an installation or alteration.
    VideoWorkDecide: Post "/v1/video/requests/{id}/decision" => "video.request.decide"
        [Director, DirectorDesignee];
    /// Video export requests (police see their own).
    VideoExportsList: Get "/v1/video/exports" => "video.exports"
        [SecurityOffice, Director, DirectorDesignee, Police, Auditor];
    /// Submit a written export request to the Director.
    VideoExportSubmit: Post "/v1/video/exports" => "video.export.submit"
        [SecurityOffice, Police];
    /// Hold the exported clip (sealed) until the Director decides.
    VideoExportHold: Put "/v1/video/exports/{id}/clip" => "video.export.hold" [SecurityOffice];
    /// Approve (release to the requester) or deny (delete, no appeal).
    VideoExportDecide: Post "/v1/video/exports/{id}/decision" => "video.export.decide"
        [Director, DirectorDesignee];
    /// An approved clip, to its requester (recorded).
    VideoExportCollect: Get "/v1/video/exports/{id}/clip" => "video.export.collect"
        [SecurityOffice, Police];
    /// Register a reader or replace its doors.
    ReaderRegister: Put "/v1/readers/{name}" => "reader.register" [SecurityOffice];
    /// Remove a reader.
    ReaderRemove: Delete "/v1/readers/{name}" => "reader.remove" [SecurityOffice];
}

impl Op {
    /// Whether `role` may call this operation.
    pub fn allows(self, role: Role) -> bool {
        self.roles().contains(&role)
    }

    /// The operations `role` may call.
    pub fn allowed_for(role: Role) -> Vec<Op> {
        Op::ALL.iter().copied().filter(|o| o.allows(role)).collect()
    }

    /// The path with `args` filled into its `{...}` segments, in order.
    /// Path arguments are ids and names from a restricted alphabet;
    /// anything else is percent-encoded.
    pub fn path_with(self, args: &[&(dyn fmt::Display + Sync)]) -> String {
        let mut out = String::new();
        let mut args = args.iter();
        for (i, seg) in self.path().split('/').enumerate() {
            if i > 0 {
                out.push('/');
            }
            if seg.starts_with('{') {
                if let Some(a) = args.next() {
                    out.push_str(&encode_segment(&a.to_string()));
                }
            } else {
                out.push_str(seg);
            }
        }
        out
    }
}

/// The role table as Markdown: one row per operation, one column per
/// role (docs/SECURITY.md carries it verbatim; a test checks it is current).
pub fn role_table_markdown() -> String {
    let roles = Role::ALL;
    let mut out = String::from("| operation | method and path |");
    for r in roles {
        out.push_str(&format!(" {} |", r.as_str()));
    }
    out.push_str("\n| --- | --- |");
    for _ in roles {
        out.push_str(" :-: |");
    }
    out.push('\n');
    for op in Op::ALL {
        out.push_str(&format!(
            "| `{}` | `{} {}` |",
            op.name(),
            op.method().as_str(),
            op.path()
        ));
        for r in roles {
            out.push_str(if op.allows(r) { " yes |" } else { " |" });
        }
        out.push('\n');
    }
    out
}

fn encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        let mut seen = std::collections::HashSet::new();
        for op in Op::ALL {
            assert!(op.path().starts_with("/v1/"), "{op}");
            assert!(
                seen.insert((op.method().as_str(), op.path())),
                "{op}: two operations on one method and path"
            );
            assert!(!op.roles().is_empty(), "{op}: no role may call it");
        }
        assert_eq!(
            Op::CardRevoke.path_with(&[&12]),
            "/v1/cards/12/revoke".to_owned()
        );
        assert_eq!(Op::ReaderRegister.path_with(&[&"a b"]), "/v1/readers/a%20b");
        assert_eq!(
            Op::allowed_for(Role::Police),
            [
                Op::Whoami,
                Op::Investigate,
                Op::InvestigatePhoto,
                Op::VideoExportsList,
                Op::VideoExportSubmit,
                Op::VideoExportCollect
            ]
        );
        assert_eq!(Op::allowed_for(Role::PoliceChief), [Op::Whoami]);
        // The Director and a designee decide; they change nothing else.
        for r in [Role::Director, Role::DirectorDesignee] {
            assert_eq!(
                Op::allowed_for(r)
                    .into_iter()
                    .filter(|o| o.method() != Method::Get)
                    .collect::<Vec<_>>(),
                [Op::VideoWorkDecide, Op::VideoExportDecide],
                "{r}"
            );
        }
        // A key authorizer submits and closes their DLC's orders, no more.
        assert_eq!(
            Op::allowed_for(Role::KeyAuthorizer)
                .into_iter()
                .filter(|o| o.method() != Method::Get)
                .collect::<Vec<_>>(),
            [Op::KeyOrderSubmit, Op::KeyOrderReturned]
        );
    }

    /// docs/SECURITY.md carries the table the server enforces, as it is.
    #[test]
    fn security_document_carries_the_current_role_table() {
        let doc = include_str!("../../docs/SECURITY.md");
        let begin = doc
            .find("<!-- role-table:begin -->\n")
            .expect("begin marker")
            + 26;
        let end = doc.find("<!-- role-table:end -->").expect("end marker");
        assert_eq!(
            &doc[begin..end],
            role_table_markdown(),
            "docs/SECURITY.md is out of date: paste `portcullis roles` between the markers"
        );
    }
}
