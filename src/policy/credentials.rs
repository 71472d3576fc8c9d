//! The in-memory credential map: every card, keyed by the keyed transform of
//! its access number, in a sharded open-addressing table.
//!
//! Look-ups take no lock: they copy the entry out under a per-shard sequence
//! number and retry if a writer was changing that shard. Nothing is held
//! across an `.await`.

use std::sync::atomic::{fence, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::crypto::numbers::Digest;
use crate::protocol::Reason;

/// Card states. Codes are stored; never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum CardStatus {
    /// In use.
    Active = 0,
    /// Revoked for good.
    Revoked = 1,
    /// Replaced by a newer card of the same person.
    Superseded = 2,
    /// Temporarily blocked.
    Suspended = 3,
}

impl CardStatus {
    /// From the stored code.
    pub fn from_code(c: u8) -> Option<Self> {
        match c {
            0 => Some(CardStatus::Active),
            1 => Some(CardStatus::Revoked),
            2 => Some(CardStatus::Superseded),
            3 => Some(CardStatus::Suspended),
            _ => None,
        }
    }
}

/// The largest card id the map can hold (40 bits: a trillion cards); the
/// card book issues and loads none above it.
pub const MAX_CARD_ID: u64 = (1 << 40) - 1;

/// What the map holds per credential: just enough to decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// The card's id (the journal's credential reference); at most
    /// [`MAX_CARD_ID`].
    pub card_id: u64,
    /// The cardholder's id (holder ids stay below 2^32, which keeps an entry
    /// at 24 bytes).
    pub holder: u32,
    /// Valid from (Unix seconds, inclusive).
    pub valid_from: u32,
    /// Valid until (Unix seconds, exclusive); 0 = no expiry.
    pub valid_until: u32,
    /// Status.
    pub status: CardStatus,
}

impl Entry {
    /// The card-level decision at `now` (Unix seconds).
    #[inline]
    pub fn card_reason(&self, now: u32) -> Reason {
        match self.status {
            CardStatus::Revoked => Reason::Revoked,
            CardStatus::Superseded => Reason::Superseded,
            CardStatus::Suspended => Reason::Suspended,
            CardStatus::Active if now < self.valid_from => Reason::NotYetValid,
            CardStatus::Active if self.valid_until != 0 && now >= self.valid_until => {
                Reason::Expired
            }
            CardStatus::Active => Reason::Granted,
        }
    }
}

/// The map's shards: a power of two. Readers take no lock whatever the
/// count; shards keep concurrent writers (the start-up load runs on several
/// threads) apart, and a change sends only its own shard's readers round
/// again. Few shards keep each table big enough for huge pages.
const SHARD_BITS: u32 = 4;
const SHARDS: usize = 1 << SHARD_BITS;
/// A shard's table grows when it would be more than 3/4 full, so probes
/// stay short and every probe sequence ends at an empty slot.
const MAX_LOAD_NUM: usize = 3;
const MAX_LOAD_DEN: usize = 4;
const MIN_SLOTS: usize = 16;
/// Set in a slot's second word when the slot holds a credential; a zeroed
/// slot is empty, so a fresh table is one zeroed allocation.
const OCCUPIED: u64 = 1 << 48;
/// The digest's low word keeps its low 48 bits in the slot; the top 16 bits
/// of that word hold the flag, the status and the card id's top 8 bits. The
/// 112 digest bits kept make two cards' keys equal with a probability of
/// about n²/2¹¹³ (10⁻²⁰ at 10 M cards), and issuing re-draws a number whose
/// key is taken.
const KEY_LOW_MASK: u64 = (1 << 48) - 1;

/// One credential in place, 32 bytes (two to a cache line, never across
/// one): the digest's high word (also its hash), then the low word's low 48
/// bits with the flag, status and card id bits 32-39, then card id bits
/// 0-31 with the holder, then the validity. Read and written as words so
/// that a reader racing a writer sees whole words (and the shard's sequence
/// tells it to retry).
#[repr(C)]
struct Slot([AtomicU64; 4]);

