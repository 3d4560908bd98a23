// SPDX-License-Identifier: GPL-2.0
//! The arena info block (C: `struct btt_sb`, 4096 bytes, little endian).
//!
//! Layout (byte offset in the block, C member name):
//!
//! | offset | size | C field            |
//! |-------:|-----:|--------------------|
//! |      0 |   16 | `signature` = `"BTT_ARENA_INFO\0"` + one zero byte |
//! |     16 |   16 | `uuid`             |
//! |     32 |   16 | `parent_uuid`      |
//! |     48 |    4 | `flags`            |
//! |     52 |    2 | `version_major`    |
//! |     54 |    2 | `version_minor`    |
//! |     56 |    4 | `external_lbasize` |
//! |     60 |    4 | `external_nlba`    |
//! |     64 |    4 | `internal_lbasize` |
//! |     68 |    4 | `internal_nlba`    |
//! |     72 |    4 | `nfree`            |
//! |     76 |    4 | `infosize`         |
//! |     80 |    8 | `nextoff`          |
//! |     88 |    8 | `dataoff`          |
//! |     96 |    8 | `mapoff`           |
//! |    104 |    8 | `logoff`           |
//! |    112 |    8 | `info2off`         |
//! |    120 | 3968 | `padding` (zero)   |
//! |   4088 |    8 | `checksum`         |
//!
//! All offsets in the block (`nextoff`, `dataoff`, ...) are relative to the
//! start of the arena, i.e. to the info block itself.

/// Size of `struct btt_sb` and of one info block on media (C: `sizeof(struct btt_sb)`).
pub const INFO_SIZE: usize = 4096;
/// Length of the signature (C: `BTT_SIG_LEN`).
pub const SIG_LEN: usize = 16;
/// The signature (C: `BTT_SIG`, `"BTT_ARENA_INFO\0"` padded with zero to 16 bytes).
pub const SIGNATURE: [u8; SIG_LEN] = *b"BTT_ARENA_INFO\0\0";
/// The arena error flag in `flags` (C: `IB_FLAG_ERROR`).
pub const IB_FLAG_ERROR: u32 = 0x0000_0001;
/// The mask of error flags in `flags` (C: `IB_FLAG_ERROR_MASK`).
pub const IB_FLAG_ERROR_MASK: u32 = 0x0000_0001;

/// Byte offset of `signature` in the info block.
pub const OFF_SIGNATURE: usize = 0;
/// Byte offset of `uuid` in the info block.
pub const OFF_UUID: usize = 16;
/// Byte offset of `parent_uuid` in the info block.
pub const OFF_PARENT_UUID: usize = 32;
/// Byte offset of `flags` in the info block.
pub const OFF_FLAGS: usize = 48;
/// Byte offset of `version_major` in the info block.
pub const OFF_VERSION_MAJOR: usize = 52;
/// Byte offset of `version_minor` in the info block.
pub const OFF_VERSION_MINOR: usize = 54;
/// Byte offset of `external_lbasize` in the info block.
pub const OFF_EXTERNAL_LBASIZE: usize = 56;
/// Byte offset of `external_nlba` in the info block.
pub const OFF_EXTERNAL_NLBA: usize = 60;
/// Byte offset of `internal_lbasize` in the info block.
pub const OFF_INTERNAL_LBASIZE: usize = 64;
/// Byte offset of `internal_nlba` in the info block.
pub const OFF_INTERNAL_NLBA: usize = 68;
/// Byte offset of `nfree` in the info block.
pub const OFF_NFREE: usize = 72;
/// Byte offset of `infosize` in the info block.
pub const OFF_INFOSIZE: usize = 76;
/// Byte offset of `nextoff` in the info block.
pub const OFF_NEXTOFF: usize = 80;
/// Byte offset of `dataoff` in the info block.
pub const OFF_DATAOFF: usize = 88;
/// Byte offset of `mapoff` in the info block.
pub const OFF_MAPOFF: usize = 96;
/// Byte offset of `logoff` in the info block.
pub const OFF_LOGOFF: usize = 104;
/// Byte offset of `info2off` in the info block.
pub const OFF_INFO2OFF: usize = 112;
/// Byte offset of `padding` in the info block.
pub const OFF_PADDING: usize = 120;
/// Byte offset of `checksum` in the info block.
pub const OFF_CHECKSUM: usize = 4088;

