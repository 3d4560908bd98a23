// SPDX-License-Identifier: GPL-2.0
//! Opening a BTT: finding and validating its arenas, creating a fresh layout
//! when there is none, and recovering from an interrupted write (C:
//! `discover_arenas()`, `create_arenas()`, `btt_meta_init()`,
//! `btt_freelist_init()`, `log_set_indices()`).
//!
//! Open works in two passes. The first only reads: it validates every info
//! block, every flog entry and (with [`Config::full_check`]) the ownership of
//! every block. Only when all of it is consistent does the second pass write:
//! it rolls interrupted map updates forward from the flog and zeroes free
//! blocks that carry a media error. So an image that is rejected is never
//! written.
//!
//! Unlike the C driver, an arena whose primary info block is invalid is opened
//! from its backup (`info2`) when that one is valid and belongs to the same
//! BTT, and a fresh layout is only written over media that has no BTT
//! signature at all: C writes a new BTT over any namespace whose first info
//! block fails its checksum, losing the data.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::check;
use super::device::{
    checked_sector_size, next_id, Arena, ArenaInfo, Btt, Config, FreeEntry, InfoSource, Lane,
    PendingEntry,
};
use super::error::Error;
use super::flog::{
    inc_seq, LogEntry, LogGroup, LogIndices, LOG_ENT_SIZE, LOG_GRP_SIZE, LOG_SEQ_INIT,
};
use super::info::{self, InfoBlock, INFO_SIZE};
use super::layout::{self, ArenaLayout, ARENA_MAX_SIZE, ARENA_MIN_SIZE, BTT_PG_SIZE};
use super::map::{self, MAP_ENT_SIZE, MAP_LBA_MASK};
use super::media::Media;
use super::platform::Platform;

/// Map locks per arena. The C driver has `nfree` spinlocks per arena; the
/// number only spreads contention and is not part of the format.
pub const MAP_LOCKS: usize = 256;

/// Largest internal block size accepted from an info block (the largest
/// supported external size, 4224, rounded up to 64).
const MAX_INTERNAL_LBASIZE: u32 = 4224;

/// The lanes of a freshly opened [`Btt`], handed out once, in lane order.
///
/// The kernel moves each one into its lane mutex; nothing else can reach a
/// lane's state afterwards.
pub struct LaneSet<P: Platform> {
    lanes: P::Slice<Option<Lane<P>>>,
    next: usize,
}

impl<P: Platform> Iterator for LaneSet<P> {
    type Item = Lane<P>;

    fn next(&mut self) -> Option<Lane<P>> {
        let lane = self.lanes.get_mut(self.next)?.take();
        self.next += 1;
        lane
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.lanes.len().saturating_sub(self.next);
        (n, Some(n))
    }
}

impl<P: Platform> ExactSizeIterator for LaneSet<P> {}

/// What the first (read-only) pass found for one arena.
#[derive(Clone, Copy, Default)]
pub(super) struct Found {
    pub(super) info: ArenaInfo,
    /// The flog's padding scheme could not be told (C `log_set_indices()`
    /// failed): the arena can only be read.
    pub(super) flog_damage: Option<Error>,
    /// Log groups that did not read, so that the padding scheme could not be
    /// told either ([`Error::Media`]): the arena can only be read.
    pub(super) media_damage: Option<Error>,
}

