// SPDX-License-Identifier: GPL-2.0
//! The flog: free list + log (C: `struct log_entry`, `struct log_group`).
//!
//! The flog holds one 64-byte log group (C: `LOG_GRP_SIZE`) per lane, lane `i`
//! at `logoff + i * 64`. A group has four 16-byte entries (C: `LOG_ENT_SIZE`);
//! two of them are live and two are padding (all zero). Kernels since 4.15
//! use slots (0, 1), older ones slots (0, 2); [`LogIndices::detect`] finds
//! out which, as C `log_set_indices()`.
//!
//! Entry layout (little endian), C `struct log_entry`:
//!
//! | offset | C field   | meaning                                  |
//! |-------:|-----------|------------------------------------------|
//! |      0 | `lba`     | premap block written                     |
//! |      4 | `old_map` | postmap block before (freed by the write), may carry the E flag |
//! |      8 | `new_map` | postmap block after                      |
//! |     12 | `seq`     | 1 -> 2 -> 3 -> 1, 0 = never used          |

/// Size of one log entry (C: `LOG_ENT_SIZE`, `sizeof(struct log_entry)`).
pub const LOG_ENT_SIZE: u64 = 16;
/// Size of one log group, i.e. one lane's flog (C: `LOG_GRP_SIZE`).
pub const LOG_GRP_SIZE: u64 = 64;
/// Sequence number of the initial entries (C: `LOG_SEQ_INIT`).
pub const LOG_SEQ_INIT: u32 = 1;

/// One flog entry (C: `struct log_entry`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LogEntry {
    /// C `lba`: the premap block of the write.
    pub lba: u32,
    /// C `old_map`: the postmap block the write replaced; it is free once the
    /// write completes. May carry the error flag (`MAP_ERR_MASK`).
    pub old_map: u32,
    /// C `new_map`: the postmap block the write used.
    pub new_map: u32,
    /// C `seq`: 1, 2, 3 in a cycle, 0 for a never used slot.
    pub seq: u32,
}

impl LogEntry {
    /// Decodes the 16 bytes of an entry.
    pub fn decode(raw: &[u8; 16]) -> Self {
        let w = |i: usize| {
            let mut b = [0u8; 4];
            if let Some(s) = raw.get(i * 4..i * 4 + 4) {
                b.copy_from_slice(s);
            }
            u32::from_le_bytes(b)
        };
        LogEntry {
            lba: w(0),
            old_map: w(1),
            new_map: w(2),
            seq: w(3),
        }
    }

    /// Encodes the entry into 16 bytes.
    pub fn encode(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        for (i, v) in [self.lba, self.old_map, self.new_map, self.seq]
            .into_iter()
            .enumerate()
        {
            if let Some(d) = out.get_mut(i * 4..i * 4 + 4) {
                d.copy_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// Whether all four fields are zero, i.e. a padding slot (C: `ent_is_padding()`).
    pub fn is_padding(&self) -> bool {
        self.lba == 0 && self.old_map == 0 && self.new_map == 0 && self.seq == 0
    }
}

/// One lane's log group (C: `struct log_group`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LogGroup {
    /// C `ent[4]`.
    pub ent: [LogEntry; 4],
}

impl LogGroup {
    /// Decodes the 64 bytes of a group.
    pub fn decode(raw: &[u8; 64]) -> Self {
        let mut g = LogGroup::default();
        for (slot, chunk) in g.ent.iter_mut().zip(raw.chunks_exact(16)) {
            let mut e = [0u8; 16];
            e.copy_from_slice(chunk);
            *slot = LogEntry::decode(&e);
        }
        g
    }

    /// Encodes the group into 64 bytes.
    pub fn encode(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        for (chunk, e) in out.chunks_exact_mut(16).zip(self.ent.iter()) {
            chunk.copy_from_slice(&e.encode());
        }
        out
    }

    /// The entry in slot `slot` (0..4); padding for an out-of-range slot.
    pub fn slot(&self, slot: u32) -> LogEntry {
        self.ent.get(slot as usize).copied().unwrap_or_default()
    }
}

/// The next sequence number after `seq` (C: `nd_inc_seq()`: 0 -> 0,
/// 1 -> 2, 2 -> 3, 3 -> 1, only the two low bits count).
pub fn inc_seq(seq: u32) -> u32 {
    match seq & 3 {
        1 => 2,
        2 => 3,
        3 => 1,
        _ => 0,
    }
}

/// Which two slots of a log group hold entries (C: `arena->log_index[2]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogIndices(pub [u32; 2]);

/// Why [`LogIndices::detect`] failed (C `log_set_indices()` returns `-ENXIO`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexError {
    /// Group `lane` does not follow the padding scheme found in earlier groups,
    /// or has more than two live entries.
    Inconsistent {
        /// The lane whose group is at fault.
        lane: u32,
    },
    /// Groups are used but no scheme was found, or the scheme is neither (0, 1) nor (0, 2).
    Unknown,
}

impl LogIndices {
    /// The current layout: live entries in slots 0 and 1.
    pub const NEW: LogIndices = LogIndices([0, 1]);
    /// The layout of kernels before 4.15: live entries in slots 0 and 2.
    pub const OLD: LogIndices = LogIndices([0, 2]);

