// SPDX-License-Identifier: GPL-2.0
//! Consistency checks the C driver does not make.
//!
//! Every internal block of an arena must have exactly one owner: a map entry
//! or a lane's free slot. A block owned twice means that a write will one day
//! overwrite live data (a corrupted map or flog); open refuses such an image
//! instead of corrupting it further.

use super::device::{ArenaInfo, Config, InfoSource};
use super::error::Error;
use super::flog::{inc_seq, LogEntry, LogIndices, LOG_ENT_SIZE, LOG_GRP_SIZE, LOG_SEQ_INIT};
use super::info::{self, InfoBlock, INFO_SIZE};
use super::layout::ARENA_MIN_SIZE;
use super::map::{self, MAP_ENT_SIZE};
use super::media::Media;
use super::open::{
    backup_info_offset, detect_indices, field_offset, info_is_valid, newest_entry, parse_arena,
    read_group, read_map_raw, write_log_entry,
};
use super::platform::Platform;

/// Map entries read at once (64 KiB, from the heap: a 512 GiB arena has
/// 128 Mi entries, and fewer, larger reads keep attach time down).
const MAP_CHUNK: usize = 16 * 1024;

struct Bitmap<P: Platform> {
    words: P::Slice<u64>,
}

impl<P: Platform> Bitmap<P> {
    fn new(bits: u32) -> Result<Self, Error> {
        Ok(Self {
            words: P::try_slice(bits.div_ceil(64) as usize, |_| 0)?,
        })
    }

    /// Sets bit `i`; `false` if it was already set or is out of range.
    fn claim(&mut self, i: u32) -> bool {
        match self.words.get_mut((i / 64) as usize) {
            Some(w) => {
                let bit = 1u64 << (i % 64);
                let was = *w & bit != 0;
                *w |= bit;
                !was
            }
            None => false,
        }
    }
}

/// Reads the map entry of `premap` into `ent` (4 bytes).
fn read_map_entry<M: Media>(
    media: &M,
    a: &ArenaInfo,
    premap: u32,
    ent: &mut [u8],
) -> Result<(), Error> {
    media.read(a.map_entry_offset(premap).ok_or(Error::Invalid)?, ent)
}

/// Calls `f(premap, raw entry)` for every map entry of arena `a`, reading the
/// map in [`MAP_CHUNK`]-entry heap chunks. A chunk that fails to read is an
/// error, unless `skip_unreadable`: then it is read entry by entry and the
/// unreadable entries are left out (a media error in the map costs only the
/// sectors whose entries it covers, as with C).
fn for_each_map_entry<M: Media, P: Platform>(
    media: &M,
    a: &ArenaInfo,
    skip_unreadable: bool,
    f: impl FnMut(u32, u32) -> Result<(), Error>,
) -> Result<(), Error> {
    if skip_unreadable {
        for_each_readable_map_entry::<M, P>(media, a, |_| {}, f)
    } else {
        walk_map::<M, P>(media, a, None, f)
    }
}

/// As [`for_each_map_entry`] with `skip_unreadable`, calling
/// `unreadable(premap)` for each entry left out.
fn for_each_readable_map_entry<M: Media, P: Platform>(
    media: &M,
    a: &ArenaInfo,
    mut unreadable: impl FnMut(u32),
    f: impl FnMut(u32, u32) -> Result<(), Error>,
) -> Result<(), Error> {
    walk_map::<M, P>(media, a, Some(&mut unreadable), f)
}

fn walk_map<M: Media, P: Platform>(
    media: &M,
    a: &ArenaInfo,
    mut unreadable: Option<&mut dyn FnMut(u32)>,
    mut f: impl FnMut(u32, u32) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut raw = P::try_slice(MAP_CHUNK * MAP_ENT_SIZE as usize, |_| 0u8)?;
    let mut premap = 0u32;
    while premap < a.external_nlba {
        let n = (a.external_nlba - premap).min(MAP_CHUNK as u32) as usize;
        let buf = raw
            .get_mut(..n * MAP_ENT_SIZE as usize)
            .ok_or(Error::Invalid)?;
        let off = a.map_entry_offset(premap).ok_or(Error::Invalid)?;
        let whole = match media.read(off, buf) {
            Ok(()) => true,
            Err(e) if unreadable.is_none() => return Err(e),
            Err(_) => false,
        };
        for (i, ent) in buf.chunks_exact_mut(MAP_ENT_SIZE as usize).enumerate() {
            let p = premap + i as u32;
            if !whole && read_map_entry(media, a, p, ent).is_err() {
                if let Some(u) = unreadable.as_mut() {
                    u(p);
                }
                continue;
            }
            f(p, u32::from_le_bytes([ent[0], ent[1], ent[2], ent[3]]))?;
        }
        premap += n as u32;
    }
    Ok(())
}