/// The byte range of the metadata that failed to read, growing as more
/// unreadable units of the same structure are found; units of another
/// structure than the first are not recorded (one range is reported).
#[derive(Clone, Copy, Default)]
pub(super) struct Unreadable(Option<(&'static str, u64, u64)>);

impl Unreadable {
    /// Records the `len` bytes at `offset` (if known) of structure `what`.
    pub(super) fn add(&mut self, what: &'static str, offset: Option<u64>, len: u64) {
        let Some(start) = offset else {
            return;
        };
        let end = start.saturating_add(len);
        self.0 = match self.0 {
            None => Some((what, start, end)),
            Some((w, s, e)) if w == what => Some((w, s.min(start), e.max(end))),
            other => other,
        };
    }

    /// Records the range of `e`, an [`Error::Media`] (anything else is ignored).
    pub(super) fn merge(&mut self, e: Option<Error>) {
        if let Some(Error::Media { what, offset, len }) = e {
            self.add(what, Some(offset), len);
        }
    }

    /// The range as an [`Error::Media`], if any unit failed to read.
    pub(super) fn error(&self) -> Option<Error> {
        self.0.map(|(what, start, end)| Error::Media {
            what,
            offset: start,
            len: end - start,
        })
    }
}

fn bad(field: &'static str, arena_off: u64, field_off: usize) -> Error {
    Error::BadInfo {
        field,
        offset: arena_off + field_off as u64,
    }
}

/// Two info blocks' worth of heap memory: 4 KiB buffers do not belong on a
/// kernel stack.
pub(super) struct Scratch<'a> {
    primary: &'a mut [u8; INFO_SIZE],
    backup: &'a mut [u8; INFO_SIZE],
}

impl<'a> Scratch<'a> {
    /// Splits `buf` (at least `2 * INFO_SIZE` bytes) into two info block buffers.
    pub(super) fn new(buf: &'a mut [u8]) -> Result<Self, Error> {
        let (a, rest) = buf.split_at_mut_checked(INFO_SIZE).ok_or(Error::Invalid)?;
        let b = rest.get_mut(..INFO_SIZE).ok_or(Error::Invalid)?;
        Ok(Self {
            primary: a.try_into().map_err(|_| Error::Invalid)?,
            backup: b.try_into().map_err(|_| Error::Invalid)?,
        })
    }
}

/// C `nd_btt_arena_is_valid()`: signature, checksum and parent uuid.
///
/// The checksum is checked before the parent uuid, so that `"parent_uuid"`
/// means an intact info block of another namespace (a BTT left behind when the
/// namespace was destroyed and a new one made over it), not a damaged one.
pub(super) fn info_is_valid(
    raw: &[u8; INFO_SIZE],
    cfg: &Config,
) -> Result<InfoBlock, &'static str> {
    let sb = InfoBlock::decode(raw);
    if !sb.signature_ok() {
        return Err("signature");
    }
    if !info::checksum_ok(raw) {
        return Err("checksum");
    }
    if sb.parent_uuid != [0; 16] && sb.parent_uuid != cfg.parent_uuid {
        return Err("parent_uuid");
    }
    Ok(sb)
}

/// Byte offset of the field named `field` in an info block, for error reports.
pub(super) fn field_offset(field: &str) -> usize {
    match field {
        "signature" => info::OFF_SIGNATURE,
        "parent_uuid" => info::OFF_PARENT_UUID,
        "checksum" => info::OFF_CHECKSUM,
        _ => 0,
    }
}

