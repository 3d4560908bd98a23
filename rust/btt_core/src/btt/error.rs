// SPDX-License-Identifier: GPL-2.0
//! Errors of the BTT core and their Linux errno values.

use core::fmt;

/// Everything that can go wrong in the BTT core.
///
/// The kernel glue converts it with [`Error::to_errno`]; `Display` prints one
/// line that names the field at fault and its byte offset (counted from the
/// start of the BTT, i.e. after `nd_btt->initial_offset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The media failed a read or a write, or a map entry carries the error
    /// flag, or an earlier flog or map write of the arena failed and it takes
    /// no more writes until the next open (C: `-EIO`).
    Io,
    /// An allocation failed (C: `-ENOMEM`).
    NoMem,
    /// A bad argument: an LBA beyond the device, a buffer of the wrong size,
    /// an unsupported sector size, a [`super::Lane`] of another BTT (C: `-EINVAL`).
    Invalid,
    /// The configured sector size (`nd_btt->lbasize`: written to sysfs, or
    /// taken by libnvdimm's probe from an existing info block's
    /// `external_lbasize`) is not one BTT supports (C `btt_lbasize_supported`:
    /// 512, 520, 528, 4096, 4104, 4160, 4224): `-EINVAL`, nothing read or
    /// written.
    UnsupportedSectorSize(u32),
    /// The BTT was opened read-only, or the arena carries the error flag
    /// (C `IB_FLAG_ERROR`), or open found its flog or metadata damaged and
    /// serves it read-only (`-EROFS`).
    ReadOnly,
    /// The media is too small to hold a single arena (C: `ARENA_MIN_SIZE`,
    /// `nvdimm_namespace_attach_btt()` returns `-ENXIO`).
    NoSpace,
    /// No BTT on the media and it may not be created because the open is
    /// read-only (C: `btt_init()` on a read-only region, `-ENODEV`).
    NotFound,
    /// An info block (C: `struct btt_sb`) is not valid: `field` names the
    /// `struct btt_sb` member at fault and `offset` is its byte offset in the
    /// BTT. Returned by open only; open never writes when it returns it
    /// (`-ENODEV`, as `discover_arenas()` for a corrupted arena).
    BadInfo {
        /// The C name of the field at fault (`"checksum"`, `"nfree"`, ...).
        field: &'static str,
        /// Byte offset of that field from the start of the BTT.
        offset: u64,
    },
    /// The media failed to read BTT metadata at open: `what` names the
    /// structure (`"map"`, `"flog"`, `"info block"`, `"backup info block"`)
    /// and `offset` and `len` the byte range the BTT could not read, from
    /// the start of the BTT, at the granularity it reads (4-byte map
    /// entries, 64-byte log groups, 4096-byte info blocks), so a 512-byte
    /// poisoned block under the map shows as 512 bytes. See
    /// [`super::Btt::arena_media_error`] (C: `-EIO`).
    Media {
        /// The metadata structure the range belongs to.
        what: &'static str,
        /// Byte offset of the first unreadable byte.
        offset: u64,
        /// Number of bytes from `offset` to the end of the last unreadable unit.
        len: u64,
    },
    /// The map or the flog is inconsistent: `field` says what is wrong and
    /// `offset` is the byte offset of the map entry or flog entry at fault.
    /// Returned by open only; open never writes when it returns it
    /// (`-ENXIO`, as `log_set_indices()`).
    Corrupt {
        /// What is wrong, with the C field name (`"flog new_map"`, ...).
        field: &'static str,
        /// Byte offset of the entry at fault from the start of the BTT.
        offset: u64,
    },
}

/// Linux `EIO`.
pub const EIO: i32 = 5;
/// Linux `ENXIO`.
pub const ENXIO: i32 = 6;
/// Linux `ENOMEM`.
pub const ENOMEM: i32 = 12;
/// Linux `ENODEV`.
pub const ENODEV: i32 = 19;
/// Linux `EINVAL`.
pub const EINVAL: i32 = 22;
/// Linux `ENOSPC`.
pub const ENOSPC: i32 = 28;
/// Linux `EROFS`.
pub const EROFS: i32 = 30;

impl Error {
    /// The positive Linux errno for this error (the kernel negates it).
    pub fn to_errno(self) -> i32 {
        match self {
            Error::Io => EIO,
            Error::NoMem => ENOMEM,
            Error::Invalid => EINVAL,
            Error::UnsupportedSectorSize(_) => EINVAL,
            Error::ReadOnly => EROFS,
            Error::NoSpace => ENXIO,
            Error::NotFound => ENODEV,
            Error::BadInfo { .. } => ENODEV,
            Error::Corrupt { .. } => ENXIO,
            Error::Media { .. } => EIO,
        }
    }

    /// Whether this error describes bad on-media metadata found by open.
    pub fn is_corruption(self) -> bool {
        matches!(self, Error::BadInfo { .. } | Error::Corrupt { .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io => f.write_str("BTT: media I/O error or map entry with the error flag"),
            Error::NoMem => f.write_str("BTT: out of memory"),
            Error::Invalid => f.write_str("BTT: invalid argument"),
            Error::UnsupportedSectorSize(n) => write!(
                f,
                "BTT: sector size {} (the BTT device's, from sysfs or an info block's external_lbasize) is not one BTT supports",
                n
            ),
            Error::ReadOnly => f.write_str("BTT: read-only (opened read-only or arena error flag)"),
            Error::NoSpace => f.write_str("BTT: media smaller than one arena (16 MiB)"),
            Error::NotFound => {
                f.write_str("BTT: no BTT on the media and read-only, not creating one")
            }
            Error::BadInfo { field, offset } => write!(
                f,
                "BTT: invalid info block: field {} at byte offset {:#x}",
                field, offset
            ),
            Error::Media { what, offset, len } => write!(
                f,
                "BTT: media error in the {} at byte offset {:#x}, {} bytes",
                what, offset, len
            ),
            Error::Corrupt { field, offset } => write!(
                f,
                "BTT: corrupt metadata: {} at byte offset {:#x}",
                field, offset
            ),
        }
    }
}