/// The decoded fields of an info block (C: `struct btt_sb`, without
/// `padding`, which C always writes as zeroes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct InfoBlock {
    /// C `signature`, byte 0: must be [`SIGNATURE`].
    pub signature: [u8; SIG_LEN],
    /// C `uuid`, byte 16: the BTT's uuid (`nd_btt->uuid`).
    pub uuid: [u8; 16],
    /// C `parent_uuid`, byte 32: uuid of the namespace holding the BTT;
    /// zero means "any" (C `nd_btt_arena_is_valid()`).
    pub parent_uuid: [u8; 16],
    /// C `flags`, byte 48: [`IB_FLAG_ERROR`] puts the arena in an error
    /// state (no writes). C always writes 0.
    pub flags: u32,
    /// C `version_major`, byte 52: 1 (with minor 1) or 2 (with minor 0).
    pub version_major: u16,
    /// C `version_minor`, byte 54.
    pub version_minor: u16,
    /// C `external_lbasize`, byte 56: the sector size with metadata
    /// (`nd_btt->lbasize`: 512, 520, 528, 4096, 4104, 4160 or 4224).
    pub external_lbasize: u32,
    /// C `external_nlba`, byte 60: blocks this arena exports,
    /// `internal_nlba - nfree`.
    pub external_nlba: u32,
    /// C `internal_lbasize`, byte 64: size of one data block,
    /// `roundup(external_lbasize, INT_LBASIZE_ALIGNMENT)`.
    pub internal_lbasize: u32,
    /// C `internal_nlba`, byte 68: data blocks in the arena, free ones included.
    pub internal_nlba: u32,
    /// C `nfree`, byte 72: number of free blocks = flog lanes (`BTT_DEFAULT_NFREE`, 256).
    pub nfree: u32,
    /// C `infosize`, byte 76: `sizeof(struct btt_sb)` = 4096.
    pub infosize: u32,
    /// C `nextoff`, byte 80: offset of the next arena from this one, 0 for the last.
    pub nextoff: u64,
    /// C `dataoff`, byte 88: offset of the data blocks from the arena start.
    pub dataoff: u64,
    /// C `mapoff`, byte 96: offset of the map from the arena start.
    pub mapoff: u64,
    /// C `logoff`, byte 104: offset of the flog from the arena start.
    pub logoff: u64,
    /// C `info2off`, byte 112: offset of the backup info block from the arena start.
    pub info2off: u64,
    /// C `checksum`, byte 4088: [`fletcher64`] of the block with this field zero.
    pub checksum: u64,
}

/// Fletcher64 as C `nd_fletcher64(addr, len, true)`: the data is read as
/// little-endian `u32` words (a trailing partial word is ignored, as in C),
/// `lo32` is a wrapping 32-bit sum of the words, `hi32` a 64-bit sum of the
/// successive `lo32` values, and the result is `hi32 << 32 | lo32`.
pub fn fletcher64(data: &[u8]) -> u64 {
    let mut lo32: u32 = 0;
    let mut hi32: u64 = 0;
    for word in data.chunks_exact(4) {
        let w = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        lo32 = lo32.wrapping_add(w);
        hi32 = hi32.wrapping_add(u64::from(lo32));
    }
    (hi32 << 32) | u64::from(lo32)
}

/// The checksum of a raw info block as C `nd_sb_checksum()`: [`fletcher64`]
/// of the 4096 bytes with the `checksum` field taken as zero.
pub fn info_checksum(raw: &[u8; INFO_SIZE]) -> u64 {
    let (body, _) = raw.split_at(OFF_CHECKSUM);
    // The zeroed checksum field adds 0 to lo32 twice, and lo32 to hi32 twice.
    let partial = fletcher64(body);
    let lo32 = partial & 0xffff_ffff;
    let hi32 = (partial >> 32).wrapping_add(lo32.wrapping_mul(2));
    (hi32 << 32) | lo32
}

fn get_u16(raw: &[u8; INFO_SIZE], off: usize) -> u16 {
    let mut b = [0u8; 2];
    if let Some(s) = raw.get(off..off + 2) {
        b.copy_from_slice(s);
    }
    u16::from_le_bytes(b)
}

fn get_u32(raw: &[u8; INFO_SIZE], off: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(s) = raw.get(off..off + 4) {
        b.copy_from_slice(s);
    }
    u32::from_le_bytes(b)
}

fn get_u64(raw: &[u8; INFO_SIZE], off: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(s) = raw.get(off..off + 8) {
        b.copy_from_slice(s);
    }
    u64::from_le_bytes(b)
}

fn get_16(raw: &[u8; INFO_SIZE], off: usize) -> [u8; 16] {
    let mut b = [0u8; 16];
    if let Some(s) = raw.get(off..off + 16) {
        b.copy_from_slice(s);
    }
    b
}

fn put(raw: &mut [u8; INFO_SIZE], off: usize, bytes: &[u8]) {
    if let Some(d) = raw.get_mut(off..off + bytes.len()) {
        d.copy_from_slice(bytes);
    }
}