impl Slot {
    #[inline]
    fn words(k: [u64; 2], e: &Entry) -> [u64; 4] {
        debug_assert!(e.card_id <= MAX_CARD_ID);
        [
            k[0],
            (k[1] & KEY_LOW_MASK)
                | OCCUPIED
                | u64::from(e.status as u8) << 49
                | ((e.card_id >> 32) & 0xFF) << 56,
            (e.card_id & 0xFFFF_FFFF) | u64::from(e.holder) << 32,
            u64::from(e.valid_from) | u64::from(e.valid_until) << 32,
        ]
    }

    #[inline]
    fn unpack(w1: u64, w2: u64, w3: u64) -> Entry {
        Entry {
            card_id: (w1 >> 56) << 32 | (w2 & 0xFFFF_FFFF),
            holder: (w2 >> 32) as u32,
            valid_from: w3 as u32,
            valid_until: (w3 >> 32) as u32,
            // A validated read always holds a stored code; anything else
            // would be a torn read, and a torn read never denies less.
            status: CardStatus::from_code(((w1 >> 49) & 0x7) as u8).unwrap_or(CardStatus::Revoked),
        }
    }

    /// Whether this slot holds `k` (given the slot's first two words).
    #[inline]
    fn holds(w0: u64, w1: u64, k: [u64; 2]) -> bool {
        w0 == k[0] && (w1 & KEY_LOW_MASK) == (k[1] & KEY_LOW_MASK)
    }

    fn get(&self) -> [u64; 4] {
        std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed))
    }

    fn set(&self, w: [u64; 4]) {
        for (a, v) in self.0.iter().zip(w) {
            a.store(v, Ordering::Relaxed);
        }
    }
}

/// A table's slots: one zeroed allocation, started on a cache-line
/// boundary so that no slot spans two lines. Allocated with the system's
/// usual alignment (a large zeroed block then comes fresh from the kernel,
/// untouched, and can be backed by huge pages) and 64 bytes spare.
struct Slots {
    block: *mut u8,
    layout: std::alloc::Layout,
    first: *const Slot,
    len: usize,
}

// SAFETY: the slots are atomics; the block is owned and freed once.
unsafe impl Send for Slots {}
// SAFETY: as above; shared access goes through the atomics only.
unsafe impl Sync for Slots {}

impl Slots {
    fn zeroed(n: usize) -> Self {
        let size = n
            .checked_mul(std::mem::size_of::<Slot>())
            .and_then(|b| b.checked_add(64))
            .expect("table size");
        let layout = std::alloc::Layout::from_size_align(size, 16).expect("table size");
        // SAFETY: the layout is non-zero sized.
        let block = unsafe { std::alloc::alloc_zeroed(layout) };
        if block.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        let skip = block.align_offset(64);
        // SAFETY: `skip` < 64, so the first slot and the `n` after it lie
        // inside the block; an all-zero `AtomicU64` is a valid zero, so they
        // are `n` valid (empty) slots.
        let first = unsafe { block.add(skip) } as *const Slot;
        Slots {
            block,
            layout,
            first,
            len: n,
        }
    }
}