/// What [`block_ownership`] found that leaves the arena readable but not
/// writable.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Ownership {
    /// A lane's newest flog entry is invalid, or its free block has another
    /// owner ([`Error::Corrupt`]).
    pub(super) flog: Option<Error>,
    /// Map entries or log groups that did not read ([`Error::Media`]): the
    /// blocks they own cannot be placed, so ownership is not proven.
    pub(super) unreadable: Option<Error>,
}

/// Checks that every block of arena `a` has one owner, taking into account
/// a map update that open will roll forward from the flog. Reads the whole
/// map; needs a transient bitmap of `internal_nlba` bits.
///
/// A map entry out of range or naming a block another entry names is an
/// error: some sector would read another's data. A lane whose newest flog
/// entry is invalid, or whose free block has another owner, is returned in
/// [`Ownership::flog`]: every sector still reads its own data, only a write
/// could overwrite live data, so the arena can still be served read-only.
/// Map entries and log groups that fail to read (a media error) are left
/// out and their range returned in [`Ownership::unreadable`], for the same
/// reason: the sectors whose entries read are served, the rest fail.
pub(super) fn block_ownership<M: Media, P: Platform>(
    media: &M,
    a: &ArenaInfo,
) -> Result<Ownership, Error> {
    let mut owned = Bitmap::<P>::new(a.internal_nlba)?;
    let mut out = Ownership::default();
    let mut bad_map = super::open::Unreadable::default();
    for_each_readable_map_entry::<M, P>(
        media,
        a,
        |p| bad_map.add("map", a.map_entry_offset(p), MAP_ENT_SIZE),
        |p, ent| {
            let post = map::Mapping::decode(p, ent).postmap;
            // The offset only for the error: this runs once per block.
            let at = || a.map_entry_offset(p).unwrap_or(0);
            if post >= a.internal_nlba {
                return Err(Error::Corrupt {
                    field: "map entry beyond internal_nlba",
                    offset: at(),
                });
            }
            if !owned.claim(post) {
                return Err(Error::Corrupt {
                    field: "map entry names a block already mapped",
                    offset: at(),
                });
            }
            Ok(())
        },
    )?;
    let mut bad = bad_map;
    let idx = LogIndices(a.log_index);
    for lane in 0..a.nfree {
        let log = match read_group(media, a, lane) {
            Ok(log) => log,
            Err(Error::Io) => {
                bad.add("flog", a.log_group_offset(lane), LOG_GRP_SIZE);
                continue;
            }
            Err(e) => return Err(e),
        };
        let ent = match newest_entry(a, idx, lane, &log) {
            Ok((_, ent)) => ent,
            Err(e) => {
                out.flog = Some(e);
                break;
            }
        };
        let old = map::ent_lba(ent.old_map);
        let new = map::ent_lba(ent.new_map);
        let Ok(raw) = read_map_raw(media, a, ent.lba) else {
            // Unreadable map entry: this lane's block cannot be placed.
            bad.add("map", a.map_entry_offset(ent.lba), MAP_ENT_SIZE);
            continue;
        };
        let cur = map::Mapping::decode(ent.lba, raw).postmap;
        // An interrupted write: the map still names `old`, which becomes the
        // free block once open rolls the map forward to `new`.
        let block = if old != new && cur == old { new } else { old };
        if !owned.claim(block) {
            out.flog = Some(Error::Corrupt {
                field: "flog free block is mapped or free in another lane",
                offset: a.log_group_offset(lane).unwrap_or(0),
            });
            break;
        }
    }
    out.unreadable = bad.error();
    Ok(out)
}

// ---------------------------------------------------------------------------
// A full report (`btt check`), and repairs (`btt check --repair`).
// ---------------------------------------------------------------------------

/// Who owns a data block, in a [`Finding::DoubleOwner`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The map entry of this premap block.
    Map(u32),
    /// The free block of this flog lane.
    Lane(u32),
}