/// Checks the fields of a checksummed info block of the arena at `arena_off`
/// against each other, the configuration and the media, and returns the
/// arena's geometry with absolute offsets (C `parse_arena_meta()`, plus the
/// checks C lacks).
pub(super) fn parse_arena(
    sb: &InfoBlock,
    arena_off: u64,
    rawsize: u64,
    cfg: &Config,
    source: InfoSource,
) -> Result<ArenaInfo, Error> {
    let b = |field, off| bad(field, arena_off, off);
    match (sb.version_major, sb.version_minor) {
        (1, 1) | (2, 0) => {}
        _ => return Err(b("version_major", info::OFF_VERSION_MAJOR)),
    }
    if sb.external_lbasize != cfg.lbasize {
        return Err(b("external_lbasize", info::OFF_EXTERNAL_LBASIZE));
    }
    if sb.internal_lbasize < sb.external_lbasize || sb.internal_lbasize > MAX_INTERNAL_LBASIZE {
        return Err(b("internal_lbasize", info::OFF_INTERNAL_LBASIZE));
    }
    // C: "nfree %u smaller than lane count %d".
    if sb.nfree == 0 || sb.nfree < cfg.nlanes || sb.nfree > sb.internal_nlba {
        return Err(b("nfree", info::OFF_NFREE));
    }
    if sb.internal_nlba == 0 || sb.internal_nlba > MAP_LBA_MASK {
        return Err(b("internal_nlba", info::OFF_INTERNAL_NLBA));
    }
    if sb.external_nlba != sb.internal_nlba - sb.nfree {
        return Err(b("external_nlba", info::OFF_EXTERNAL_NLBA));
    }
    let room = rawsize - arena_off;
    let datasize = u64::from(sb.internal_nlba) * u64::from(sb.internal_lbasize);
    let mapsize = u64::from(sb.external_nlba) * MAP_ENT_SIZE;
    let logsize = u64::from(sb.nfree) * LOG_GRP_SIZE;
    if sb.dataoff < INFO_SIZE as u64
        || sb
            .dataoff
            .checked_add(datasize)
            .is_none_or(|e| e > sb.mapoff)
    {
        return Err(b("dataoff", info::OFF_DATAOFF));
    }
    if sb.mapoff % MAP_ENT_SIZE != 0 || sb.mapoff.checked_add(mapsize).is_none_or(|e| e > sb.logoff)
    {
        return Err(b("mapoff", info::OFF_MAPOFF));
    }
    // Flog entries are written in aligned 8-byte halves, which must be atomic.
    if sb.logoff % LOG_ENT_SIZE != 0
        || sb
            .logoff
            .checked_add(logsize)
            .is_none_or(|e| e > sb.info2off)
    {
        return Err(b("logoff", info::OFF_LOGOFF));
    }
    let info2_end = sb.info2off.checked_add(INFO_SIZE as u64);
    if info2_end.is_none_or(|e| e > room) {
        return Err(b("info2off", info::OFF_INFO2OFF));
    }
    let size = if sb.nextoff == 0 {
        sb.info2off + BTT_PG_SIZE
    } else {
        if info2_end.is_none_or(|e| e > sb.nextoff) || sb.nextoff >= room {
            return Err(b("nextoff", info::OFF_NEXTOFF));
        }
        sb.nextoff
    };
    Ok(ArenaInfo {
        size,
        external_lba_start: 0,
        internal_nlba: sb.internal_nlba,
        internal_lbasize: sb.internal_lbasize,
        external_nlba: sb.external_nlba,
        external_lbasize: sb.external_lbasize,
        nfree: sb.nfree,
        version_major: sb.version_major,
        version_minor: sb.version_minor,
        sector_size: layout::sector_size_for(sb.external_lbasize),
        nextoff: if sb.nextoff == 0 {
            0
        } else {
            arena_off + sb.nextoff
        },
        infooff: arena_off,
        dataoff: arena_off + sb.dataoff,
        mapoff: arena_off + sb.mapoff,
        logoff: arena_off + sb.logoff,
        info2off: arena_off + sb.info2off,
        flags: sb.flags,
        log_index: [0, 1],
        info_source: source,
    })
}

/// Where C `create_arenas()` puts the backup info block of the arena at
/// `arena_off`: at the end of that arena, whose size is fixed by the space
/// left. Used to find the backup when the primary cannot be trusted.
pub(super) fn backup_info_offset(arena_off: u64, rawsize: u64) -> Option<u64> {
    let remaining = rawsize.checked_sub(arena_off)?;
    Some(arena_off + layout::arena0_info2off(remaining.min(ARENA_MAX_SIZE))?)
}

/// The result of looking for the info block of one arena.
enum Probe {
    /// A usable info block.
    Found(InfoBlock, InfoSource),
    /// Neither the primary nor the backup carries a BTT signature.
    Blank,
}

/// Finds the info block of the arena at `arena_off`: the primary, else the
/// backup if it is valid and belongs to this BTT (same uuid, when the caller
/// knows it).
fn probe_arena<M: Media>(
    media: &M,
    arena_off: u64,
    cfg: &Config,
    scratch: &mut Scratch<'_>,
) -> Result<Probe, Error> {
    let rawsize = media.size();
    let raw = &mut *scratch.primary;
    // A primary that does not read is treated as an invalid one: the backup
    // may still describe the arena. Nothing is written either way.
    let primary = match media.read(arena_off, raw) {
        Ok(()) => info_is_valid(raw, cfg),
        Err(Error::Io) => Err("unreadable"),
        Err(e) => return Err(e),
    };
    if let Ok(sb) = primary {
        return Ok(Probe::Found(sb, InfoSource::Primary));
    }
    if let Some(off2) = backup_info_offset(arena_off, rawsize) {
        let raw2 = &mut *scratch.backup;
        match media.read(off2, raw2) {
            Ok(()) => {}
            // Neither copy can be used, and blank media cannot be told from
            // a BTT whose backup is unreadable: no new layout over it.
            Err(Error::Io) => {
                return Err(Error::Media {
                    what: "backup info block",
                    offset: off2,
                    len: INFO_SIZE as u64,
                })
            }
            Err(e) => return Err(e),
        }
        if let Ok(sb2) = info_is_valid(raw2, cfg) {
            let ours = cfg.uuid == [0; 16] || sb2.uuid == cfg.uuid;
            if ours && arena_off + sb2.info2off == off2 {
                return Ok(Probe::Found(sb2, InfoSource::Backup));
            }
        }
    }
    // No signature in the primary and no backup of ours: blank media, or the
    // leftover of an earlier BTT that was reconfigured (ndctl clears only the
    // primary), which must not be resurrected. An intact BTT whose parent is
    // another namespace is such a leftover too: C ("No existing arenas") and
    // ndctl (btt-errors.sh re-creates a namespace over one) expect a new BTT.
    if primary == Err("signature") || primary == Err("parent_uuid") {
        return Ok(Probe::Blank);
    }
    if primary == Err("unreadable") {
        return Err(Error::Media {
            what: "info block",
            offset: arena_off,
            len: INFO_SIZE as u64,
        });
    }
    let field = primary.err().unwrap_or("checksum");
    Err(bad(field, arena_off, field_offset(field)))
}

