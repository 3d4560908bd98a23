// SPDX-License-Identifier: GPL-2.0
//! Consistency checks the C driver does not make.
//!
//! Every internal block of an arena must have exactly one owner: a map entry
//! or a lane's free slot. A block owned twice means that a write will one day
//! overwrite live data (a corrupted map or flog); open refuses such an image
//! instead of corrupting it further.

use super::device::ArenaInfo;
use super::error::Error;
use super::flog::LogIndices;
use super::map::{self, MAP_ENT_SIZE};
use super::media::Media;
use super::open::{newest_entry, read_group, read_map_raw};
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

/// Checks that every block of arena `a` has one owner, taking into account
/// a map update that open will roll forward from the flog. Reads the whole
/// map; needs a transient bitmap of `internal_nlba` bits.
pub(super) fn block_ownership<M: Media, P: Platform>(
    media: &M,
    a: &ArenaInfo,
) -> Result<(), Error> {
    let mut owned = Bitmap::<P>::new(a.internal_nlba)?;
    let mut raw = P::try_slice(MAP_CHUNK * MAP_ENT_SIZE as usize, |_| 0u8)?;
    let mut premap = 0u32;
    while premap < a.external_nlba {
        let n = (a.external_nlba - premap).min(MAP_CHUNK as u32) as usize;
        let buf = raw
            .get_mut(..n * MAP_ENT_SIZE as usize)
            .ok_or(Error::Invalid)?;
        let off = a.map_entry_offset(premap).ok_or(Error::Invalid)?;
        media.read(off, buf)?;
        for (i, ent) in buf.chunks_exact(MAP_ENT_SIZE as usize).enumerate() {
            let p = premap + i as u32;
            let ent = u32::from_le_bytes([ent[0], ent[1], ent[2], ent[3]]);
            let post = map::Mapping::decode(p, ent).postmap;
            let at = a.map_entry_offset(p).unwrap_or(0);
            if post >= a.internal_nlba {
                return Err(Error::Corrupt {
                    field: "map entry beyond internal_nlba",
                    offset: at,
                });
            }
            if !owned.claim(post) {
                return Err(Error::Corrupt {
                    field: "map entry names a block already mapped",
                    offset: at,
                });
            }
        }
        premap += n as u32;
    }
    let idx = LogIndices(a.log_index);
    for lane in 0..a.nfree {
        let log = read_group(media, a, lane)?;
        let (_, ent) = newest_entry(a, idx, lane, &log)?;
        let old = map::ent_lba(ent.old_map);
        let new = map::ent_lba(ent.new_map);
        let cur = map::Mapping::decode(ent.lba, read_map_raw(media, a, ent.lba)?).postmap;
        // An interrupted write: the map still names `old`, which becomes the
        // free block once open rolls the map forward to `new`.
        let block = if old != new && cur == old { new } else { old };
        if !owned.claim(block) {
            return Err(Error::Corrupt {
                field: "flog free block is mapped or free in another lane",
                offset: a.log_group_offset(lane).unwrap_or(0),
            });
        }
    }
    Ok(())
}