/// One thing [`check_btt`] found, in media order. Only some are problems
/// (see [`Finding::is_problem`]); every offset is from the start of the BTT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finding {
    /// An arena, with the geometry open uses (not a problem).
    Arena {
        /// Arena number.
        index: usize,
        /// Its geometry, log indices and the info block it came from.
        info: ArenaInfo,
    },
    /// The flog has the padding of kernels before 4.15, live entries in
    /// slots (0, 2) (C `log_index`; not a problem).
    OldPadding {
        /// Arena number.
        arena: usize,
        /// Offset of the flog (C `logoff`).
        offset: u64,
    },
    /// An info block is invalid: `field` (C `struct btt_sb` member) at `offset`.
    InfoBlock {
        /// Arena number.
        arena: usize,
        /// Whether it is the backup (C `info2off`) rather than the primary.
        backup: bool,
        /// The C name of the field at fault.
        field: &'static str,
        /// Byte offset of that field.
        offset: u64,
        /// Whether the other copy is valid (then `--repair` restores this one from it).
        other_valid: bool,
    },
    /// Both info blocks are valid but differ; the first differing byte is at `offset`.
    InfoMismatch {
        /// Arena number.
        arena: usize,
        /// Offset of the first differing byte in the backup.
        offset: u64,
    },
    /// The info block carries `IB_FLAG_ERROR`: the arena takes no writes.
    ErrorFlag {
        /// Arena number.
        arena: usize,
        /// Offset of `flags`.
        offset: u64,
    },
    /// The arena cannot be used (its error names the field and offset);
    /// nothing after it is checked.
    Unusable {
        /// Arena number.
        arena: usize,
        /// Why.
        error: Error,
    },
    /// The flog cannot be read as C does: no padding scheme (`lane` is where
    /// it broke), or a lane's newest entry is invalid.
    Flog {
        /// Arena number.
        arena: usize,
        /// Flog lane.
        lane: u32,
        /// What is wrong, with the offset of the log group.
        error: Error,
    },
    /// A write was cut between its flog entry and its map update: the map
    /// entry at `offset` still names `old`, the flog names `new`. A writable
    /// open rolls the map forward (C `btt_freelist_init()`).
    PendingMapUpdate {
        /// Arena number.
        arena: usize,
        /// Flog lane of the write.
        lane: u32,
        /// Premap block written.
        premap: u32,
        /// Offset of its map entry.
        offset: u64,
        /// Block the map names.
        old: u32,
        /// Block the flog says the write filled.
        new: u32,
    },
    /// A map entry names a block beyond `internal_nlba`.
    MapOutOfRange {
        /// Arena number.
        arena: usize,
        /// Premap block.
        premap: u32,
        /// Offset of the map entry.
        offset: u64,
        /// The block it names.
        block: u32,
    },
    /// A block has a second owner (`owner`, whose entry is at `offset`): one
    /// day a write will overwrite live data.
    DoubleOwner {
        /// Arena number.
        arena: usize,
        /// The block.
        block: u32,
        /// The second owner found.
        owner: Owner,
        /// Offset of the second owner's map entry or log group.
        offset: u64,
    },
    /// A block nobody owns (lost space; the C layout has none).
    Unowned {
        /// Arena number.
        arena: usize,
        /// The block.
        block: u32,
        /// Offset of the block's data.
        offset: u64,
    },
}

impl Finding {
    /// Whether this is a problem (`btt check` exits 1), not a note.
    pub fn is_problem(&self) -> bool {
        !matches!(self, Finding::Arena { .. } | Finding::OldPadding { .. })
    }
}