impl std::ops::Deref for Slots {
    type Target = [Slot];
    fn deref(&self) -> &[Slot] {
        // SAFETY: `first` points at `len` initialised slots that live as
        // long as `self`.
        unsafe { std::slice::from_raw_parts(self.first, self.len) }
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeroed` with this layout, freed once.
        unsafe { std::alloc::dealloc(self.block, self.layout) }
    }
}

/// One shard's open-addressing table (linear probing in Robin Hood order,
/// no removals).
struct Table {
    mask: usize,
    slots: Slots,
}

impl Table {
    fn new(slots: usize) -> Self {
        let n = slots
            .max(MIN_SLOTS)
            .checked_next_power_of_two()
            .expect("table size");
        Table {
            mask: n - 1,
            slots: Slots::zeroed(n),
        }
    }

    /// Slots this table may fill before it must grow.
    fn limit(&self) -> usize {
        (self.mask + 1) / MAX_LOAD_DEN * MAX_LOAD_NUM
    }

    /// How far the key in an occupied slot at `i` sits from its home (its
    /// first word is its hash).
    #[inline]
    fn displacement(&self, i: usize, k0: u64) -> usize {
        i.wrapping_sub(k0 as usize) & self.mask
    }

    /// The slot holding `k`, if present, with its second word. Writers call
    /// it under the shard's write lock; readers through [`Self::probe`],
    /// validated against the shard sequence. A miss ends at an empty slot or
    /// at a key nearer to its home than the sought key would be (it would
    /// have taken that slot); the walk is bounded even if a torn view showed
    /// no end on the way.
    #[inline]
    fn find(&self, k: [u64; 2], h: u64) -> Option<(&Slot, u64)> {
        let mut i = h as usize & self.mask;
        for d in 0..=self.mask {
            let s = &self.slots[i];
            let (w0, w1) = (
                s.0[0].load(Ordering::Relaxed),
                s.0[1].load(Ordering::Relaxed),
            );
            if w1 == 0 {
                return None;
            }
            if Slot::holds(w0, w1, k) {
                return Some((s, w1));
            }
            if self.displacement(i, w0) < d {
                return None;
            }
            i = (i + 1) & self.mask;
        }
        None
    }

    /// Places a key that is not present (Robin Hood: a key further from its
    /// home takes the slot of one nearer to its own, which moves on). Only
    /// under the shard's write lock, inside the sequence bump when the table
    /// is published.
    fn place(&self, words: [u64; 4]) {
        let mut carry = words;
        let mut i = carry[0] as usize & self.mask;
        let mut d = 0;
        loop {
            let s = &self.slots[i];
            if s.0[1].load(Ordering::Relaxed) == 0 {
                s.set(carry);
                return;
            }
            let here = s.get();
            let theirs = self.displacement(i, here[0]);
            if theirs < d {
                s.set(carry);
                carry = here;
                d = theirs;
            }
            i = (i + 1) & self.mask;
            d += 1;
        }
    }

    /// A reader's probe; the caller validates it against the shard sequence.
    #[inline]
    fn probe(&self, k: [u64; 2], h: u64) -> Option<Entry> {
        self.find(k, h).map(|(s, w1)| {
            Slot::unpack(
                w1,
                s.0[2].load(Ordering::Relaxed),
                s.0[3].load(Ordering::Relaxed),
            )
        })
    }
}

/// A shard: a sequence lock for readers, a mutex for writers, and the
/// current table. On its own cache line so readers of different shards do
/// not share one.
#[repr(align(64))]
struct Shard {
    /// Odd while a writer is changing a slot in place.
    seq: AtomicU64,
    /// The current table; never null.
    table: AtomicPtr<Table>,
    /// Writers, one at a time.
    write: Mutex<Writer>,
}

/// A shard's writer state.
struct Writer {
    /// Credentials in the shard.
    count: usize,
    /// Tables replaced by bigger ones. A reader may still be probing one,
    /// and readers take no lock and leave no trace, so a replaced table is
    /// kept until the map is dropped. Tables double, so this is at most the
    /// size of the current table; a map sized at start-up (as the card book
    /// sizes it) never grows and keeps none.
    /// Boxed on purpose: readers hold pointers to the `Table` itself, so
    /// it must stay where it was published, not move into the vector.
    #[allow(clippy::vec_box)]
    retired: Vec<Box<Table>>,
}

/// The credential map: 16 shards of open-addressing tables. A look-up
/// touches the shard header (hot in cache) and, nearly always, one slot:
/// the digest and its entry share the slot, so a miss to memory is one
/// cache line (or two adjacent), not a control byte and then a slot.
///
/// Look-ups take no lock and write nothing shared: they read the shard's
/// sequence number, probe, and retry if a writer changed the shard
/// meanwhile. A table that grows is replaced whole; the old one is kept
/// (see [`Writer::retired`]), so no reader ever reads freed memory.
pub struct CredentialMap {
    shards: Box<[Shard]>,
    len: AtomicUsize,
}

impl std::fmt::Debug for CredentialMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialMap")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl Default for CredentialMap {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl Drop for CredentialMap {
    fn drop(&mut self) {
        for s in self.shards.iter() {
            // SAFETY: `&mut self`: no reader or writer can hold the table;
            // it came from `Box::into_raw` and is freed once, here.
            drop(unsafe { Box::from_raw(s.table.load(Ordering::Relaxed)) });
        }
    }
}

/// How many entries ahead [`CredentialMap::insert_many`] prefetches: enough
/// misses in flight to cover a DRAM round trip, few enough to stay cached.
const PREFETCH_AHEAD: usize = 16;

/// A hint to bring the cache line holding `p` closer; never faults.
#[inline(always)]
fn prefetch_line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p as *const i8, std::arch::x86_64::_MM_HINT_T0)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Aborts the process if dropped, i.e. if a panic unwinds past it.
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        eprintln!("credential map: a change panicked half-way; stopping");
        std::process::abort();
    }
}

#[inline]
fn split(d: Digest) -> ([u64; 2], u64, usize) {
    let k = [(d >> 64) as u64, d as u64];
    // The digest is a block cipher's output: its high word is the hash as
    // it is. The shard from the top bits, the slot from the low bits.
    let h = k[0];
    (k, h, (h >> (64 - SHARD_BITS)) as usize)
}

impl CredentialMap {
    /// A map with room for `n` credentials before any table grows.
    pub fn with_capacity(n: usize) -> Self {
        let per_shard = n.div_ceil(SHARDS);
        let slots = (per_shard * MAX_LOAD_DEN).div_ceil(MAX_LOAD_NUM);
        let shards = (0..SHARDS)
            .map(|_| Shard {
                seq: AtomicU64::new(0),
                table: AtomicPtr::new(Box::into_raw(Box::new(Table::new(slots)))),
                write: Mutex::new(Writer {
                    count: 0,
                    retired: Vec::new(),
                }),
            })
            .collect();
        Self {
            shards,
            len: AtomicUsize::new(0),
        }
    }

    /// Looks up a digest.
    #[inline]
    pub fn get(&self, d: Digest) -> Option<Entry> {
        let (k, h, s) = split(d);
        let shard = &self.shards[s];
        let mut spins = 0u32;
        loop {
            let before = shard.seq.load(Ordering::Acquire);
            if before & 1 == 0 {
                // SAFETY: never null, and no table is freed while the map
                // lives (`Writer::retired`).
                let t = unsafe { &*shard.table.load(Ordering::Acquire) };
                let found = t.probe(k, h);
                fence(Ordering::Acquire);
                if shard.seq.load(Ordering::Relaxed) == before {
                    return found;
                }
            }
            // A writer is mid-change: spin briefly, then let it run (on two
            // cores it may be waiting for this one).
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Inserts or replaces.
    pub fn insert(&self, d: Digest, e: Entry) {
        // The card book never issues or loads a larger id; storing one
        // would give the journal another card's id, so refuse loudly before
        // anything changes.
        assert!(e.card_id <= MAX_CARD_ID, "card id beyond the map's 40 bits");
        let (k, h, s) = split(d);
        let shard = &self.shards[s];
        let mut w = shard.write.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: never null; only writers (holding the lock) replace it,
        // and a replaced table lives as long as the map.
        let table = unsafe { &*shard.table.load(Ordering::Acquire) };
        let words = Slot::words(k, &e);
        let found = table.find(k, h).map(|(slot, _)| slot);
        if found.is_none() && w.count + 1 > table.limit() {
            // Grow: build the bigger table aside, with the new entry in it,
            // then publish it whole. Readers of the old one see it unchanged
            // until they are done with it.
            let bigger = Table::new((table.mask + 1) * 2);
            for old in table.slots.iter() {
                if old.0[1].load(Ordering::Relaxed) != 0 {
                    bigger.place(old.get());
                }
            }
            bigger.place(words);
            // Room first: nothing may fail between publishing the new table
            // and keeping the old one (a failure there would free a table
            // readers may be probing).
            w.retired.reserve(1);
            let old = shard
                .table
                .swap(Box::into_raw(Box::new(bigger)), Ordering::Release);
            // SAFETY: from `Box::into_raw`, and now unreachable for writers;
            // kept, not freed, for readers still probing it.
            w.retired.push(unsafe { Box::from_raw(old) });
        } else {
            // In place: readers that overlap the change see the sequence
            // move and look again.
            let seq = shard.seq.load(Ordering::Relaxed);
            shard.seq.store(seq + 1, Ordering::Relaxed);
            fence(Ordering::Release);
            // Nothing here can panic (masked indices, no allocation); if it
            // ever did, the shard would be left odd and half-written, and
            // every reader of it would wait for ever: stop the process
            // loudly instead.
            let abort = AbortOnUnwind;
            match found {
                Some(slot) => slot.set(words),
                None => table.place(words),
            }
            std::mem::forget(abort);
            shard.seq.store(seq + 2, Ordering::Release);
        }
        if found.is_none() {
            w.count += 1;
            self.len.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Inserts or replaces many, in order (as [`Self::insert`] one by one),
    /// asking the CPU for each slot a few entries before it is written: a
    /// large table misses the cache on every insert, and this way the
    /// misses overlap instead of queueing one after another (start-up).
    pub fn insert_many(&self, items: &[(Digest, Entry)]) {
        for (i, (d, e)) in items.iter().enumerate() {
            if let Some((ahead, _)) = items.get(i + PREFETCH_AHEAD) {
                self.prefetch(*ahead);
            }
            self.insert(*d, *e);
        }
    }

    /// Starts loading the cache line(s) of `d`'s home slot. Only a hint: a
    /// table replaced meanwhile costs a wasted fetch, nothing else.
    #[inline]
    fn prefetch(&self, d: Digest) {
        let (_, h, s) = split(d);
        // SAFETY: never null, and no table is freed while the map lives.
        let t = unsafe { &*self.shards[s].table.load(Ordering::Acquire) };
        // One line: slots never span two.
        prefetch_line(&t.slots[h as usize & t.mask] as *const Slot as *const u8);
    }

    /// Number of credentials.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a digest is present.
    pub fn contains(&self, d: Digest) -> bool {
        self.get(d).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(status: CardStatus) -> Entry {
        Entry {
            card_id: 1,
            holder: 1,
            valid_from: 100,
            valid_until: 200,
            status,
        }
    }

    #[test]
    fn card_reasons() {
        assert_eq!(entry(CardStatus::Active).card_reason(150), Reason::Granted);
        assert_eq!(
            entry(CardStatus::Active).card_reason(99),
            Reason::NotYetValid
        );
        assert_eq!(entry(CardStatus::Active).card_reason(200), Reason::Expired);
        assert_eq!(entry(CardStatus::Revoked).card_reason(150), Reason::Revoked);
        assert_eq!(
            entry(CardStatus::Superseded).card_reason(150),
            Reason::Superseded
        );
        assert_eq!(
            entry(CardStatus::Suspended).card_reason(150),
            Reason::Suspended
        );
        let mut open = entry(CardStatus::Active);
        open.valid_until = 0;
        assert_eq!(open.card_reason(u32::MAX), Reason::Granted);
    }

    #[test]
    fn slots_stay_small() {
        assert_eq!(std::mem::size_of::<Entry>(), 24);
        assert_eq!(std::mem::size_of::<Slot>(), 32);
    }

    fn stamped(x: u32) -> Entry {
        Entry {
            card_id: u64::from(x),
            holder: x,
            valid_from: x,
            valid_until: x,
            status: CardStatus::Active,
        }
    }

    /// A batch (start-up) leaves the map as inserting one by one would:
    /// the same entries, later ones replacing earlier ones, growth on the
    /// way.
    #[test]
    fn a_batch_is_the_same_as_one_by_one() {
        let keys: Vec<Digest> = (1..=20_000u128)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835))
            .collect();
        // Every key twice, the second time with another entry.
        let items: Vec<(Digest, Entry)> = keys
            .iter()
            .enumerate()
            .map(|(i, &k)| (k, stamped(i as u32)))
            .chain(keys.iter().step_by(3).map(|&k| (k, stamped(7))))
            .collect();
        let (batched, single) = (
            CredentialMap::with_capacity(100),
            CredentialMap::with_capacity(100),
        );
        for chunk in items.chunks(1000) {
            batched.insert_many(chunk);
        }
        for &(k, e) in &items {
            single.insert(k, e);
        }
        assert_eq!(batched.len(), keys.len());
        assert_eq!(single.len(), keys.len());
        for (i, &k) in keys.iter().enumerate() {
            let want = if i % 3 == 0 {
                stamped(7)
            } else {
                stamped(i as u32)
            };
            assert_eq!(batched.get(k), Some(want));
            assert_eq!(single.get(k), Some(want));
        }
    }

    #[test]
    fn grows_and_keeps_everything() {
        let m = CredentialMap::with_capacity(0);
        let keys: Vec<Digest> = (1..=50_000u128)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835))
            .collect();
        for (i, &k) in keys.iter().enumerate() {
            m.insert(k, stamped(i as u32));
        }
        assert_eq!(m.len(), keys.len());
        for (i, &k) in keys.iter().enumerate() {
            assert_eq!(m.get(k), Some(stamped(i as u32)));
        }
        // Replacing does not count twice.
        m.insert(keys[7], stamped(1));
        assert_eq!(m.len(), keys.len());
        assert_eq!(m.get(keys[7]), Some(stamped(1)));
        // The zero digest is a key like any other.
        assert!(m.get(0).is_none());
        m.insert(0, stamped(3));
        assert_eq!(m.get(0), Some(stamped(3)));
        assert!(m.get(u128::MAX).is_none());
    }

    /// Readers racing writers never see a torn entry, never lose a present
    /// key while tables grow under them, and see each key's stamps only go
    /// forward.
    #[test]
    fn readers_racing_writers_and_growth_see_whole_entries() {
        use std::sync::atomic::AtomicBool;
        let m = CredentialMap::with_capacity(0);
        let hot: Vec<Digest> = (1..=64u128).map(|i| i << 70 | i).collect();
        for &k in &hot {
            m.insert(k, stamped(1));
        }
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            // Rewrites the hot keys with ever larger stamps.
            s.spawn(|| {
                for x in 2..200_000u32 {
                    m.insert(hot[x as usize % hot.len()], stamped(x));
                }
            });
            // Adds new keys so every shard's table grows several times.
            s.spawn(|| {
                for i in 0..300_000u128 {
                    m.insert(
                        (i + 1).wrapping_mul(0xff51_afd7_ed55_8ccd_c4ce_b9fe_1a85_ec53),
                        stamped(7),
                    );
                }
                stop.store(true, Ordering::Release);
            });
            for _ in 0..2 {
                s.spawn(|| {
                    let mut last = vec![0u32; hot.len()];
                    let mut rounds = 0u64;
                    while !stop.load(Ordering::Acquire) || rounds < 1000 {
                        for (j, &k) in hot.iter().enumerate() {
                            let e = m.get(k).expect("a present key vanished");
                            assert_eq!(
                                (e.card_id, e.holder, e.valid_from),
                                (u64::from(e.valid_until), e.valid_until, e.valid_until),
                                "torn entry"
                            );
                            assert!(e.valid_until >= last[j], "a stamp went backwards");
                            // This key's own stamps only: 1, then those
                            // written to index j.
                            assert!(
                                e.valid_until == 1 || e.valid_until as usize % hot.len() == j,
                                "another key's entry"
                            );
                            last[j] = e.valid_until;
                        }
                        rounds += 1;
                    }
                });
            }
        });
        assert_eq!(m.len(), hot.len() + 300_000);
    }

    /// A card flipped between active and revoked while readers look: the
    /// status they see always belongs with the rest of the entry they see.
    #[test]
    fn status_flips_are_never_seen_torn() {
        use std::sync::atomic::AtomicBool;
        let m = CredentialMap::with_capacity(16);
        // Keys whose high word (the hash) is 0: one shard, one home slot,
        // one long probe chain that every look-up walks.
        let keys: Vec<Digest> = (0..32u128).collect();
        let flip = |x: u64| Entry {
            card_id: x,
            holder: x as u32,
            valid_from: 0,
            valid_until: 0,
            status: if x % 2 == 0 {
                CardStatus::Active
            } else {
                CardStatus::Revoked
            },
        };
        for &k in &keys {
            m.insert(k, flip(0));
        }
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                for x in 1..300_000u64 {
                    m.insert(keys[x as usize % keys.len()], flip(x));
                }
                stop.store(true, Ordering::Release);
            });
            s.spawn(|| {
                let mut looks = 0u64;
                while !stop.load(Ordering::Acquire) || looks < 10_000 {
                    for &k in &keys {
                        let e = m.get(k).expect("present");
                        assert_eq!(e, flip(e.card_id), "torn status");
                        looks += 1;
                    }
                }
            });
        });
    }

    /// Every field survives the 32-byte packing at its limits, and keys
    /// that differ in any kept digest bit stay apart.
    #[test]
    fn slots_keep_every_field_at_its_limits() {
        let m = CredentialMap::with_capacity(16);
        let statuses = [
            CardStatus::Active,
            CardStatus::Revoked,
            CardStatus::Superseded,
            CardStatus::Suspended,
        ];
        let mut keys = Vec::new();
        for (i, status) in statuses.into_iter().enumerate() {
            let e = Entry {
                card_id: MAX_CARD_ID - i as u64,
                holder: u32::MAX - i as u32,
                valid_from: u32::MAX - 1,
                valid_until: u32::MAX,
                status,
            };
            // The top bit of the high word, the lowest kept bit of the low
            // word, and bit 47 (the highest kept).
            for d in [
                (1u128 << 127) | i as u128,
                (i as u128) << 64 | 1,
                (i as u128) << 64 | 1 << 47,
            ] {
                m.insert(d, e);
                keys.push((d, e));
            }
        }
        assert_eq!(m.len(), keys.len());
        for (d, e) in keys {
            assert_eq!(m.get(d), Some(e));
        }
        // A key that differs from a stored one in a single kept bit is
        // another key: the lowest and highest kept bits of the low word,
        // the lowest and highest of the high word.
        let lone = CredentialMap::with_capacity(16);
        let d = 0x1234_5678_9abc_def0_0fed_cba9_8765_4321u128;
        lone.insert(d, entry(CardStatus::Active));
        for bit in [0, 47, 64, 127] {
            assert!(lone.get(d ^ (1u128 << bit)).is_none(), "bit {bit} ignored");
        }
        // The bits not kept are the low word's top 16.
        assert!(lone.get(d ^ (1u128 << 48)).is_some());
        // Slots start on a cache line.
        // SAFETY: never null while the map lives.
        let t = unsafe { &*lone.shards[0].table.load(Ordering::Acquire) };
        assert_eq!(t.slots.first as usize % 64, 0);
    }

    #[test]
    #[should_panic(expected = "40 bits")]
    fn a_card_id_beyond_40_bits_is_refused() {
        CredentialMap::default().insert(
            1,
            Entry {
                card_id: MAX_CARD_ID + 1,
                ..entry(CardStatus::Active)
            },
        );
    }

    #[test]
    fn map_round_trip() {
        let m = CredentialMap::default();
        m.insert(5, entry(CardStatus::Active));
        assert_eq!(m.get(5).unwrap().card_id, 1);
        assert!(m.get(6).is_none());
        assert_eq!(m.len(), 1);
    }
}