    /// Detects the padding scheme from all lanes' groups, exactly as C
    /// `log_set_indices()`: the first two non-padding slots found give the
    /// indices; later groups must have a live entry in the first slot and
    /// padding outside the two; groups in the initial state (only one live
    /// entry) are skipped; if every group is in the initial state the new
    /// scheme (0, 1) is assumed. Only (0, 1) and (0, 2) are accepted.
    pub fn detect(
        nfree: u32,
        mut group: impl FnMut(u32) -> Result<LogGroup, super::Error>,
    ) -> Result<Result<LogIndices, IndexError>, super::Error> {
        let mut idx_set = false;
        let mut initial_state = true;
        let mut log_index: [i64; 2] = [-1, -1];
        let mut next_idx: usize = 0;
        let mut pad_count = 0u32;

        for i in 0..nfree {
            let log = group(i)?;
            for (j, ent) in log.ent.iter().enumerate() {
                let j = j as i64;
                if !idx_set {
                    if ent.is_padding() {
                        pad_count += 1;
                        continue;
                    }
                    // Skip if the index has been recorded.
                    if next_idx == 1 && j == log_index[0] {
                        continue;
                    }
                    match log_index.get_mut(next_idx) {
                        Some(slot) => *slot = j,
                        None => return Ok(Err(IndexError::Inconsistent { lane: i })),
                    }
                    next_idx += 1;
                    if next_idx == 2 {
                        idx_set = true;
                    }
                } else if j == log_index[0] {
                    if ent.is_padding() {
                        return Ok(Err(IndexError::Inconsistent { lane: i }));
                    }
                } else if j == log_index[1] {
                    // May be padding in a group still in its initial state.
                } else if !ent.is_padding() {
                    return Ok(Err(IndexError::Inconsistent { lane: i }));
                }
            }
            if pad_count < 3 {
                initial_state = false;
            }
            pad_count = 0;
        }

        if !initial_state && !idx_set {
            return Ok(Err(IndexError::Unknown));
        }
        if initial_state {
            log_index[1] = 1;
        }
        match log_index {
            [0, 1] => Ok(Ok(LogIndices::NEW)),
            [0, 2] => Ok(Ok(LogIndices::OLD)),
            _ => Ok(Err(IndexError::Unknown)),
        }
    }

    /// Which of the two live entries is the older one, 0 or 1 (an index into
    /// `self.0`), as C `btt_log_get_old()`; `None` where C returns `-EINVAL`
    /// (equal sequence numbers, or a sum above 5).
    ///
    /// As in C, an entry 0 with sequence number 0 makes entry 0 the old one.
    pub fn get_old(&self, log: &LogGroup) -> Option<usize> {
        let s0 = log.slot(self.0[0]).seq;
        let s1 = log.slot(self.0[1]).seq;
        if s0 == 0 {
            return Some(0);
        }
        if s0 == s1 {
            return None;
        }
        if u64::from(s0) + u64::from(s1) > 5 {
            return None;
        }
        let old = if s0 < s1 {
            if s1 - s0 == 1 {
                0
            } else {
                1
            }
        } else if s0 - s1 == 1 {
            1
        } else {
            0
        };
        Some(old)
    }

