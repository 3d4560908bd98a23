// SPDX-License-Identifier: GPL-2.0
//! The `btt` tool on copies of the C driver's fixtures and on images it
//! makes: info, check (clean, damaged: exit 1 and the image untouched),
//! repair of info blocks and of an interrupted write for every kind of
//! sector size, the pre-4.15 (0, 2) flog padding kept across writes, and its
//! rewrite to (0, 1).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use btt_core::btt::info::{InfoBlock, INFO_SIZE};
use btt_core::btt::{Btt, Config, Media};
use btt_core::host::{FileMedia, MemMedia, RecordingMedia, StdPlatform};

/// C fixtures: name, BTT offset in the namespace, lbasize.
const FIXTURES: [(&str, u64, u32); 4] = [
    ("c-v2.0-4096-labelless", 0, 4096),
    ("c-v1.1-512", 4096, 512),
    ("c-v1.1-520", 4096, 520),
    ("c-v2.0-4160", 0, 4160),
];

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../btt_core/tests/fixtures")
        .join(format!("{name}.raw.sparse"));
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    btt_core::host::unpack_sparse(&raw).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fresh path in the target's temporary directory, removed when dropped.
struct Tmp(PathBuf);

impl std::ops::Deref for Tmp {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Tmp {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn tmp(name: &str) -> Tmp {
    let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("btt-cli-{name}.img"));
    let _ = std::fs::remove_file(&p);
    Tmp(p)
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
    bytes: Vec<u8>,
}

fn btt(args: &[&str], stdin: Option<&[u8]>) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_btt"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        let mut si = child.stdin.take().unwrap();
        if let Some(data) = stdin {
            si.write_all(data).unwrap();
        }
    }
    let o = child.wait_with_output().unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        bytes: o.stdout,
    }
}