impl core::fmt::Display for Finding {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Finding::Arena { index, info } => write!(
                f,
                "arena {index} at {:#x}: {} blocks of {} bytes, log_index ({}, {}), info block from the {}",
                info.infooff,
                info.external_nlba,
                info.external_lbasize,
                info.log_index[0],
                info.log_index[1],
                match info.info_source {
                    InfoSource::Primary => "primary",
                    InfoSource::Backup => "backup (info2)",
                }
            ),
            Finding::OldPadding { arena, offset } => write!(
                f,
                "arena {arena}: flog at {offset:#x} has the pre-4.15 (0, 2) padding"
            ),
            Finding::InfoBlock {
                arena,
                backup,
                field,
                offset,
                other_valid,
            } => write!(
                f,
                "arena {arena}: {} info block invalid: field {field} at byte offset {offset:#x}{}",
                if backup { "backup (info2)" } else { "primary" },
                if other_valid {
                    " (the other copy is valid: --repair restores it)"
                } else {
                    ""
                }
            ),
            Finding::InfoMismatch { arena, offset } => write!(
                f,
                "arena {arena}: info blocks differ, first at byte offset {offset:#x} of info2"
            ),
            Finding::ErrorFlag { arena, offset } => write!(
                f,
                "arena {arena}: flags at byte offset {offset:#x} has IB_FLAG_ERROR (read-only)"
            ),
            Finding::Unusable { arena, error } => write!(f, "arena {arena}: unusable: {error}"),
            Finding::Flog { arena, lane, error } => {
                write!(f, "arena {arena}: flog lane {lane}: {error}")
            }
            Finding::PendingMapUpdate {
                arena,
                lane,
                premap,
                offset,
                old,
                new,
            } => write!(
                f,
                "arena {arena}: map entry {premap} at byte offset {offset:#x} names block {old}, \
                 flog lane {lane} says {new}: interrupted write (--repair rolls it forward)"
            ),
            Finding::MapOutOfRange {
                arena,
                premap,
                offset,
                block,
            } => write!(
                f,
                "arena {arena}: map entry {premap} at byte offset {offset:#x} names block {block}, \
                 beyond internal_nlba"
            ),
            Finding::DoubleOwner {
                arena,
                block,
                owner,
                offset,
            } => match owner {
                Owner::Map(p) => write!(
                    f,
                    "arena {arena}: block {block} owned twice: map entry {p} at byte offset {offset:#x} \
                     names a block already owned"
                ),
                Owner::Lane(l) => write!(
                    f,
                    "arena {arena}: block {block} owned twice: free block of flog lane {l} \
                     (log group at byte offset {offset:#x}) is mapped or another lane's"
                ),
            },
            Finding::Unowned {
                arena,
                block,
                offset,
            } => write!(
                f,
                "arena {arena}: block {block} (data at byte offset {offset:#x}) has no owner"
            ),
        }
    }
}

/// What [`check_btt`] saw overall.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckSummary {
    /// Arenas found.
    pub arenas: usize,
    /// Findings that are problems.
    pub problems: usize,
    /// External blocks of the arenas found.
    pub nlba: u64,
}

