//! Door events waiting for the appliance: bounded, in order, and kept
//! across a controller restart.
//!
//! An append-only file of fixed-size records, each with a CRC-32 of its
//! own bytes: `E` an event, `F` "everything up to this id is
//! forgotten" (acknowledged by the appliance, or dropped to stay within the
//! bound), `N` "ids continue above this one" (written first by a
//! compaction). An event is on disk (`fdatasync`) before it is offered to
//! the appliance; a forget need not be, since resending an acknowledged
//! event is harmless (the appliance journals it once).
//!
//! On open the file is replayed; a torn or damaged record ends the replay
//! and the file is cut there (a `kill -9` mid-append loses at most the
//! event being written, which was never offered). When the file holds far
//! more records than live events it is rewritten (temporary file, fsync,
//! rename, fsync of the directory).
//!
//! Event ids only grow, across restarts and even across the loss of the
//! file: a new id is the larger of the last id plus one and the current
//! time in microseconds.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use portcullis_protocol::{DoorEvent, DoorEventKind};

const RECORD: usize = 27;
const EVENT: u8 = b'E';
const FORGET: u8 = b'F';
const NEXT: u8 = b'N';

/// What opening the buffer found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Opened {
    /// Events waiting to be delivered.
    pub pending: usize,
    /// Bytes cut from the end: a torn or damaged record and what followed.
    pub cut_bytes: u64,
}

/// The outcome of [`EventBuffer::push`].
#[derive(Debug)]
pub struct Pushed {
    /// The event, with its id.
    pub event: DoorEvent,
    /// Oldest events dropped to stay within the bound.
    pub dropped: usize,
    /// Whether it reached the disk.
    pub persisted: io::Result<()>,
}

/// The buffer.
#[derive(Debug)]
pub struct EventBuffer {
    path: PathBuf,
    file: File,
    /// Bytes of whole, good records in the file.
    len: u64,
    records: usize,
    live: VecDeque<DoorEvent>,
    last_id: u64,
    max: usize,
}

fn encode(kind: u8, a: u64, door: u32, ev_kind: u8, begins: bool, b: u64) -> [u8; RECORD] {
    let mut r = [0u8; RECORD];
    r[0] = kind;
    r[1..9].copy_from_slice(&a.to_be_bytes());
    r[9..13].copy_from_slice(&door.to_be_bytes());
    r[13] = ev_kind;
    r[14] = u8::from(begins);
    r[15..23].copy_from_slice(&b.to_be_bytes());
    let crc = crc32fast::hash(&r[..23]);
    r[23..].copy_from_slice(&crc.to_be_bytes());
    r
}

fn event_record(e: &DoorEvent) -> [u8; RECORD] {
    encode(
        EVENT,
        e.event_id,
        e.door,
        e.kind.code(),
        e.begins,
        e.observed_us,
    )
}

enum Decoded {
    Event(DoorEvent),
    Forget(u64),
    Next(u64),
}

