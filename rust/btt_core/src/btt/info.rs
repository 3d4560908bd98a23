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
    /// [`checksum_ok`] and the checks of `Btt::open`.
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
        put(
            raw,
            OFF_EXTERNAL_LBASIZE,
            &self.external_lbasize.to_le_bytes(),
        );
        put(raw, OFF_EXTERNAL_NLBA, &self.external_nlba.to_le_bytes());
        put(
            raw,
            OFF_INTERNAL_LBASIZE,
            &self.internal_lbasize.to_le_bytes(),
        );
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

#[cfg(test)]
mod tests {
    //! Only `core` here too: these files also build in the kernel (where
    //! `cfg(test)` is never set, so this module is skipped).
    use super::*;

    /// The 4096 bytes at `offset` of a `BTTSPRS1` sparse fixture (the format
    /// of tools/testing/fixtures/sparse.py), zero where the fixture has no block.
    fn sparse_block(fixture: &[u8], offset: u64) -> [u8; INFO_SIZE] {
        let u64_at = |p: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&fixture[p..p + 8]);
            u64::from_le_bytes(b)
        };
        assert_eq!(&fixture[..8], b"BTTSPRS1");
        let block = u64_at(16) as usize;
        assert_eq!(block, INFO_SIZE);
        let mut out = [0u8; INFO_SIZE];
        let mut p = 24;
        while p < fixture.len() {
            if u64_at(p) == offset {
                out.copy_from_slice(&fixture[p + 8..p + 8 + block]);
            }
            p += 8 + block;
        }
        out
    }

    /// The C-made fixtures: name, BTT offset in the namespace, the sparse
    /// image, external/internal lbasize, version, nlba, checksum as C stored it.
    #[expect(clippy::type_complexity)]
    const C_FIXTURES: [(&str, u64, &[u8], (u32, u32), (u16, u16), (u32, u32), u64); 4] = [
        (
            "c-v2.0-4096-labelless",
            0,
            include_bytes!("../../tests/fixtures/c-v2.0-4096-labelless.raw.sparse"),
            (4096, 4096),
            (2, 0),
            (7921, 8177),
            0x8c74_989b_ca00_7902,
        ),
        (
            "c-v1.1-512",
            4096,
            include_bytes!("../../tests/fixtures/c-v1.1-512.raw.sparse"),
            (512, 512),
            (1, 1),
            (64708, 64964),
            0x62c5_1dac_baf2_dd51,
        ),
        (
            "c-v1.1-520",
            4096,
            include_bytes!("../../tests/fixtures/c-v1.1-520.raw.sparse"),
            (520, 576),
            (1, 1),
            (57539, 57795),
            0x1960_9299_2d19_3d56,
        ),
        (
            "c-v2.0-4160",
            0,
            include_bytes!("../../tests/fixtures/c-v2.0-4160.raw.sparse"),
            (4160, 4160),
            (2, 0),
            (7795, 8051),
            0x4b51_e598_de99_4dc2,
        ),
    ];

    fn sample() -> InfoBlock {
        InfoBlock {
            signature: SIGNATURE,
            uuid: [
                0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
                0xff, 0x01,
            ],
            parent_uuid: [
                0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad,
                0xae, 0xaf,
            ],
            flags: 0x0102_0304,
            version_major: 0x0506,
            version_minor: 0x0708,
            external_lbasize: 0x090a_0b0c,
            external_nlba: 0x0d0e_0f10,
            internal_lbasize: 0x1112_1314,
            internal_nlba: 0x1516_1718,
            nfree: 0x191a_1b1c,
            infosize: 0x1d1e_1f20,
            nextoff: 0x2122_2324_2526_2728,
            dataoff: 0x292a_2b2c_2d2e_2f30,
            mapoff: 0x3132_3334_3536_3738,
            logoff: 0x393a_3b3c_3d3e_3f40,
            info2off: 0x4142_4344_4546_4748,
            checksum: 0x494a_4b4c_4d4e_4f50,
        }
    }

    #[test]
    fn encode_puts_every_field_at_its_c_offset_little_endian() {
        let sb = sample();
        let mut raw = [0xffu8; INFO_SIZE];
        sb.encode(&mut raw);
        assert_eq!(&raw[0..16], b"BTT_ARENA_INFO\0\0");
        assert_eq!(raw[16..32], sb.uuid);
        assert_eq!(raw[32..48], sb.parent_uuid);
        assert_eq!(raw[48..52], [0x04, 0x03, 0x02, 0x01]);
        assert_eq!(raw[52..54], [0x06, 0x05]);
        assert_eq!(raw[54..56], [0x08, 0x07]);
        assert_eq!(raw[56..60], [0x0c, 0x0b, 0x0a, 0x09]);
        assert_eq!(raw[60..64], [0x10, 0x0f, 0x0e, 0x0d]);
        assert_eq!(raw[64..68], [0x14, 0x13, 0x12, 0x11]);
        assert_eq!(raw[68..72], [0x18, 0x17, 0x16, 0x15]);
        assert_eq!(raw[72..76], [0x1c, 0x1b, 0x1a, 0x19]);
        assert_eq!(raw[76..80], [0x20, 0x1f, 0x1e, 0x1d]);
        assert_eq!(
            raw[80..88],
            [0x28, 0x27, 0x26, 0x25, 0x24, 0x23, 0x22, 0x21]
        );
        assert_eq!(
            raw[88..96],
            [0x30, 0x2f, 0x2e, 0x2d, 0x2c, 0x2b, 0x2a, 0x29]
        );
        assert_eq!(
            raw[96..104],
            [0x38, 0x37, 0x36, 0x35, 0x34, 0x33, 0x32, 0x31]
        );
        assert_eq!(
            raw[104..112],
            [0x40, 0x3f, 0x3e, 0x3d, 0x3c, 0x3b, 0x3a, 0x39]
        );
        assert_eq!(
            raw[112..120],
            [0x48, 0x47, 0x46, 0x45, 0x44, 0x43, 0x42, 0x41]
        );
        assert!(
            raw[OFF_PADDING..OFF_CHECKSUM].iter().all(|b| *b == 0),
            "padding"
        );
        assert_eq!(
            raw[4088..4096],
            [0x50, 0x4f, 0x4e, 0x4d, 0x4c, 0x4b, 0x4a, 0x49]
        );
    }

    #[test]
    fn info_block_round_trips() {
        let sb = sample();
        let mut raw = [0u8; INFO_SIZE];
        sb.encode(&mut raw);
        assert_eq!(InfoBlock::decode(&raw), sb);
        let mut again = [0u8; INFO_SIZE];
        InfoBlock::decode(&raw).encode(&mut again);
        assert_eq!(raw, again);
        // Default (all zero) too.
        InfoBlock::default().encode(&mut raw);
        assert!(raw.iter().all(|b| *b == 0));
        assert_eq!(InfoBlock::decode(&raw), InfoBlock::default());
    }

    #[test]
    fn offsets_match_struct_btt_sb() {
        // struct btt_sb packs without holes: each field follows the previous one.
        let fields = [
            (OFF_SIGNATURE, 16),
            (OFF_UUID, 16),
            (OFF_PARENT_UUID, 16),
            (OFF_FLAGS, 4),
            (OFF_VERSION_MAJOR, 2),
            (OFF_VERSION_MINOR, 2),
            (OFF_EXTERNAL_LBASIZE, 4),
            (OFF_EXTERNAL_NLBA, 4),
            (OFF_INTERNAL_LBASIZE, 4),
            (OFF_INTERNAL_NLBA, 4),
            (OFF_NFREE, 4),
            (OFF_INFOSIZE, 4),
            (OFF_NEXTOFF, 8),
            (OFF_DATAOFF, 8),
            (OFF_MAPOFF, 8),
            (OFF_LOGOFF, 8),
            (OFF_INFO2OFF, 8),
            (OFF_PADDING, 3968),
            (OFF_CHECKSUM, 8),
        ];
        let mut at = 0;
        for (off, len) in fields {
            assert_eq!(off, at);
            at += len;
        }
        assert_eq!(at, INFO_SIZE);
    }

    #[test]
    fn fletcher64_known_values() {
        assert_eq!(fletcher64(&[]), 0);
        // Words 1, 2: lo32 = 1 then 3, hi32 = 1 + 3 = 4.
        assert_eq!(fletcher64(&[1, 0, 0, 0, 2, 0, 0, 0]), (4 << 32) | 3);
        // A trailing partial word is ignored, as in C.
        assert_eq!(fletcher64(&[1, 0, 0, 0, 2, 0, 0, 0, 9, 9]), (4 << 32) | 3);
        // Little-endian words.
        assert_eq!(
            fletcher64(&[0x78, 0x56, 0x34, 0x12]),
            (0x1234_5678 << 32) | 0x1234_5678
        );
        // lo32 wraps at 32 bits; hi32 sums in 64 bits, then the shift drops its top.
        let ff = [0xffu8; 8];
        // lo32: 0xffffffff, 0xfffffffe; hi32: 0x1_ffff_fffd.
        assert_eq!(fletcher64(&ff), (0x1_ffff_fffdu64 << 32) | 0xffff_fffe);
        // Words 1..=4: lo32 1, 3, 6, 10; hi32 = 20.
        let mut w = [0u8; 16];
        for (i, c) in w.chunks_exact_mut(4).enumerate() {
            c.copy_from_slice(&(i as u32 + 1).to_le_bytes());
        }
        assert_eq!(fletcher64(&w), (20 << 32) | 10);
    }

    #[test]
    fn info_checksum_is_fletcher64_with_the_field_zeroed() {
        let mut raw = [0u8; INFO_SIZE];
        sample().encode(&mut raw);
        let stored = raw;
        raw[OFF_CHECKSUM..].fill(0);
        assert_eq!(info_checksum(&stored), fletcher64(&raw));
        assert_eq!(info_checksum(&raw), fletcher64(&raw));
    }

    #[test]
    fn seal_makes_a_block_that_verifies_and_any_flip_breaks_it() {
        let mut sb = sample();
        let mut raw = [0u8; INFO_SIZE];
        sb.seal(&mut raw);
        assert!(checksum_ok(&raw));
        assert_eq!(InfoBlock::decode(&raw), sb);
        assert_eq!(sb.checksum, info_checksum(&raw));
        for at in [
            0,
            48,
            100,
            2000,
            OFF_CHECKSUM - 1,
            OFF_CHECKSUM,
            INFO_SIZE - 1,
        ] {
            let mut bad = raw;
            bad[at] ^= 0x10;
            assert!(!checksum_ok(&bad), "flip at {at}");
        }
    }

    #[test]
    fn c_made_info_blocks_verify() {
        for (name, base, fixture, (ext, int), (maj, min), (enlba, inlba), sum) in C_FIXTURES {
            let raw = sparse_block(fixture, base);
            let sb = InfoBlock::decode(&raw);
            assert!(sb.signature_ok(), "{name}");
            assert_eq!(sb.checksum, sum, "{name}: stored checksum");
            assert_eq!(info_checksum(&raw), sum, "{name}: computed checksum");
            assert!(checksum_ok(&raw), "{name}");
            assert_eq!(
                (sb.external_lbasize, sb.internal_lbasize),
                (ext, int),
                "{name}"
            );
            assert_eq!((sb.version_major, sb.version_minor), (maj, min), "{name}");
            assert_eq!(
                (sb.external_nlba, sb.internal_nlba),
                (enlba, inlba),
                "{name}"
            );
            assert_eq!(
                (sb.nfree, sb.infosize, sb.flags, sb.nextoff),
                (256, 4096, 0, 0)
            );
            assert_eq!(sb.dataoff, 4096, "{name}");
            assert!(!sb.has_error_flag());
            // Re-encoding C's block gives C's bytes (padding is zero), and
            // sealing it again gives C's checksum.
            let mut again = [0u8; INFO_SIZE];
            sb.encode(&mut again);
            assert_eq!(raw, again, "{name}");
            let mut resealed = sb;
            resealed.seal(&mut again);
            assert_eq!(resealed.checksum, sum, "{name}");
            // The backup at info2off is the same block.
            let raw2 = sparse_block(fixture, base + sb.info2off);
            assert_eq!(raw, raw2, "{name}: info2");
        }
    }

    #[test]
    fn error_flag() {
        let mut sb = InfoBlock::default();
        assert!(!sb.has_error_flag());
        sb.flags = IB_FLAG_ERROR;
        assert!(sb.has_error_flag());
        sb.flags = 0xffff_fffe;
        assert!(!sb.has_error_flag());
    }
}