/// Reads the log group of flog lane `lane`.
pub(super) fn read_group<M: Media>(media: &M, a: &ArenaInfo, lane: u32) -> Result<LogGroup, Error> {
    let off = a.log_group_offset(lane).ok_or(Error::Invalid)?;
    let mut raw = [0u8; LOG_GRP_SIZE as usize];
    media.read(off, &mut raw)?;
    Ok(LogGroup::decode(&raw))
}

/// Reads the raw map entry of `premap`.
pub(super) fn read_map_raw<M: Media>(media: &M, a: &ArenaInfo, premap: u32) -> Result<u32, Error> {
    let off = a.map_entry_offset(premap).ok_or(Error::Invalid)?;
    let mut raw = [0u8; 4];
    media.read(off, &mut raw)?;
    Ok(u32::from_le_bytes(raw))
}

/// Writes the raw map entry of `premap` (one aligned 4-byte write).
pub(super) fn write_map_raw<M: Media>(
    media: &M,
    a: &ArenaInfo,
    premap: u32,
    raw: u32,
) -> Result<(), Error> {
    let off = a.map_entry_offset(premap).ok_or(Error::Invalid)?;
    media.write_unfenced(off, &raw.to_le_bytes())?;
    // D4 of a sector write: the map entry is durable before it is
    // acknowledged (and, in recovery, before the lane is handed out).
    media.flush()
}

/// Writes flog entry `ent` into slot `slot` of lane `lane`'s group, in two
/// aligned 8-byte halves (C `__btt_log_write()`): `lba` and `old_map` first,
/// then `new_map` and `seq`, so the sequence number lands last.
pub(super) fn write_log_entry<M: Media>(
    media: &M,
    a: &ArenaInfo,
    lane: u32,
    slot: u32,
    ent: &LogEntry,
) -> Result<(), Error> {
    let off = a
        .log_group_offset(lane)
        .and_then(|o| o.checked_add(u64::from(slot) * LOG_ENT_SIZE))
        .ok_or(Error::Invalid)?;
    let raw = ent.encode();
    let (lo, hi) = raw.split_at(8);
    media.write_unfenced(off, lo)?;
    // D2: the first half (lba, old_map), and a sector write's data block
    // before it, are durable before the half with the sequence number, which
    // makes the entry the lane's newest.
    media.flush()?;
    media.write_unfenced(off + 8, hi)?;
    // D3: the whole entry is durable before the caller updates the map.
    media.flush()
}

/// The newest entry of each lane's group, validated against the arena.
pub(super) fn newest_entry(
    a: &ArenaInfo,
    idx: LogIndices,
    lane: u32,
    log: &LogGroup,
) -> Result<(usize, LogEntry), Error> {
    let at = |field| Error::Corrupt {
        field,
        offset: a.log_group_offset(lane).unwrap_or(0),
    };
    let (new, ent) = idx.newest(log).ok_or(at("flog seq (log corruption)"))?;
    if ent.seq == 0 || ent.seq > 3 {
        return Err(at("flog seq"));
    }
    if ent.lba >= a.external_nlba {
        return Err(at("flog lba"));
    }
    if map::ent_lba(ent.old_map) >= a.internal_nlba {
        return Err(at("flog old_map"));
    }
    if map::ent_lba(ent.new_map) >= a.internal_nlba {
        return Err(at("flog new_map"));
    }
    Ok((new, ent))
}