fn run(args: &[&str]) -> Out {
    btt(args, None)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn expect(o: &Out, code: i32, has: &[&str], what: &str) {
    assert_eq!(
        o.code, code,
        "{what}: exit {}\nstdout:\n{}\nstderr:\n{}",
        o.code, o.stdout, o.stderr
    );
    for h in has {
        assert!(
            o.stdout.contains(h),
            "{what}: no {h:?} in\n{}\nstderr:\n{}",
            o.stdout,
            o.stderr
        );
    }
}

/// A sector of `len` bytes that identifies `seed`.
fn sector(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

#[test]
fn info_prints_the_info_block_fields_of_c_images() {
    for (name, off, lbasize) in FIXTURES {
        let img = tmp(&format!("info-{name}"));
        let bytes = fixture(name);
        std::fs::write(&img, &bytes).unwrap();
        let o = run(&["info", s(&img), "--offset", &off.to_string()]);
        let ext = format!("external_lbasize   {lbasize}");
        let want = [
            "arena 0: at 0x0",
            "info block from the primary",
            "signature          BTT_ARENA_INFO",
            ext.as_str(),
            "nfree              256",
            "info2off",
            "checksum",
            "(ok)",
            "identical to info",
            "log_index_0        0",
            "log_index_1        1",
            "flog               256 lanes",
        ];
        expect(&o, 0, &want, name);
        assert!(std::fs::read(&img).unwrap() == bytes, "{name}: info wrote");
    }
}

#[test]
fn check_is_clean_on_c_images_of_every_kind() {
    // ndctl check-namespace refuses 520 and 4160; btt check takes them all.
    for (name, off, _) in FIXTURES {
        let img = tmp(&format!("clean-{name}"));
        let bytes = fixture(name);
        std::fs::write(&img, &bytes).unwrap();
        let o = run(&["check", s(&img), "--offset", &off.to_string()]);
        expect(&o, 0, &["clean: 1 arena(s)"], name);
        assert!(!o.stdout.contains("problem"), "{name}: {}", o.stdout);
        assert!(std::fs::read(&img).unwrap() == bytes, "{name}: check wrote");
    }
}

/// Damages `bytes` (at the BTT offset `off`), checks (exit 1, untouched),
/// repairs (exit `repair_code`), and returns the image after the repair.
fn damage_check_repair(
    name: &str,
    off: u64,
    bytes: &[u8],
    damage: &dyn Fn(&mut Vec<u8>),
    problem: &str,
    repaired: &str,
    repair_code: i32,
) -> Vec<u8> {
    let img = tmp(&format!("damaged-{name}"));
    let mut bad = bytes.to_vec();
    damage(&mut bad);
    std::fs::write(&img, &bad).unwrap();
    let offs = off.to_string();
    let o = run(&["check", s(&img), "--offset", &offs]);
    expect(&o, 1, &[problem, "problem(s)"], name);
    assert!(
        std::fs::read(&img).unwrap() == bad,
        "{name}: check without --repair wrote"
    );
    let o = run(&["check", s(&img), "--offset", &offs, "--repair"]);
    expect(&o, repair_code, &[repaired], name);
    if repair_code == 0 {
        let o = run(&["check", s(&img), "--offset", &offs]);
        expect(&o, 0, &["clean"], name);
    }
    std::fs::read(&img).unwrap()
}

#[test]
fn repair_restores_either_info_block_for_every_sector_size() {
    for (name, off, _) in FIXTURES {
        let bytes = fixture(name);
        let o = off as usize;
        let sb = InfoBlock::decode(&bytes[o..o + INFO_SIZE].try_into().unwrap());
        let info2 = o + sb.info2off as usize;
        // The primary: a byte of padding, so only the checksum is wrong.
        let fixed = damage_check_repair(
            &format!("{name}-primary"),
            off,
            &bytes,
            &|b| b[o + 200] ^= 0x40,
            "primary info block invalid: field checksum at byte offset 0xff8",
            "repaired: primary info block restored from info2: wrote 4096 bytes at byte offset 0x0",
            0,
        );
        assert!(fixed == bytes, "{name}: primary not restored to C's bytes");
        // The backup: its signature.
        let fixed = damage_check_repair(
            &format!("{name}-backup"),
            off,
            &bytes,
            &|b| b[info2] = b'X',
            "backup (info2) info block invalid: field signature",
            "repaired: backup info block (info2) restored from the primary",
            0,
        );
        assert!(fixed == bytes, "{name}: info2 not restored to C's bytes");
        // Both: nothing to restore from, nothing written.
        let mut both = bytes.clone();
        both[o + 200] ^= 0x40;
        both[info2 + 200] ^= 0x40;
        let fixed = damage_check_repair(
            &format!("{name}-both"),
            off,
            &bytes,
            &|b| {
                b[o + 200] ^= 0x40;
                b[info2 + 200] ^= 0x40;
            },
            "unusable",
            "not repaired",
            1,
        );
        assert!(fixed == both, "{name}: an unrepairable image was written");
    }
}

/// The configuration of the BTT at `off` in `bytes`, from its info block.
fn config_of(bytes: &[u8], off: u64, lbasize: u32) -> Config {
    let o = off as usize;
    let sb = InfoBlock::decode(&bytes[o..o + INFO_SIZE].try_into().unwrap());
    Config::new(
        lbasize,
        sb.uuid,
        sb.parent_uuid,
        sb.version_major,
        sb.version_minor,
    )
}

/// Writes LBA `lba` of the BTT in `bytes` with the core, keeping all its
/// media writes but the last (the map update): a write cut by a power
/// failure after its flog entry. Returns the damaged image and the sector.
fn cut_write(bytes: &[u8], off: u64, lbasize: u32, lba: u64) -> (Vec<u8>, Vec<u8>) {
    let o = off as usize;
    let mut cfg = config_of(bytes, off, lbasize);
    cfg.nlanes = 1;
    let rec = RecordingMedia::new(MemMedia::from_vec(bytes[o..].to_vec()));
    let (btt, lanes) = Btt::<_, StdPlatform>::open(&rec, &cfg).unwrap();
    let mut lane = lanes.into_iter().next().unwrap();
    rec.take_log();
    let ss = btt.sector_size() as usize;
    let data = sector(ss, 0xa5);
    btt.write(&mut lane, lba, &data, None).unwrap();
    let log = rec.take_log();
    let map_write = log.last().unwrap();
    assert_eq!(map_write.bytes.len(), 4, "the last write is the map entry");
    let mut out = bytes.to_vec();
    for r in &log[..log.len() - 1] {
        let at = o + r.offset as usize;
        out[at..at + r.bytes.len()].copy_from_slice(&r.bytes);
    }
    (out, data)
}

#[test]
fn repair_rolls_an_interrupted_write_forward_for_every_sector_size() {
    for (name, off, lbasize) in FIXTURES {
        let bytes = fixture(name);
        let (cut, data) = cut_write(&bytes, off, lbasize, 3);
        let fixed = damage_check_repair(
            &format!("{name}-cut"),
            off,
            &bytes,
            &|b| *b = cut.clone(),
            "names block",
            "rolled forward",
            0,
        );
        let img = tmp(&format!("cut-read-{name}"));
        std::fs::write(&img, &fixed).unwrap();
        let o = run(&["read", s(&img), "3", "--offset", &off.to_string()]);
        expect(&o, 0, &[], name);
        assert!(
            o.bytes == data,
            "{name}: the rolled-forward sector does not read back"
        );
    }
}

#[test]
fn double_ownership_is_reported_and_not_repaired() {
    let (name, off, _) = FIXTURES[0];
    let bytes = fixture(name);
    let sb = InfoBlock::decode(&bytes[..INFO_SIZE].try_into().unwrap());
    let m = sb.mapoff as usize;
    let e = (5u32 | 0xC000_0000).to_le_bytes();
    let mut bad = bytes.clone();
    bad[m + 4 * 9..m + 4 * 10].copy_from_slice(&e);
    bad[m + 4 * 10..m + 4 * 11].copy_from_slice(&e);
    let fixed = damage_check_repair(
        "double",
        off,
        &bytes,
        &|b| *b = bad.clone(),
        "owned twice",
        "not repaired: the BTT does not open",
        1,
    );
    assert!(
        fixed == bad,
        "an image with a doubly owned block was written"
    );
    // The offset printed is the map entry's.
    let img = tmp("double-offset");
    std::fs::write(&img, &bad).unwrap();
    let o = run(&["check", s(&img)]);
    let at = format!("{:#x}", sb.mapoff + 4 * 10);
    expect(&o, 1, &["map entry 10 at byte offset", &at], "double");
}

/// Every sector of the BTT at `off` in `bytes`, read by the core.
fn all_sectors(bytes: &[u8], off: u64, lbasize: u32) -> Vec<u8> {
    let o = off as usize;
    let mut cfg = config_of(bytes, off, lbasize);
    cfg.read_only = true;
    cfg.nlanes = 1;
    let (btt, lanes) =
        Btt::<_, StdPlatform>::open(MemMedia::from_vec(bytes[o..].to_vec()), &cfg).unwrap();
    let mut lane = lanes.into_iter().next().unwrap();
    let ss = btt.sector_size() as usize;
    let mut out = vec![0u8; btt.nlba() as usize * ss];
    for (lba, buf) in out.chunks_exact_mut(ss).enumerate() {
        btt.read(&mut lane, lba as u64, buf, None).unwrap();
    }
    out
}

#[test]
fn read_count_gives_every_sector_as_the_core_reads_it() {
    for (name, off, lbasize) in FIXTURES {
        let bytes = fixture(name);
        let img = tmp(&format!("count-{name}"));
        std::fs::write(&img, &bytes).unwrap();
        let offs = off.to_string();
        let all = all_sectors(&bytes, off, lbasize);
        let o = run(&["read", s(&img), "0", "--count", "0", "--offset", &offs]);
        expect(&o, 0, &[], name);
        assert!(o.bytes == all, "{name}: --count 0 is not every sector");
        let ss = if lbasize >= 4096 { 4096 } else { 512 };
        let o = run(&["read", s(&img), "2", "--count", "3", "--offset", &offs]);
        expect(&o, 0, &[], name);
        assert!(
            o.bytes == all[2 * ss..5 * ss],
            "{name}: --count 3 from LBA 2"
        );
    }
    let img = tmp("count-usage");
    std::fs::write(&img, b"").unwrap();
    assert_eq!(run(&["check", s(&img), "--count", "1"]).code, 2);
}

/// A named way to damage an image.
type Damage<'a> = (&'a str, &'a dyn Fn(&mut Vec<u8>));

#[test]
fn repair_mends_a_damaged_flog_for_every_sector_size() {
    for (name, off, lbasize) in FIXTURES {
        let bytes = fixture(name);
        let data = all_sectors(&bytes, off, lbasize);
        let o = off as usize;
        let sb = InfoBlock::decode(&bytes[o..o + INFO_SIZE].try_into().unwrap());
        let (log, map) = (o + sb.logoff as usize, o + sb.mapoff as usize);
        let live = |b: &[u8], at: usize| b[at + 12..at + 16] != [0; 4];
        let damages: [Damage; 3] = [
            ("new-map", &|b| {
                for slot in (0..64).step_by(16) {
                    let at = log + 64 + slot;
                    if live(b, at) {
                        b[at + 8..at + 12].copy_from_slice(&0x3fff_fff0u32.to_le_bytes());
                    }
                }
            }),
            ("zeroed", &|b| b[log..log + 4 * 64].fill(0)),
            ("mapped-free-block", &|b| {
                let e = u32::from_le_bytes(b[map + 12..map + 16].try_into().unwrap());
                let block = if e >> 30 == 0 { 3 } else { e & 0x3fff_ffff };
                for slot in (0..64).step_by(16) {
                    let at = log + slot;
                    if live(b, at) {
                        b[at + 4..at + 8].copy_from_slice(&block.to_le_bytes());
                        b[at + 8..at + 12].copy_from_slice(&block.to_le_bytes());
                    }
                }
            }),
        ];
        for (what, damage) in damages {
            let fixed = damage_check_repair(
                &format!("{name}-flog-{what}"),
                off,
                &bytes,
                damage,
                "flog",
                "fresh entry, free block",
                0,
            );
            assert!(
                all_sectors(&fixed, off, lbasize) == data,
                "{name} {what}: data changed by the repair"
            );
            // The mended BTT takes writes on every lane and keeps them.
            let img = tmp(&format!("mended-{name}-{what}"));
            std::fs::write(&img, &fixed).unwrap();
            let ss = if lbasize >= 4096 { 4096 } else { 512 };
            let offs = off.to_string();
            for lba in [0u64, 3, 9] {
                let sec = sector(ss, lba as u8 + 1);
                let w = btt(
                    &["write", s(&img), &lba.to_string(), "--offset", &offs],
                    Some(&sec),
                );
                expect(&w, 0, &[], &format!("{name} {what}: write {lba}"));
                let r = btt(
                    &["read", s(&img), &lba.to_string(), "--offset", &offs],
                    None,
                );
                assert!(r.bytes == sec, "{name} {what}: sector {lba} not read back");
            }
            let o = run(&["check", s(&img), "--offset", &offs]);
            expect(&o, 0, &["clean"], &format!("{name} {what}: after writes"));
        }
    }
}

fn log_index_of(img: &Path, off: u64, lbasize: u32) -> [u32; 2] {
    let f = std::fs::File::open(img).unwrap();
    let len = f.metadata().unwrap().len();
    let media = FileMedia::new(f, off, len - off, false);
    let mut raw = [0u8; INFO_SIZE];
    media.read(0, &mut raw).unwrap();
    let sb = InfoBlock::decode(&raw);
    let mut cfg = Config::new(lbasize, sb.uuid, sb.parent_uuid, 2, 0);
    cfg.read_only = true;
    cfg.nlanes = 1;
    let (btt, _) = Btt::<_, StdPlatform>::open(media, &cfg).unwrap();
    btt.arena(0).unwrap().log_index
}

#[test]
fn old_padding_image_keeps_its_padding_and_converts_on_request() {
    for (lbasize, off, meta) in [(4096u32, 0u64, 0usize), (520, 4096, 8), (4224, 0, 128)] {
        let what = format!("old padding {lbasize}");
        let img = tmp(&format!("old-padding-{lbasize}"));
        let offs = off.to_string();
        let lbs = lbasize.to_string();
        let o = run(&[
            "create",
            s(&img),
            "--size",
            "32M",
            "--lbasize",
            &lbs,
            "--offset",
            &offs,
            "--old-padding",
        ]);
        expect(
            &o,
            0,
            &[
                "created a BTT",
                "256 log groups given the pre-4.15 (0, 2) padding",
            ],
            &what,
        );
        assert_eq!(log_index_of(&img, off, lbasize), [0, 2], "{what}");
        let o = run(&["check", s(&img), "--offset", &offs]);
        expect(&o, 0, &["(0, 2) padding", "clean"], &what);

        // Writes (with metadata where there is some) keep the padding.
        let ss = if lbasize >= 4096 { 4096 } else { 512 };
        let mut written = Vec::new();
        for (i, lba) in [0u64, 7, 1000].into_iter().enumerate() {
            let data = sector(ss + meta, i as u8 + 1);
            let mut args = vec!["write", s(&img), "--offset", &offs];
            let l = lba.to_string();
            args.push(&l);
            if meta > 0 {
                args.push("--meta");
            }
            let o = btt(&args, Some(&data));
            expect(&o, 0, &[], &what);
            written.push((lba, data));
        }
        assert_eq!(
            log_index_of(&img, off, lbasize),
            [0, 2],
            "{what}: after writes"
        );
        let o = run(&["info", s(&img), "--offset", &offs]);
        expect(&o, 0, &["log_index_1        2"], &what);
        let o = run(&["check", s(&img), "--offset", &offs]);
        expect(&o, 0, &["(0, 2) padding", "clean"], &what);

        // --rewrite-log-padding converts to (0, 1); the data stays.
        let o = run(&[
            "check",
            s(&img),
            "--offset",
            &offs,
            "--repair",
            "--rewrite-log-padding",
        ]);
        expect(&o, 0, &["slot 2 moved to slot 1", "clean"], &what);
        assert_eq!(
            log_index_of(&img, off, lbasize),
            [0, 1],
            "{what}: after rewrite"
        );
        let o = run(&["check", s(&img), "--offset", &offs]);
        expect(&o, 0, &["clean"], &what);
        assert!(!o.stdout.contains("(0, 2)"), "{what}: {}", o.stdout);
        for (lba, data) in written {
            let l = lba.to_string();
            let mut args = vec!["read", s(&img), "--offset", &offs, &l];
            if meta > 0 {
                args.push("--meta");
            }
            let o = run(&args);
            expect(&o, 0, &[], &what);
            assert!(o.bytes == data, "{what}: lba {lba} after the rewrite");
        }
    }
}

#[test]
fn create_makes_the_c_layout_and_refuses_to_overwrite() {
    let img = tmp("create");
    let o = run(&["create", s(&img), "--size", "32M", "--lbasize", "4096"]);
    expect(
        &o,
        0,
        &[
            "created a BTT 2.0 at offset 0",
            "7921 sectors of 4096 bytes",
        ],
        "create",
    );
    // Same geometry as the C fixture of the same size.
    let ours = std::fs::read(&img).unwrap();
    let theirs = fixture("c-v2.0-4096-labelless");
    let (a, b) = (
        InfoBlock::decode(&ours[..INFO_SIZE].try_into().unwrap()),
        InfoBlock::decode(&theirs[..INFO_SIZE].try_into().unwrap()),
    );
    assert_eq!(
        (
            a.external_nlba,
            a.internal_nlba,
            a.mapoff,
            a.logoff,
            a.info2off
        ),
        (
            b.external_nlba,
            b.internal_nlba,
            b.mapoff,
            b.logoff,
            b.info2off
        )
    );
    let o = run(&["create", s(&img), "--size", "32M", "--lbasize", "4096"]);
    expect(&o, 1, &[], "create over a BTT");
    assert!(o.stderr.contains("already holds a BTT"), "{}", o.stderr);
    assert!(
        std::fs::read(&img).unwrap() == ours,
        "create over a BTT wrote"
    );
    // Version 1.1 by default at offset 4096.
    let img = tmp("create-v11");
    let o = run(&[
        "create",
        s(&img),
        "--size",
        "16M",
        "--lbasize",
        "512",
        "--offset",
        "4096",
    ]);
    expect(&o, 0, &["created a BTT 1.1 at offset 4096"], "create v1.1");
    let o = run(&["check", s(&img), "--offset", "4096"]);
    expect(&o, 0, &["clean"], "create v1.1");
}

#[test]
fn usage_errors_exit_2() {
    let img = tmp("usage");
    std::fs::write(&img, b"").unwrap();
    for args in [
        vec![],
        vec!["frob", s(&img)],
        vec!["check"],
        vec!["check", s(&img), "--bogus"],
        vec!["check", s(&img), "--rewrite-log-padding"],
        vec!["info", s(&img), "--repair"],
        vec!["read", s(&img)],
        vec!["create", s(&img), "--size", "32M", "--lbasize", "1000"],
        vec!["info", s(&img), "--offset"],
    ] {
        let o = run(&args);
        assert_eq!(o.code, 2, "{args:?}: {}{}", o.stdout, o.stderr);
        assert!(o.stderr.contains("usage:"), "{args:?}");
    }
    // Not a BTT: exit 1 with one clear line.
    std::fs::write(&img, vec![0u8; 16 << 20]).unwrap();
    let o = run(&["check", s(&img)]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("no valid info block"), "{}", o.stderr);
}

#[test]
fn zero_sets_the_zero_flag_and_reads_zeroes() {
    let img = tmp("zero");
    let o = run(&["create", s(&img), "--size", "16M", "--lbasize", "512"]);
    expect(&o, 0, &[], "create");
    for lba in 0..6u8 {
        let o = btt(
            &["write", s(&img), &lba.to_string()],
            Some(&sector(512, lba)),
        );
        expect(&o, 0, &[], "write");
    }
    let o = run(&["zero", s(&img), "2", "--count", "3"]);
    expect(&o, 0, &["3 flagged, 0 already zero"], "zero");
    let o = run(&["zero", s(&img), "3"]);
    expect(&o, 0, &["0 flagged, 1 already zero"], "zero again");
    for lba in 0..6u8 {
        let o = run(&["read", s(&img), &lba.to_string()]);
        expect(&o, 0, &[], "read");
        let want = if (2..5).contains(&lba) {
            vec![0u8; 512]
        } else {
            sector(512, lba)
        };
        assert!(o.bytes == want, "lba {lba}");
    }
    let o = run(&["check", s(&img)]);
    expect(&o, 0, &[], "check after zero");
    let info = run(&["info", s(&img)]).stdout;
    let nlba: u64 = info
        .split(" sectors of")
        .next()
        .and_then(|h| h.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no sector count in {info}"));
    let o = btt(
        &["write", s(&img), &(nlba - 1).to_string()],
        Some(&sector(512, 9)),
    );
    expect(&o, 0, &[], "write the last");
    let o = run(&["zero", s(&img), &(nlba - 2).to_string(), "--count", "0"]);
    expect(
        &o,
        0,
        &["2 sector(s)", "2 flagged, 0 already zero"],
        "zero to the last",
    );
    let o = run(&["read", s(&img), &(nlba - 1).to_string()]);
    assert!(o.bytes == vec![0u8; 512]);
    let o = run(&["zero", s(&img), &(nlba - 1).to_string(), "--count", "2"]);
    expect(&o, 1, &[], "zero beyond the end");
    let o = run(&["write", s(&img), "1", "--count", "2"]);
    expect(&o, 2, &[], "--count with write");
}