/// Checks the BTT on `media` as `ndctl check-namespace` does, and more,
/// without writing and without stopping at the first problem: both info
/// blocks of each arena, the arena chain, the flog padding scheme and every
/// lane's newest entry, interrupted writes, and that every block of each
/// arena has exactly one owner. Calls `report` for each [`Finding`].
///
/// `cfg.lbasize` must match the BTT's; `cfg.uuid` all zero accepts any
/// backup info block (else it must carry that uuid); `cfg.nlanes` is the
/// smallest `nfree` accepted. Fails with [`Error::NotFound`] when the media
/// has no BTT, and with the media's error when a read fails.
pub fn check_btt<M: Media, P: Platform>(
    media: &M,
    cfg: &Config,
    mut report: impl FnMut(&Finding),
) -> Result<CheckSummary, Error> {
    let rawsize = media.size();
    let mut sum = CheckSummary::default();
    let mut emit = |fd: Finding, sum: &mut CheckSummary| {
        if fd.is_problem() {
            sum.problems += 1;
        }
        report(&fd);
    };
    let mut buf = P::try_slice(2 * INFO_SIZE, |_| 0u8)?;
    let (p_raw, b_raw) = buf.split_at_mut(INFO_SIZE);
    let p_raw: &mut [u8; INFO_SIZE] = p_raw.try_into().map_err(|_| Error::Invalid)?;
    let b_raw: &mut [u8; INFO_SIZE] = b_raw.try_into().map_err(|_| Error::Invalid)?;
    let mut off = 0u64;
    let mut index = 0usize;
    loop {
        if rawsize.saturating_sub(off) < ARENA_MIN_SIZE {
            if index == 0 {
                return Err(Error::NoSpace);
            }
            let error = Error::BadInfo {
                field: "nextoff",
                offset: off,
            };
            emit(
                Finding::Unusable {
                    arena: index,
                    error,
                },
                &mut sum,
            );
            break;
        }
        media.read(off, p_raw)?;
        let primary = info_is_valid(p_raw, cfg);
        // The backup: where the primary says, else where C puts it.
        let b_off = match primary {
            Ok(sb) => sb.info2off.checked_add(off).filter(|e| {
                e.checked_add(INFO_SIZE as u64)
                    .is_some_and(|end| end <= rawsize)
            }),
            Err(_) => backup_info_offset(off, rawsize),
        };
        let backup = match b_off {
            Some(b) => {
                media.read(b, b_raw)?;
                match info_is_valid(b_raw, cfg) {
                    Ok(sb2) if cfg.uuid != [0; 16] && sb2.uuid != cfg.uuid => Err("uuid"),
                    r => r,
                }
            }
            None => Err("info2off"),
        };
        if index == 0 && primary == Err("signature") && backup.is_err() {
            return Err(Error::NotFound);
        }
        if let Err(field) = primary {
            let offset = off + field_offset(field) as u64;
            let other_valid = backup.is_ok();
            let fd = Finding::InfoBlock {
                arena: index,
                backup: false,
                field,
                offset,
                other_valid,
            };
            emit(fd, &mut sum);
        }
        if let (Err(field), Some(b)) = (backup, b_off) {
            let fd = Finding::InfoBlock {
                arena: index,
                backup: true,
                field,
                offset: b + field_offset(field) as u64,
                other_valid: primary.is_ok(),
            };
            emit(fd, &mut sum);
        }
        if let (Ok(_), Ok(_), Some(b)) = (primary, backup, b_off) {
            if let Some(i) = p_raw.iter().zip(b_raw.iter()).position(|(x, y)| x != y) {
                let fd = Finding::InfoMismatch {
                    arena: index,
                    offset: b + i as u64,
                };
                emit(fd, &mut sum);
            }
        }
        let (sb, source) = match (primary, backup) {
            (Ok(sb), _) => (sb, InfoSource::Primary),
            (Err(_), Ok(sb)) => (sb, InfoSource::Backup),
            (Err(field), Err(_)) => {
                let error = Error::BadInfo {
                    field,
                    offset: off + field_offset(field) as u64,
                };
                emit(
                    Finding::Unusable {
                        arena: index,
                        error,
                    },
                    &mut sum,
                );
                break;
            }
        };
        let mut a = match parse_arena(&sb, off, rawsize, cfg, source) {
            Ok(a) => a,
            Err(error) => {
                emit(
                    Finding::Unusable {
                        arena: index,
                        error,
                    },
                    &mut sum,
                );
                break;
            }
        };
        a.external_lba_start = sum.nlba;
        sum.nlba += u64::from(a.external_nlba);
        sum.arenas += 1;
        let idx = detect_indices(media, &a);
        if let Ok(idx) = idx {
            a.log_index = idx.0;
        }
        emit(Finding::Arena { index, info: a }, &mut sum);
        if a.has_error_flag() {
            let fd = Finding::ErrorFlag {
                arena: index,
                offset: off + info::OFF_FLAGS as u64,
            };
            emit(fd, &mut sum);
        }
        match idx {
            Ok(LogIndices::OLD) => emit(
                Finding::OldPadding {
                    arena: index,
                    offset: a.logoff,
                },
                &mut sum,
            ),
            Ok(_) => {}
            Err(error) => {
                let lane = match error {
                    Error::Corrupt { offset, .. } => {
                        (offset.saturating_sub(a.logoff) / LOG_GRP_SIZE) as u32
                    }
                    _ => 0,
                };
                emit(
                    Finding::Flog {
                        arena: index,
                        lane,
                        error,
                    },
                    &mut sum,
                );
            }
        }
        if idx.is_ok() {
            arena_ownership::<M, P>(media, index, &a, &mut |fd| emit(fd, &mut sum))?;
        }
        if a.nextoff == 0 {
            break;
        }
        off = a.nextoff;
        index += 1;
    }
    Ok(sum)
}