/// Writes a fresh layout over the whole media (C `create_arenas()` +
/// `btt_meta_init()` -> `btt_arena_write_layout()`): per arena the map is
/// zeroed (identity), the flog gets one entry per lane naming the lane's free
/// block, then the backup info block and last the primary one, so a layout
/// cut short by a power failure has no valid primary.
fn create_layout<M: Media>(
    media: &M,
    cfg: &Config,
    scratch: &mut Scratch<'_>,
) -> Result<(), Error> {
    let mut result = Ok(());
    let laid = layout::for_each_new_arena(media.size(), cfg.lbasize, |_, a| {
        if result.is_ok() {
            result = write_arena_layout(media, cfg, a, scratch.primary);
        }
    });
    result?;
    match laid {
        Some((n, _)) if n > 0 => Ok(()),
        _ => Err(Error::NoSpace),
    }
}

fn write_arena_layout<M: Media>(
    media: &M,
    cfg: &Config,
    a: &ArenaLayout,
    raw: &mut [u8; INFO_SIZE],
) -> Result<(), Error> {
    media.write_zeroes(a.mapoff, a.logoff - a.mapoff)?;
    media.write_zeroes(a.logoff, a.info2off - a.logoff)?;
    let info = ArenaInfo {
        logoff: a.logoff,
        ..ArenaInfo::default()
    };
    for lane in 0..a.nfree {
        let block = a.external_nlba + lane;
        let ent = LogEntry {
            lba: lane,
            old_map: block,
            new_map: block,
            seq: LOG_SEQ_INIT,
        };
        write_log_entry(media, &info, lane, 0, &ent)?;
    }
    let mut sb = a.info_block(
        cfg.uuid,
        cfg.parent_uuid,
        cfg.version_major,
        cfg.version_minor,
    );
    sb.seal(raw);
    media.write(a.info2off, raw)?;
    media.write(a.infooff, raw)
}

/// What [`discover`] found: the arenas (the first `n` slots used), `n`, and
/// the total external blocks.
type Discovered<P> = (<P as Platform>::Slice<Found>, usize, u64);

/// First pass: every arena's geometry and log indices, read-only.
///
/// Returns `Ok(None)` when the media holds no BTT at all.
fn discover<M: Media, P: Platform>(
    media: &M,
    cfg: &Config,
    scratch: &mut Scratch<'_>,
) -> Result<Option<Discovered<P>>, Error> {
    let rawsize = media.size();
    let max_arenas =
        usize::try_from(rawsize.div_ceil(ARENA_MAX_SIZE)).map_err(|_| Error::Invalid)?;
    let mut found = P::try_slice(max_arenas, |_| Found::default())?;
    let mut n = 0usize;
    let mut off = 0u64;
    let mut nlba = 0u64;
    loop {
        if rawsize - off < ARENA_MIN_SIZE && n > 0 {
            return Err(bad("nextoff", found[n - 1].info.infooff, info::OFF_NEXTOFF));
        }
        let (sb, source) = match probe_arena(media, off, cfg, scratch)? {
            Probe::Found(sb, source) => (sb, source),
            Probe::Blank if n == 0 => return Ok(None),
            Probe::Blank => return Err(bad("signature", off, info::OFF_SIGNATURE)),
        };
        let mut a = parse_arena(&sb, off, rawsize, cfg, source)?;
        a.external_lba_start = nlba;
        let mut media_damage = None;
        let flog_damage = match detect_indices(media, &a) {
            Ok(idx) => {
                a.log_index = idx.0;
                None
            }
            Err(e @ Error::Corrupt { .. }) => Some(e),
            Err(Error::Io) => {
                // A log group did not read: find them all for the report.
                // The padding scheme stays unknown; reads need only the map.
                let mut bad = Unreadable::default();
                for lane in 0..a.nfree {
                    if read_group(media, &a, lane).is_err() {
                        bad.add("flog", a.log_group_offset(lane), LOG_GRP_SIZE);
                    }
                }
                media_damage = bad.error().or(Some(Error::Media {
                    what: "flog",
                    offset: a.logoff,
                    len: u64::from(a.nfree) * LOG_GRP_SIZE,
                }));
                None
            }
            Err(e) => return Err(e),
        };
        let slot = found
            .get_mut(n)
            .ok_or(bad("nextoff", off, info::OFF_NEXTOFF))?;
        *slot = Found {
            info: a,
            flog_damage,
            media_damage,
        };
        n += 1;
        nlba += u64::from(a.external_nlba);
        if a.nextoff == 0 {
            break;
        }
        off = a.nextoff;
    }
    Ok(Some((found, n, nlba)))
}

