//! Flags of the office's procedures: doors, key authorizers and key
//! orders, video requests, photo distribution.

use std::path::PathBuf;

use clap::Subcommand;

use crate::flags::AdminOpts;

#[derive(Subcommand)]
pub enum DoorCmd {
    /// Register a door: its name, building, and whether a residence hall's.
    Set {
        #[arg(long)]
        door: u32,
        /// A short label (letters, digits, '.', '_', '-').
        #[arg(long)]
        name: String,
        /// The building (N52, 7, W20).
        #[arg(long)]
        building: String,
        /// A residence hall's door (out of order: call the house manager).
        #[arg(long)]
        residence_hall: bool,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// The door registry.
    List {
        #[command(flatten)]
        admin: AdminOpts,
    },
}

#[derive(Subcommand)]
pub enum KeyAuthorizerCmd {
    /// Register a DLC's key authorizer (by their certificate's name).
    Set {
        #[arg(long)]
        dlc: String,
        /// Their `key-authorizer` certificate's name.
        #[arg(long)]
        handle: String,
        /// Their name, as people give it at the counter.
        #[arg(long)]
        name: String,
        /// Their work e-mail (notices go there).
        #[arg(long)]
        email: String,
        /// May order the DLC's master keys.
        #[arg(long)]
        master: bool,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Every key authorizer.
    List {
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Remove a key authorizer.
    Remove {
        #[arg(long)]
        dlc: String,
        #[arg(long)]
        handle: String,
        #[command(flatten)]
        admin: AdminOpts,
    },
}

#[derive(Subcommand)]
pub enum KeyOrderCmd {
    /// Submit a key order (as a key authorizer: --as-role key-authorizer --as HANDLE).
    Submit {
        #[arg(long)]
        dlc: String,
        /// `room` or `master`.
        #[arg(long)]
        kind: String,
        /// Rooms, comma-separated (E52-419,E52-420), for room keys.
        #[arg(long, value_delimiter = ',')]
        rooms: Vec<String>,
        #[arg(long, default_value_t = 1)]
        copies: u8,
        /// The cardholder the keys are for.
        #[arg(long)]
        recipient: u64,
        /// The Request Tracker number.
        #[arg(long)]
        rt: Option<String>,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Key orders (a key authorizer sees their own DLCs').
    List {
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// One order and its history.
    Show {
        #[arg(long)]
        order: u64,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// The keys are cut: notify the authorizer.
    Ready {
        #[arg(long)]
        order: u64,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Hand the keys over at 7-019 against the recipient's ID card.
    Pickup {
        #[arg(long)]
        order: u64,
        /// The access number the desk reader read from the card.
        #[arg(long)]
        number: String,
        /// The key authorizer's name, as the person gives it ...
        #[arg(long)]
        authorizer_name: Option<String>,
        /// ... or the Request Tracker number.
        #[arg(long)]
        rt: Option<String>,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// The person asks to return the keys: notify the authorizer.
    ReturnRequest {
        #[arg(long)]
        order: u64,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// The keys are back with the authorizer (as the key authorizer).
    Returned {
        #[arg(long)]
        order: u64,
        #[command(flatten)]
        admin: AdminOpts,
    },
}

#[derive(Subcommand)]
pub enum VideoCmd {
    /// The camera registry.
    Cameras {
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Submit a written installation or alteration request.
    Request {
        /// `install` or `alter`.
        #[arg(long)]
        kind: String,
        #[arg(long)]
        camera: String,
        /// A building or building-room code.
        #[arg(long)]
        location: String,
        /// Days of recording kept (at most 14).
        #[arg(long, default_value_t = 14)]
        days: u8,
        /// The written request's reference.
        #[arg(long)]
        document: String,
        #[arg(long)]
        contractor: Option<String>,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Installation and alteration requests.
    Requests {
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Approve or deny an installation or alteration (the Director or a designee).
    DecideRequest {
        #[arg(long)]
        request: u64,
        #[arg(long, conflicts_with = "deny", required_unless_present = "deny")]
        approve: bool,
        #[arg(long)]
        deny: bool,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Submit a written export request to the Director.
    Export {
        #[arg(long)]
        camera: String,
        /// RFC 3339.
        #[arg(long)]
        from: String,
        /// RFC 3339.
        #[arg(long)]
        to: String,
        #[arg(long)]
        document: String,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Export requests.
    Exports {
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Hold the exported clip (sealed) until the Director decides.
    Hold {
        #[arg(long)]
        export: u64,
        #[arg(long)]
        file: PathBuf,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Approve (release) or deny (delete, no appeal) an export.
    DecideExport {
        #[arg(long)]
        export: u64,
        #[arg(long, conflicts_with = "deny", required_unless_present = "deny")]
        approve: bool,
        #[arg(long)]
        deny: bool,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Collect an approved clip (its requester).
    Collect {
        #[arg(long)]
        export: u64,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        admin: AdminOpts,
    },
}

#[derive(Subcommand)]
pub enum PhotoCmd {
    /// Record the permission a digital release rests on.
    Permission {
        #[arg(long)]
        holder: u64,
        /// `dean` (students) or `written` (the person's).
        #[arg(long)]
        kind: String,
        #[arg(long)]
        reference: String,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Release the photo digitally to a DLC (on the recorded permission).
    Release {
        #[arg(long)]
        holder: u64,
        #[arg(long)]
        to_dlc: String,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Record a hard copy to one of the policy's recipients.
    HardCopy {
        #[arg(long)]
        holder: u64,
        /// undergraduate-academic-affairs, freshman-advisor,
        /// academic-department, faculty, counseling-student-support,
        /// housemaster.
        #[arg(long)]
        recipient: String,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// The person's single copy of their own photo.
    OwnCopy {
        #[arg(long)]
        holder: u64,
        /// `digital` (written to --out) or `hard-copy`.
        #[arg(long)]
        format: String,
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Every distribution of the photo and the permission on record.
    Distributions {
        #[arg(long)]
        holder: u64,
        #[command(flatten)]
        admin: AdminOpts,
    },
}