impl InfoBlock {
    /// Decodes the fields of a raw info block. Nothing is validated here; see
    /// [`InfoBlock::checksum_ok`] and the checks of `Btt::open`.
    pub fn decode(raw: &[u8; INFO_SIZE]) -> Self {
        InfoBlock {
            signature: get_16(raw, OFF_SIGNATURE),
            uuid: get_16(raw, OFF_UUID),
            parent_uuid: get_16(raw, OFF_PARENT_UUID),
            flags: get_u32(raw, OFF_FLAGS),
            version_major: get_u16(raw, OFF_VERSION_MAJOR),
            version_minor: get_u16(raw, OFF_VERSION_MINOR),
            external_lbasize: get_u32(raw, OFF_EXTERNAL_LBASIZE),
            external_nlba: get_u32(raw, OFF_EXTERNAL_NLBA),
            internal_lbasize: get_u32(raw, OFF_INTERNAL_LBASIZE),
            internal_nlba: get_u32(raw, OFF_INTERNAL_NLBA),
            nfree: get_u32(raw, OFF_NFREE),
            infosize: get_u32(raw, OFF_INFOSIZE),
            nextoff: get_u64(raw, OFF_NEXTOFF),
            dataoff: get_u64(raw, OFF_DATAOFF),
            mapoff: get_u64(raw, OFF_MAPOFF),
            logoff: get_u64(raw, OFF_LOGOFF),
            info2off: get_u64(raw, OFF_INFO2OFF),
            checksum: get_u64(raw, OFF_CHECKSUM),
        }
    }

    /// Encodes the fields into `raw` with zero padding, writing the
    /// `checksum` field as stored in `self` (use [`InfoBlock::seal`] first to
    /// compute it).
    pub fn encode(&self, raw: &mut [u8; INFO_SIZE]) {
        raw.fill(0);
        put(raw, OFF_SIGNATURE, &self.signature);
        put(raw, OFF_UUID, &self.uuid);
        put(raw, OFF_PARENT_UUID, &self.parent_uuid);
        put(raw, OFF_FLAGS, &self.flags.to_le_bytes());
        put(raw, OFF_VERSION_MAJOR, &self.version_major.to_le_bytes());
        put(raw, OFF_VERSION_MINOR, &self.version_minor.to_le_bytes());
        put(raw, OFF_EXTERNAL_LBASIZE, &self.external_lbasize.to_le_bytes());
        put(raw, OFF_EXTERNAL_NLBA, &self.external_nlba.to_le_bytes());
        put(raw, OFF_INTERNAL_LBASIZE, &self.internal_lbasize.to_le_bytes());
        put(raw, OFF_INTERNAL_NLBA, &self.internal_nlba.to_le_bytes());
        put(raw, OFF_NFREE, &self.nfree.to_le_bytes());
        put(raw, OFF_INFOSIZE, &self.infosize.to_le_bytes());
        put(raw, OFF_NEXTOFF, &self.nextoff.to_le_bytes());
        put(raw, OFF_DATAOFF, &self.dataoff.to_le_bytes());
        put(raw, OFF_MAPOFF, &self.mapoff.to_le_bytes());
        put(raw, OFF_LOGOFF, &self.logoff.to_le_bytes());
        put(raw, OFF_INFO2OFF, &self.info2off.to_le_bytes());
        put(raw, OFF_CHECKSUM, &self.checksum.to_le_bytes());
    }

    /// Computes and stores the checksum as C `btt_arena_write_layout()` does
    /// (checksum of the encoded block with the checksum field zero), then
    /// encodes into `raw`.
    pub fn seal(&mut self, raw: &mut [u8; INFO_SIZE]) {
        self.checksum = 0;
        self.encode(raw);
        self.checksum = info_checksum(raw);
        put(raw, OFF_CHECKSUM, &self.checksum.to_le_bytes());
    }

    /// Whether the signature is [`SIGNATURE`] (C: `memcmp(super->signature, BTT_SIG, BTT_SIG_LEN)`).
    pub fn signature_ok(&self) -> bool {
        self.signature == SIGNATURE
    }

    /// Whether the arena error flag is set (C: `flags & IB_FLAG_ERROR_MASK`).
    pub fn has_error_flag(&self) -> bool {
        self.flags & IB_FLAG_ERROR_MASK != 0
    }
}

/// Whether the raw block's stored checksum matches (C part of `nd_btt_arena_is_valid()`).
pub fn checksum_ok(raw: &[u8; INFO_SIZE]) -> bool {
    get_u64(raw, OFF_CHECKSUM) == info_checksum(raw)
}