    /// The newest live entry of `log` and its sub-slot (0 or 1), as C
    /// `btt_log_read(..., LOG_NEW_ENT)`; `None` where C reports log corruption.
    pub fn newest(&self, log: &LogGroup) -> Option<(usize, LogEntry)> {
        let old = self.get_old(log)?;
        let new = 1 - old;
        let slot = *self.0.get(new)?;
        Some((new, log.slot(slot)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ent(lba: u32, old_map: u32, new_map: u32, seq: u32) -> LogEntry {
        LogEntry {
            lba,
            old_map,
            new_map,
            seq,
        }
    }

    /// A group with live entries `(slot, seq)`; the others are padding.
    fn group(live: &[(usize, u32)]) -> LogGroup {
        let mut g = LogGroup::default();
        for &(slot, seq) in live {
            g.ent[slot] = ent(7, 300 + slot as u32, 400 + slot as u32, seq);
        }
        g
    }

    /// Runs detection over `groups`.
    fn detect(groups: &[LogGroup]) -> Result<LogIndices, IndexError> {
        LogIndices::detect(groups.len() as u32, |i| Ok(groups[i as usize])).unwrap()
    }

    #[test]
    fn log_entry_layout_and_round_trip() {
        let e = ent(0x0403_0201, 0x0807_0605, 0x0c0b_0a09, 0x100f_0e0d);
        let raw = e.encode();
        let want: [u8; 16] = core::array::from_fn(|i| i as u8 + 1);
        assert_eq!(raw, want, "lba, old_map, new_map, seq, little endian");
        assert_eq!(LogEntry::decode(&raw), e);
        assert!(!e.is_padding());
        assert!(LogEntry::decode(&[0; 16]).is_padding());
        for i in 0..16 {
            let mut r = [0u8; 16];
            r[i] = 1;
            assert!(!LogEntry::decode(&r).is_padding(), "byte {i}");
        }
        assert_eq!(LOG_ENT_SIZE, 16);
        assert_eq!(LOG_GRP_SIZE, 64);
    }

    #[test]
    fn log_group_layout_and_round_trip() {
        let g = LogGroup {
            ent: [
                ent(1, 2, 3, 1),
                ent(4, 5, 6, 2),
                ent(7, 8, 9, 3),
                ent(10, 0x8000_000b, 0x4000_000c, 0),
            ],
        };
        let raw = g.encode();
        for (i, e) in g.ent.iter().enumerate() {
            assert_eq!(
                raw[i * 16..i * 16 + 16],
                e.encode(),
                "slot {i} at {}",
                i * 16
            );
        }
        assert_eq!(LogGroup::decode(&raw), g);
        assert_eq!(LogGroup::decode(&raw).encode(), raw);
        assert_eq!(g.slot(2), g.ent[2]);
        assert!(g.slot(4).is_padding());
        assert!(g.slot(u32::MAX).is_padding());
    }

    #[test]
    fn inc_seq_cycles_like_nd_inc_seq() {
        assert_eq!(inc_seq(0), 0);
        assert_eq!(inc_seq(1), 2);
        assert_eq!(inc_seq(2), 3);
        assert_eq!(inc_seq(3), 1);
        // Only the two low bits count.
        assert_eq!(inc_seq(5), 2);
        assert_eq!(inc_seq(0xffff_ffff), 1);
        assert_eq!(inc_seq(4), 0);
    }

    #[test]
    fn detect_new_padding() {
        // Lane 0 used (slots 0 and 1), the rest initial.
        let mut g = [group(&[(0, 1)]); 8];
        g[0] = group(&[(0, 1), (1, 2)]);
        assert_eq!(detect(&g), Ok(LogIndices::NEW));
        // Used lanes later on, and a lane whose first write filled slot 1 only
        // half (slot 1 live, seq still 0): still (0, 1).
        let mut g = [group(&[(0, 1)]); 8];
        g[5] = group(&[(0, 3), (1, 2)]);
        g[6] = group(&[(0, 1), (1, 0)]);
        assert_eq!(detect(&g), Ok(LogIndices::NEW));
    }

    #[test]
    fn detect_old_padding() {
        let mut g = [group(&[(0, 1)]); 8];
        g[3] = group(&[(0, 1), (2, 2)]);
        g[7] = group(&[(0, 3), (2, 2)]);
        assert_eq!(detect(&g), Ok(LogIndices::OLD));
        // The first group decides; a later group in (0, 1) breaks it.
        g[7] = group(&[(0, 3), (1, 2)]);
        assert_eq!(detect(&g), Err(IndexError::Inconsistent { lane: 7 }));
    }

    #[test]
    fn detect_initial_state_assumes_new_padding() {
        let g = [group(&[(0, 1)]); 256];
        assert_eq!(detect(&g), Ok(LogIndices::NEW));
        // One group is enough.
        assert_eq!(detect(&g[..1]), Ok(LogIndices::NEW));
    }

    #[test]
    fn detect_inconsistent_groups() {
        // Three live entries in one group.
        let g = [group(&[(0, 1), (1, 2), (2, 3)])];
        assert_eq!(detect(&g), Err(IndexError::Inconsistent { lane: 0 }));
        // Slot log_index[0] empty in a later group.
        let g = [group(&[(0, 1), (1, 2)]), group(&[(1, 2)])];
        assert_eq!(detect(&g), Err(IndexError::Inconsistent { lane: 1 }));
        // A live entry outside the scheme in a later group.
        let g = [group(&[(0, 1), (1, 2)]), group(&[(0, 1), (3, 2)])];
        assert_eq!(detect(&g), Err(IndexError::Inconsistent { lane: 1 }));
        let g = [
            group(&[(0, 1), (2, 2)]),
            group(&[(0, 1)]),
            group(&[(0, 1), (1, 3)]),
        ];
        assert_eq!(detect(&g), Err(IndexError::Inconsistent { lane: 2 }));
    }

    #[test]
    fn detect_unknown_schemes() {
        // (0, 3) and (1, 2) are not schemes C knows.
        assert_eq!(
            detect(&[group(&[(0, 1), (3, 2)])]),
            Err(IndexError::Unknown)
        );
        assert_eq!(
            detect(&[group(&[(1, 1), (2, 2)])]),
            Err(IndexError::Unknown)
        );
        // A zeroed flog: every group is all padding, log_index[0] stays -1.
        assert_eq!(detect(&[LogGroup::default(); 4]), Err(IndexError::Unknown));
        // Initial-state groups with the entry in slot 1: (1, 1).
        assert_eq!(detect(&[group(&[(1, 1)]); 3]), Err(IndexError::Unknown));
        // No groups at all: C finds nothing and falls to (-1, 1).
        assert_eq!(detect(&[]), Err(IndexError::Unknown));
    }

    #[test]
    fn detect_passes_read_errors_through() {
        let r = LogIndices::detect(4, |i| {
            if i == 2 {
                Err(super::super::Error::Io)
            } else {
                Ok(group(&[(0, 1)]))
            }
        });
        assert_eq!(r, Err(super::super::Error::Io));
    }

    /// C `btt_log_get_old()` for every pair of sequence numbers 0..=3 in the
    /// two live slots, written out from the C code: `Some(old)` or `None`
    /// for `-EINVAL`.
    #[test]
    fn get_old_every_seq_pair() {
        #[rustfmt::skip]
        let table: [((u32, u32), Option<usize>); 16] = [
            ((0, 0), Some(0)), ((0, 1), Some(0)), ((0, 2), Some(0)), ((0, 3), Some(0)),
            ((1, 0), Some(1)), ((1, 1), None),    ((1, 2), Some(0)), ((1, 3), Some(1)),
            ((2, 0), Some(0)), ((2, 1), Some(1)), ((2, 2), None),    ((2, 3), Some(0)),
            ((3, 0), Some(0)), ((3, 1), Some(0)), ((3, 2), Some(1)), ((3, 3), None),
        ];
        for idx in [LogIndices::NEW, LogIndices::OLD] {
            for ((s0, s1), want) in table {
                let g = group(&[(idx.0[0] as usize, s0), (idx.0[1] as usize, s1)]);
                assert_eq!(idx.get_old(&g), want, "{idx:?} seq ({s0}, {s1})");
                let newest = idx.newest(&g);
                match want {
                    None => assert_eq!(newest, None),
                    Some(old) => {
                        let (sub, e) = newest.unwrap();
                        assert_eq!(sub, 1 - old);
                        assert_eq!(e, g.slot(idx.0[sub]));
                    }
                }
            }
        }
        // Out of range values: a sum above 5 is refused, below it C's
        // arithmetic applies as is.
        let idx = LogIndices::NEW;
        assert_eq!(idx.get_old(&group(&[(0, 4), (1, 2)])), None);
        assert_eq!(idx.get_old(&group(&[(0, 1), (1, 5)])), None);
        assert_eq!(idx.get_old(&group(&[(0, 4), (1, 1)])), Some(0));
        assert_eq!(idx.get_old(&group(&[(0, 0xffff_ffff), (1, 7)])), None);
    }

    #[test]
    fn newest_follows_a_lane_through_the_seq_cycle() {
        // What a lane's writes leave behind: seq 1 (init) in slot 0, then
        // 2 in slot 1, 3 in slot 0, 1 in slot 1, 2 in slot 0, ...
        for idx in [LogIndices::NEW, LogIndices::OLD] {
            let mut g = group(&[(0, 1)]);
            let mut seq = 1;
            let mut sub = 0usize;
            for _ in 0..10 {
                let (new, e) = idx.newest(&g).unwrap();
                assert_eq!((new, e.seq), (sub, seq));
                sub = 1 - sub;
                seq = inc_seq(seq);
                g.ent[idx.0[sub] as usize] = ent(1, 2, 3, seq);
            }
        }
    }
}