/// C `log_set_indices()`, with the arena's offsets in the error.
pub(super) fn detect_indices<M: Media>(media: &M, a: &ArenaInfo) -> Result<LogIndices, Error> {
    match LogIndices::detect(a.nfree, |lane| read_group(media, a, lane))? {
        Ok(idx) => Ok(idx),
        Err(e) => {
            let lane = match e {
                super::flog::IndexError::Inconsistent { lane } => lane,
                super::flog::IndexError::Unknown => 0,
            };
            Err(Error::Corrupt {
                field: "flog padding scheme (log_index)",
                offset: a.log_group_offset(lane).unwrap_or(a.logoff),
            })
        }
    }
}

impl<M: Media, P: Platform> Btt<M, P> {
    /// Opens the BTT on `media`, or writes a fresh one if the media holds none
    /// and `cfg.read_only` is false (C `btt_init()`).
    ///
    /// Returns the BTT and its [`Config::nlanes`] lanes. On error nothing has
    /// been written; the error names the field at fault and its offset. An
    /// arena whose map is sound but whose flog is not (its padding scheme
    /// unknown, a lane's newest entry invalid, or with `full_check` a free
    /// block with a second owner) is
    /// opened read-only, unrecovered and unwritten: see
    /// [`Btt::arena_flog_damage`]. So is an arena whose map or flog open
    /// could not read (a media error): see [`Btt::arena_media_error`].
    pub fn open(media: M, cfg: &Config) -> Result<(Self, LaneSet<P>), Error> {
        let sector_size = checked_sector_size(cfg.lbasize)?;
        if cfg.nlanes == 0
            || cfg.nlanes > layout::BTT_DEFAULT_NFREE
            || cfg.batch == 0
            || cfg.batch as usize > super::device::MAX_BATCH
        {
            return Err(Error::Invalid);
        }
        if media.size() < ARENA_MIN_SIZE {
            return Err(Error::NoSpace);
        }
        let mut created = false;
        let mut buf = P::try_slice(2 * INFO_SIZE, |_| 0u8)?;
        let mut scratch = Scratch::new(&mut buf)?;
        let (found, n, nlba) = match discover::<M, P>(&media, cfg, &mut scratch)? {
            Some(d) => d,
            None => {
                if cfg.read_only {
                    return Err(Error::NotFound);
                }
                create_layout(&media, cfg, &mut scratch)?;
                created = true;
                discover::<M, P>(&media, cfg, &mut scratch)?.ok_or(Error::Io)?
            }
        };
        drop(buf);
        let found = found.get(..n).ok_or(Error::Invalid)?;

        // First pass, continued: every lane's newest flog entry must make sense,
        // and with `full_check` every block must have exactly one owner. A
        // map at fault fails the open; a flog at fault only makes its arena
        // read-only: reads go through the map alone, and the data stays
        // reachable until `btt check --repair` mends the flog.
        //
        // Metadata that does not read (a media error) makes its arena
        // read-only as well, instead of failing the open: the sectors whose
        // map entry and data read are served, the others fail with EIO.
        let mut flog_damage = P::try_slice(n, |_| None)?;
        let mut media_damage = P::try_slice(n, |_| None)?;
        for ((f, damage), unread) in found
            .iter()
            .zip(flog_damage.iter_mut())
            .zip(media_damage.iter_mut())
        {
            let a = &f.info;
            let idx = LogIndices(a.log_index);
            *damage = f.flog_damage;
            let mut bad = Unreadable::default();
            bad.merge(f.media_damage);
            for lane in 0..a.nfree {
                if damage.is_some() || f.media_damage.is_some() {
                    break;
                }
                let log = match read_group(&media, a, lane) {
                    Ok(log) => log,
                    Err(Error::Io) => {
                        bad.add("flog", a.log_group_offset(lane), LOG_GRP_SIZE);
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                match newest_entry(a, idx, lane, &log) {
                    Err(e) => {
                        *damage = Some(e);
                        break;
                    }
                    // The map entry recovery will read (and maybe roll
                    // forward): read it here, where nothing has been written.
                    Ok((_, ent)) if map::ent_lba(ent.old_map) != map::ent_lba(ent.new_map) => {
                        match read_map_raw(&media, a, ent.lba) {
                            Ok(_) => {}
                            Err(Error::Io) => {
                                bad.add("map", a.map_entry_offset(ent.lba), MAP_ENT_SIZE)
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    Ok(_) => {}
                }
            }
            if cfg.full_check {
                let owners = check::block_ownership::<M, P>(&media, a)?;
                // With log groups unread the padding scheme is a guess, and
                // so is what the ownership check says of the flog.
                if f.media_damage.is_none() {
                    *damage = damage.or(owners.flog);
                }
                bad.merge(owners.unreadable);
            }
            *unread = bad.error();
        }

        let id = next_id();
        let arenas = P::try_slice(n, |i| Arena {
            info: found.get(i).map(|f| f.info).unwrap_or_default(),
            failed: AtomicBool::new(false),
            flog_damage: flog_damage.get(i).copied().flatten(),
            media_damage: media_damage.get(i).copied().flatten(),
        })?;
        drop(flog_damage);
        drop(media_damage);
        let nlanes = cfg.nlanes;
        // Each lane owns `flogs` consecutive flog lanes, `i * flogs` on, below
        // the smallest `nfree` of the arenas (at least one: `nfree >= nlanes`
        // was checked), up to `cfg.batch` of them.
        let min_nfree = arenas.iter().map(|a| a.info.nfree).min().unwrap_or(nlanes);
        let flogs = (min_nfree / nlanes).clamp(1, cfg.batch);
        let mut lanes = new_lanes::<P>(id, nlanes, n, flogs)?;
        let rtt_slots_per_lane = super::device::rtt_slots_per_lane(sector_size);
        let rtt_slots = nlanes as usize * rtt_slots_per_lane;
        let rtt = P::try_slice(n * rtt_slots, |_| AtomicU32::new(0))?;
        let locks = P::try_lock_table(n * MAP_LOCKS)?;
        recover_free_lists(&media, &arenas, &mut lanes, flogs, cfg.read_only)?;

        let btt = Btt {
            media,
            id,
            arenas,
            rtt,
            rtt_slots,
            rtt_slots_per_lane,
            locks,
            nlba,
            lbasize: cfg.lbasize,
            sector_size,
            nlanes,
            lane_flogs: flogs,
            read_only: AtomicBool::new(cfg.read_only),
            making_writable: AtomicBool::new(false),
            created,
        };
        Ok((btt, LaneSet { lanes, next: 0 }))
    }
}

/// `nlanes` lanes of BTT `id`, each owning `flogs` flog lanes in each of
/// `arenas` arenas, with no free block yet ([`recover_free_lists`] fills
/// them).
fn new_lanes<P: Platform>(
    id: usize,
    nlanes: u32,
    arenas: usize,
    flogs: u32,
) -> Result<P::Slice<Option<Lane<P>>>, Error> {
    let mut lanes: P::Slice<Option<Lane<P>>> = P::try_slice(nlanes as usize, |_| None)?;
    for (i, slot) in lanes.iter_mut().enumerate() {
        *slot = Some(Lane {
            btt_id: id,
            index: i as u32,
            flogs,
            free: P::try_slice(arenas * flogs as usize, |_| FreeEntry::default())?,
            groups: P::try_slice(arenas * flogs as usize, |_| [0u8; LOG_GRP_SIZE as usize])?,
            pending: P::try_slice(flogs as usize, |_| PendingEntry::default())?,
            map_scratch: P::try_slice(flogs as usize, |_| [0u8; 4])?,
        });
    }
    Ok(lanes)
}

/// The second pass of open: every lane's free blocks and log groups, with
/// recovery writes unless `read_only` (C `btt_freelist_init()`); none in an
/// arena whose flog is damaged or did not read (its lanes keep no free
/// block), no recovery write in one with the error flag.
fn recover_free_lists<M: Media, P: Platform>(
    media: &M,
    arenas: &[Arena],
    lanes: &mut [Option<Lane<P>>],
    flogs: u32,
    read_only: bool,
) -> Result<(), Error> {
    for (ai, arena) in arenas.iter().enumerate() {
        if arena.flog_damage.is_some() || arena.media_damage.is_some() {
            continue;
        }
        let a = &arena.info;
        let writable = !read_only && !a.has_error_flag();
        for lane in 0..a.nfree {
            let free = recover_lane(media, a, lane, writable)?;
            // Flog lanes no lane owns are recovered and stay idle.
            let (owner, j) = (lane / flogs, lane % flogs);
            if let Some(Some(l)) = lanes.get_mut(owner as usize) {
                if let Some(slot) = l.free_mut(ai, j as usize) {
                    *slot = free;
                }
            }
        }
        // The owned log groups as recovery left them (it writes map
        // entries and free blocks, never the flog): one read per lane.
        for l in lanes.iter_mut().flatten() {
            let off = a
                .log_group_offset(l.first_flog_lane())
                .ok_or(Error::Invalid)?;
            let range = l.arena_range(ai).ok_or(Error::Invalid)?;
            let groups = l.groups.get_mut(range).ok_or(Error::Invalid)?;
            media.read(off, groups.as_flattened_mut())?;
        }
    }
    Ok(())
}

impl<M: Media, P: Platform> Btt<M, P> {
    /// Makes a BTT opened read-only ([`Config::read_only`], the region's
    /// state at attach) writable, once the media may be written: writes the
    /// recovery open skipped (interrupted map updates rolled forward, known
    /// media errors on free blocks cleared), then gives every lane its
    /// recovered state through `install`, in lane order, and only then lets
    /// writes in. Returns whether it did so (`false`: already writable).
    ///
    /// No write can run meanwhile: every write and zeroing fails with
    /// [`Error::ReadOnly`] until the end, so recovery sees the flog and map
    /// as open would. Readers go on (a block freed by a roll-forward is only
    /// reused after the writer's read tracking scan). Arenas read-only for
    /// their own reasons (error flag, damaged flog, unreadable metadata)
    /// stay so. On error, writes stay refused and a later call starts over.
    ///
    /// One call at a time: while another runs, this one fails with
    /// [`Error::ReadOnly`] (the kernel driver serialises its calls, so that
    /// a write waits for the one making the BTT writable).
    pub fn make_writable(
        &self,
        install: impl FnMut(Lane<P>) -> Result<(), Error>,
    ) -> Result<bool, Error> {
        if !self.is_read_only() {
            return Ok(false);
        }
        if self
            .making_writable
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(Error::ReadOnly);
        }
        // Made writable by a call that ended since the first look: done.
        let result = if self.is_read_only() {
            self.recover_and_install(install).map(|()| {
                // Release: a writer that sees the flag also sees the
                // recovery's writes (the lanes' own mutexes order their new
                // states).
                self.read_only.store(false, Ordering::Release);
                true
            })
        } else {
            Ok(false)
        };
        self.making_writable.store(false, Ordering::Release);
        result
    }

    fn recover_and_install(
        &self,
        mut install: impl FnMut(Lane<P>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut lanes = new_lanes::<P>(self.id, self.nlanes, self.arenas.len(), self.lane_flogs)?;
        recover_free_lists(
            &self.media,
            &self.arenas,
            &mut lanes,
            self.lane_flogs,
            false,
        )?;
        for lane in lanes.iter_mut() {
            if let Some(lane) = lane.take() {
                install(lane)?;
            }
        }
        Ok(())
    }
}

/// C `btt_freelist_init()` for one lane: the lane's free block and next flog
/// slot, after rolling an interrupted map update forward and clearing a
/// known media error on the free block (both only when `writable`).
fn recover_lane<M: Media>(
    media: &M,
    a: &ArenaInfo,
    lane: u32,
    writable: bool,
) -> Result<FreeEntry, Error> {
    let idx = LogIndices(a.log_index);
    let log = read_group(media, a, lane)?;
    let (new, ent) = newest_entry(a, idx, lane, &log)?;
    let old_map = map::ent_lba(ent.old_map);
    let new_map = map::ent_lba(ent.new_map);
    let mut free = FreeEntry {
        block: old_map,
        sub: (1 - new) as u8,
        seq: inc_seq(ent.seq) as u8,
        has_err: map::ent_is_error(ent.old_map),
    };
    if free.has_err && writable {
        let off = a.block_offset(free.block).ok_or(Error::Invalid)?;
        if media
            .write_zeroes(off, u64::from(a.internal_lbasize))
            .is_ok()
        {
            free.has_err = false;
        }
    }
    if old_map == new_map {
        return Ok(free);
    }
    let cur = map::Mapping::decode(ent.lba, read_map_raw(media, a, ent.lba)?).postmap;
    if cur != new_map && cur == old_map && writable {
        // The flog was written, the map update was not: finish it.
        let raw = map::encode(ent.new_map, false, false).ok_or(Error::Invalid)?;
        write_map_raw(media, a, ent.lba, raw)?;
    }
    Ok(free)
}
