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