/// The flog lanes and block ownership of one arena, for [`check_btt`].
fn arena_ownership<M: Media, P: Platform>(
    media: &M,
    index: usize,
    a: &ArenaInfo,
    emit: &mut dyn FnMut(Finding),
) -> Result<(), Error> {
    let idx = LogIndices(a.log_index);
    let mut owned = Bitmap::<P>::new(a.internal_nlba)?;
    for_each_map_entry::<M, P>(media, a, false, |p, ent| {
        let block = map::Mapping::decode(p, ent).postmap;
        let offset = a.map_entry_offset(p).unwrap_or(0);
        if block >= a.internal_nlba {
            emit(Finding::MapOutOfRange {
                arena: index,
                premap: p,
                offset,
                block,
            });
        } else if !owned.claim(block) {
            emit(Finding::DoubleOwner {
                arena: index,
                block,
                owner: Owner::Map(p),
                offset,
            });
        }
        Ok(())
    })?;
    for lane in 0..a.nfree {
        let offset = a.log_group_offset(lane).unwrap_or(0);
        let log = read_group(media, a, lane)?;
        let ent = match newest_entry(a, idx, lane, &log) {
            Ok((_, ent)) => ent,
            Err(error) => {
                emit(Finding::Flog {
                    arena: index,
                    lane,
                    error,
                });
                continue;
            }
        };
        let old = map::ent_lba(ent.old_map);
        let new = map::ent_lba(ent.new_map);
        let cur = map::Mapping::decode(ent.lba, read_map_raw(media, a, ent.lba)?).postmap;
        let block = if old != new && cur == old {
            emit(Finding::PendingMapUpdate {
                arena: index,
                lane,
                premap: ent.lba,
                offset: a.map_entry_offset(ent.lba).unwrap_or(0),
                old,
                new,
            });
            new
        } else {
            old
        };
        if !owned.claim(block) {
            emit(Finding::DoubleOwner {
                arena: index,
                block,
                owner: Owner::Lane(lane),
                offset,
            });
        }
    }
    for (w, word) in owned.words.iter().enumerate() {
        if *word == u64::MAX {
            continue;
        }
        for bit in 0..64u32 {
            let block = (w as u32) * 64 + bit;
            if block < a.internal_nlba && word & (1 << bit) == 0 {
                emit(Finding::Unowned {
                    arena: index,
                    block,
                    offset: a.block_offset(block).unwrap_or(0),
                });
            }
        }
    }
    Ok(())
}