fn decode(r: &[u8]) -> Option<Decoded> {
    let crc = u32::from_be_bytes(r[23..27].try_into().ok()?);
    if crc32fast::hash(&r[..23]) != crc {
        return None;
    }
    let a = u64::from_be_bytes(r[1..9].try_into().ok()?);
    match r[0] {
        EVENT => Some(Decoded::Event(DoorEvent {
            event_id: a,
            door: u32::from_be_bytes(r[9..13].try_into().ok()?),
            kind: DoorEventKind::from_code(r[13])?,
            begins: match r[14] {
                0 => false,
                1 => true,
                _ => return None,
            },
            observed_us: u64::from_be_bytes(r[15..23].try_into().ok()?),
        })),
        FORGET => Some(Decoded::Forget(a)),
        NEXT => Some(Decoded::Next(a)),
        _ => None,
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
}

fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    File::open(dir.unwrap_or(Path::new(".")))?.sync_all()
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

impl EventBuffer {
    /// Opens (or creates) the buffer at `path`, keeping at most `max`
    /// events.
    pub fn open(path: &Path, max: usize) -> io::Result<(Self, Opened)> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = open_append(path)?;
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(0))?;
        file.read_to_end(&mut bytes)?;
        let mut live = VecDeque::new();
        let mut last_id = 0u64;
        let mut good = 0usize;
        let mut records = 0usize;
        for r in bytes.chunks_exact(RECORD) {
            let Some(d) = decode(r) else { break };
            match d {
                Decoded::Event(e) => {
                    last_id = last_id.max(e.event_id);
                    live.push_back(e);
                }
                Decoded::Forget(through) => {
                    while live.front().is_some_and(|e| e.event_id <= through) {
                        live.pop_front();
                    }
                    last_id = last_id.max(through);
                }
                Decoded::Next(floor) => last_id = last_id.max(floor),
            }
            good += RECORD;
            records += 1;
        }
        let cut = (bytes.len() - good) as u64;
        if cut > 0 {
            file.set_len(good as u64)?;
            file.sync_all()?;
        }
        let mut buf = Self {
            path: path.to_owned(),
            file,
            len: good as u64,
            records,
            live,
            last_id,
            max,
        };
        // A smaller bound than the file was written with.
        buf.enforce_bound()?;
        if buf.records > buf.live.len() + 1024 {
            buf.compact()?;
        }
        let pending = buf.live.len();
        Ok((
            buf,
            Opened {
                pending,
                cut_bytes: cut,
            },
        ))
    }

    fn append(&mut self, r: &[u8; RECORD], sync: bool) -> io::Result<()> {
        let res =
            self.file
                .write_all(r)
                .and_then(|()| if sync { self.file.sync_data() } else { Ok(()) });
        match res {
            Ok(()) => {
                self.len += RECORD as u64;
                self.records += 1;
                Ok(())
            }
            Err(e) => {
                // Leave no torn record behind for later appends to follow.
                let _ = self.file.set_len(self.len);
                Err(e)
            }
        }
    }

    /// Records a new event. It is kept in memory even if the file cannot
    /// be written ([`Pushed::persisted`] says so): it is still delivered
    /// unless the controller restarts first.
    pub fn push(&mut self, door: u32, kind: DoorEventKind, begins: bool) -> Pushed {
        let observed_us = now_us();
        let e = DoorEvent {
            event_id: (self.last_id + 1).max(observed_us),
            door,
            kind,
            begins,
            observed_us,
        };
        self.last_id = e.event_id;
        self.live.push_back(e);
        let written = self.append(&event_record(&e), true);
        let before = self.live.len();
        let bounded = self.enforce_bound();
        Pushed {
            event: e,
            dropped: before - self.live.len(),
            persisted: written.and(bounded.map(|_| ())),
        }
    }

    /// Drops the oldest events beyond the bound; how many.
    fn enforce_bound(&mut self) -> io::Result<usize> {
        let mut through = None;
        let mut n = 0;
        while self.live.len() > self.max {
            through = self.live.pop_front().map(|e| e.event_id);
            n += 1;
        }
        if let Some(t) = through {
            self.append(&encode(FORGET, t, 0, 0, false, 0), false)?;
        }
        Ok(n)
    }

    /// The appliance has every event up to `through`: they are forgotten.
    pub fn forget_through(&mut self, through: u64) -> io::Result<()> {
        let before = self.live.len();
        while self.live.front().is_some_and(|e| e.event_id <= through) {
            self.live.pop_front();
        }
        if self.live.len() == before {
            return Ok(());
        }
        self.append(&encode(FORGET, through, 0, 0, false, 0), false)?;
        if self.records > 4 * self.max.max(256) && self.records > 4 * self.live.len() {
            self.compact()?;
        }
        Ok(())
    }

    /// Rewrites the file with only the live events.
    fn compact(&mut self) -> io::Result<()> {
        let tmp = self.path.with_extension("compact");
        {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            let mut out = Vec::with_capacity((self.live.len() + 1) * RECORD);
            out.extend_from_slice(&encode(NEXT, self.last_id, 0, 0, false, 0));
            for e in &self.live {
                out.extend_from_slice(&event_record(e));
            }
            f.write_all(&out)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        sync_dir(&self.path)?;
        self.file = open_append(&self.path)?;
        self.records = self.live.len() + 1;
        self.len = (self.records * RECORD) as u64;
        Ok(())
    }

    /// Events with an id above `after`, oldest first.
    pub fn after(&self, after: u64) -> impl Iterator<Item = &DoorEvent> {
        let start = self.live.partition_point(|e| e.event_id <= after);
        self.live.range(start..)
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Records in the file (for tests of compaction).
    #[cfg(test)]
    pub fn records(&self) -> usize {
        self.records
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DoorEventKind::*;

    fn ids(b: &EventBuffer) -> Vec<u64> {
        b.after(0).map(|e| e.event_id).collect()
    }

    #[test]
    fn events_survive_reopen_in_order_and_forgotten_ones_stay_forgotten() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/events.log");
        let (mut b, o) = EventBuffer::open(&p, 100).unwrap();
        assert_eq!(o, Opened::default());
        let mut all = Vec::new();
        for i in 0..10 {
            let p = b.push(i, ForcedOpen, i % 2 == 0);
            p.persisted.unwrap();
            all.push(p.event.event_id);
        }
        assert!(all.windows(2).all(|w| w[0] < w[1]), "ids grow");
        b.forget_through(all[3]).unwrap();
        drop(b);
        let (b, o) = EventBuffer::open(&p, 100).unwrap();
        assert_eq!(o.pending, 6);
        assert_eq!(ids(&b), all[4..]);
        assert_eq!(b.after(all[6]).count(), 3);
        let e = b.after(0).next().unwrap();
        assert_eq!((e.door, e.kind, e.begins), (4, ForcedOpen, true));
        // A new id after reopening is above every earlier one.
        let mut b = b;
        let e = b.push(1, Tamper, true).event;
        assert!(e.event_id > *all.last().unwrap());
    }

    #[test]
    fn a_torn_tail_is_cut_and_what_came_before_is_kept() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("events.log");
        let (mut b, _) = EventBuffer::open(&p, 100).unwrap();
        for i in 0..3 {
            b.push(i, HeldOpen, true).persisted.unwrap();
        }
        drop(b);
        // Half a record, as a kill -9 mid-append leaves it.
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(&[EVENT, 1, 2, 3]).unwrap();
        drop(f);
        let (b, o) = EventBuffer::open(&p, 100).unwrap();
        assert_eq!((o.pending, o.cut_bytes), (3, 4));
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 3 * RECORD as u64);
        drop(b);
        // A damaged record in the middle ends the replay there.
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[RECORD + 5] ^= 0xFF;
        std::fs::write(&p, &bytes).unwrap();
        let (_, o) = EventBuffer::open(&p, 100).unwrap();
        assert_eq!((o.pending, o.cut_bytes), (1, 2 * RECORD as u64));
    }

    #[test]
    fn beyond_the_bound_the_oldest_are_dropped_and_counted() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("events.log");
        let (mut b, _) = EventBuffer::open(&p, 5).unwrap();
        let mut dropped = 0;
        let mut all = Vec::new();
        for i in 0..8 {
            let p = b.push(i, Tamper, true);
            p.persisted.unwrap();
            dropped += p.dropped;
            all.push(p.event.event_id);
        }
        assert_eq!(dropped, 3);
        assert_eq!(ids(&b), all[3..]);
        drop(b);
        let (b, _) = EventBuffer::open(&p, 5).unwrap();
        assert_eq!(ids(&b), all[3..]);
        // Reopened with a smaller bound.
        drop(b);
        let (b, _) = EventBuffer::open(&p, 2).unwrap();
        assert_eq!(ids(&b), all[6..]);
    }

    #[test]
    fn the_file_is_compacted_and_ids_keep_growing_after() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("events.log");
        let (mut b, _) = EventBuffer::open(&p, 10).unwrap();
        let mut last = 0;
        for i in 0..1500u32 {
            let p = b.push(i, ReaderOffline, true);
            p.persisted.unwrap();
            let e = p.event;
            assert!(e.event_id > last);
            last = e.event_id;
            b.forget_through(e.event_id).unwrap();
        }
        assert!(b.records() <= 4 * 256 + 2, "{}", b.records());
        let e = b.push(1, ReaderOffline, false).event;
        drop(b);
        let (mut b, o) = EventBuffer::open(&p, 10).unwrap();
        assert_eq!(o.pending, 1);
        assert_eq!(ids(&b), [e.event_id]);
        b.forget_through(e.event_id).unwrap();
        drop(b);
        let (mut b, o) = EventBuffer::open(&p, 10).unwrap();
        assert_eq!(o.pending, 0);
        let n = b.push(1, ReaderOffline, true).event;
        assert!(n.event_id > e.event_id, "ids grow past a compaction");
    }
}