/// Mends the flog of arena `a` (for `btt check --repair`): every lane whose
/// newest entry is invalid, or whose free block has a second owner, gets a
/// fresh group as C's `btt_log_init()` writes it (slot 0: `lba` = the lane,
/// `old_map` = `new_map` = a free block, `seq` 1; the rest zero), its block
/// one that nobody owns. When the padding scheme cannot be told, every lane
/// is rebuilt so. Lanes that are sound are left as they are, interrupted
/// writes included (the next writable open rolls them forward).
///
/// The map must be sound (entries in range, no block named twice): with a
/// sound map exactly as many blocks are unowned as lanes are rebuilt.
///
/// A repair cut short at any write, even one torn at any 8-byte word, leaves
/// every lane it rebuilds either as it was, invalid, or rebuilt, never with
/// a valid entry that was not there (which a writable open would roll
/// forward, pointing a sector at another's block), so the next run mends it.
/// A lane's validity rests on its newest entry, and which entry is newest
/// on the sequence numbers alone. So first every lane to rebuild gets an
/// `lba` no arena has in slot 0 and in every live slot ([`LBA_INVALID`],
/// with the `old_map` half: which slot is newest does not change, and
/// whichever it is becomes invalid); only then are the groups rewritten,
/// each slot's half with the sequence number zeroed before the other, and
/// slot 0 written `new_map`/`seq` first, `lba`/`old_map` last. (Zeroing a
/// group in one 64-byte write could leave slot 0 zero and slot 1 with
/// `lba` = `old_map` = 0 and its old `new_map` and `seq`: a valid entry
/// rolling sector 0 forward to that block.) Calls `done(lane, block,
/// offset)` for each group rewritten; returns their number.
pub fn repair_flog<M: Media, P: Platform>(
    media: &M,
    a: &ArenaInfo,
    mut done: impl FnMut(u32, u32, u64),
) -> Result<u32, Error> {
    let mut owned = Bitmap::<P>::new(a.internal_nlba)?;
    for_each_map_entry::<M, P>(media, a, false, |p, ent| {
        let block = map::Mapping::decode(p, ent).postmap;
        if block >= a.internal_nlba || !owned.claim(block) {
            return Err(Error::Corrupt {
                field: "map (not repaired: the flog is mended only over a sound map)",
                offset: a.map_entry_offset(p).unwrap_or(0),
            });
        }
        Ok(())
    })?;
    let idx = detect_indices(media, a).ok();
    let mut bad = P::try_slice(a.nfree as usize, |_| idx.is_none())?;
    if let Some(idx) = idx {
        for (lane, bad) in (0..a.nfree).zip(bad.iter_mut()) {
            let log = read_group(media, a, lane)?;
            let Ok((_, ent)) = newest_entry(a, idx, lane, &log) else {
                *bad = true;
                continue;
            };
            let (old, new) = (map::ent_lba(ent.old_map), map::ent_lba(ent.new_map));
            let cur = map::Mapping::decode(ent.lba, read_map_raw(media, a, ent.lba)?).postmap;
            let block = if old != new && cur == old { new } else { old };
            *bad = !owned.claim(block);
        }
    }
    // Every lane's new block, before anything is written.
    let mut fresh = P::try_slice(a.nfree as usize, |_| None::<u32>)?;
    let mut next = 0u32;
    for ((lane, bad), fresh) in (0..a.nfree).zip(bad.iter()).zip(fresh.iter_mut()) {
        if !*bad {
            continue;
        }
        while next < a.internal_nlba && !owned.claim(next) {
            next += 1;
        }
        if next >= a.internal_nlba {
            return Err(Error::Corrupt {
                field: "flog (not repaired: no unowned block left for a lane)",
                offset: a.log_group_offset(lane).unwrap_or(0),
            });
        }
        *fresh = Some(next);
    }
    // Every lane to rebuild made invalid, whichever slot is its newest.
    for (lane, _) in (0..a.nfree).zip(fresh.iter()).filter(|(_, f)| f.is_some()) {
        let log = read_group(media, a, lane)?;
        for slot in 0..4u32 {
            let e = log.slot(slot);
            if (slot == 0 || !e.is_padding()) && e.lba != LBA_INVALID {
                write_log_half(media, a, lane, slot, 0, [LBA_INVALID, LBA_INVALID])?;
            }
        }
    }
    let mut n = 0;
    for (lane, block) in (0..a.nfree).zip(fresh.iter()) {
        let Some(block) = *block else {
            continue;
        };
        let off = a.log_group_offset(lane).ok_or(Error::Invalid)?;
        let log = read_group(media, a, lane)?;
        for slot in 1..4u32 {
            if !log.slot(slot).is_padding() {
                write_log_half(media, a, lane, slot, 1, [0, 0])?;
                write_log_half(media, a, lane, slot, 0, [0, 0])?;
            }
        }
        let lba = lane % a.external_nlba.max(1);
        write_log_half(media, a, lane, 0, 1, [block, LOG_SEQ_INIT])?;
        write_log_half(media, a, lane, 0, 0, [lba, block])?;
        done(lane, block, off);
        n += 1;
    }
    Ok(n)
}

/// An `lba` beyond any arena (whose `external_nlba` is below 2^30): a flog
/// entry that carries it is invalid whatever its sequence number, here and
/// in C (whose map read of it fails).
pub const LBA_INVALID: u32 = u32::MAX;

/// Writes one half of slot `slot` of lane `lane`'s log group, one aligned
/// 8-byte write (atomic): half 0 is `lba`, `old_map`; half 1 `new_map`,
/// `seq` (little-endian, as [`LogEntry::encode`]).
fn write_log_half<M: Media>(
    media: &M,
    a: &ArenaInfo,
    lane: u32,
    slot: u32,
    half: u64,
    words: [u32; 2],
) -> Result<(), Error> {
    let off = a
        .log_group_offset(lane)
        .and_then(|o| o.checked_add(u64::from(slot) * LOG_ENT_SIZE + half * 8))
        .ok_or(Error::Invalid)?;
    let mut raw = [0u8; 8];
    raw[..4].copy_from_slice(&words[0].to_le_bytes());
    raw[4..].copy_from_slice(&words[1].to_le_bytes());
    media.write(off, &raw)
}

/// Copies the info block at `from` over the one at `to` (restoring a primary
/// from its backup or the other way), if the one at `from` has a valid
/// checksum and signature. One 4096-byte write.
pub fn copy_info_block<M: Media>(media: &M, from: u64, to: u64) -> Result<(), Error> {
    let mut raw = [0u8; INFO_SIZE];
    media.read(from, &mut raw)?;
    let sb = InfoBlock::decode(&raw);
    if !sb.signature_ok() || !info::checksum_ok(&raw) {
        return Err(Error::BadInfo {
            field: "checksum",
            offset: from + info::OFF_CHECKSUM as u64,
        });
    }
    media.write(to, &raw)
}

/// Rewrites the flog of arena `a` from the pre-4.15 (0, 2) padding to the
/// (0, 1) padding: in each log group whose slot 2 is live, slot 2 is copied
/// to slot 1, then slot 2 is zeroed (each 16-byte entry in two aligned
/// 8-byte halves; slot 2's half with the sequence number zeroed first).
/// Calls `done(lane, offset)` for each group changed.
///
/// Looks at each group's bytes only (not at the detected scheme), so it also
/// finishes a run that was interrupted: a group caught between the copy and
/// the zeroing has three live entries, which no kernel opens, until this is
/// run again. A group caught within the copy or the zeroing has in slot 1
/// and slot 2 two parts of one entry (each 8-byte half either zero or the
/// entry's): that entry, not slot 2 as it is, is what goes to slot 1. (A
/// torn slot 2 copied as it is could be `lba` = `old_map` = 0 with a live
/// `new_map` and `seq`: a valid entry rolling sector 0 forward to that
/// block.) Returns the number of groups changed.
pub fn rewrite_log_padding<M: Media>(
    media: &M,
    a: &ArenaInfo,
    mut done: impl FnMut(u32, u64),
) -> Result<u32, Error> {
    let mut n = 0;
    for lane in 0..a.nfree {
        let log = read_group(media, a, lane)?;
        let e2 = log.slot(2);
        if e2.is_padding() {
            continue;
        }
        let info = ArenaInfo {
            logoff: a.logoff,
            ..ArenaInfo::default()
        };
        let (r1, r2) = (log.slot(1).encode(), e2.encode());
        let parts = |h: usize| {
            let (x, y) = (&r1[h * 8..h * 8 + 8], &r2[h * 8..h * 8 + 8]);
            let zero = |v: &[u8]| v.iter().all(|b| *b == 0);
            zero(x) || zero(y) || x == y
        };
        let mut ent = e2;
        if parts(0) && parts(1) {
            let mut raw = r2;
            for (m, o) in raw.iter_mut().zip(r1) {
                // Half by half the two agree or one is zero: take the other.
                *m |= o;
            }
            ent = LogEntry::decode(&raw);
        }
        if log.slot(1) != ent {
            write_log_entry(media, &info, lane, 1, &ent)?;
        }
        write_log_half(media, &info, lane, 2, 1, [0, 0])?;
        write_log_half(media, &info, lane, 2, 0, [0, 0])?;
        done(lane, a.log_group_offset(lane).unwrap_or(0));
        n += 1;
    }
    Ok(n)
}

/// Gives the flog of arena `a` the pre-4.15 (0, 2) padding (for images that
/// test old-padding compatibility, issue 8 item 5).
///
/// A group in its initial state (slot 0 live only) gets a second entry in
/// slot 2 that changes nothing: the same lane, `old_map` = `new_map` = the
/// lane's free block, the next sequence number. Both C and this core then
/// find the scheme (0, 2), and the free block stays the same. A group in
/// the (0, 1) scheme has slot 1 moved to slot 2 (copy, then zero slot 1).
/// Calls `done(lane, offset)` for each group changed; returns their number.
pub fn set_old_padding<M: Media>(
    media: &M,
    a: &ArenaInfo,
    mut done: impl FnMut(u32, u64),
) -> Result<u32, Error> {
    let info = ArenaInfo {
        logoff: a.logoff,
        ..ArenaInfo::default()
    };
    let mut n = 0;
    for lane in 0..a.nfree {
        let log = read_group(media, a, lane)?;
        let (e0, e1, e2) = (log.slot(0), log.slot(1), log.slot(2));
        if !e2.is_padding() || e0.is_padding() {
            continue;
        }
        if e1.is_padding() {
            let ent = LogEntry {
                lba: e0.lba,
                old_map: e0.old_map,
                new_map: map::ent_lba(e0.old_map),
                seq: inc_seq(e0.seq),
            };
            write_log_entry(media, &info, lane, 2, &ent)?;
        } else {
            write_log_entry(media, &info, lane, 2, &e1)?;
            write_log_entry(media, &info, lane, 1, &LogEntry::default())?;
        }
        done(lane, a.log_group_offset(lane).unwrap_or(0));
        n += 1;
    }
    Ok(n)
}
