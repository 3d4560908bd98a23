// SPDX-License-Identifier: GPL-2.0
//! `btt`: inspect, check, repair and create BTT (Linux `nd_btt`) images on
//! the host, with the same core as the btt_rs kernel module.
//!
//! ```text
//! btt info   IMAGE [--offset N] [--size N] [--lbasize N]
//! btt check  IMAGE [--offset N] [--size N] [--lbasize N] [--uuid U] [--parent-uuid U]
//!                  [--repair [--rewrite-log-padding] [--trust-backup]]
//! btt create IMAGE --size N --lbasize N [--offset N] [--version 1.1|2.0] [--old-padding]
//! btt read   IMAGE LBA [--offset N] [--size N] [--lbasize N] [--meta]   (sector to stdout)
//! btt write  IMAGE LBA [--offset N] [--size N] [--lbasize N] [--meta]   (sector from stdin)
//! ```
//!
//! `--offset` is the byte offset of the BTT in the file: 4096 for a BTT with
//! info block version 1.1 (namespace label v1.1), 0 for 2.0 and for a
//! label-less namespace (e.g. a QEMU NVDIMM backing file without labels).
//! Sizes take K, M, G and T suffixes (powers of 1024).
//!
//! Exit status: 0 success (`check`: clean), 1 failure (`check`: problems
//! found or left), 2 usage error. Nothing is written except by `create`,
//! `write` and `check --repair`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::process::ExitCode;

use btt_core::btt::check::{self, CheckSummary, Finding, Owner};
use btt_core::btt::flog::{LogGroup, LOG_GRP_SIZE};
use btt_core::btt::info::{self, InfoBlock, INFO_SIZE};
use btt_core::btt::layout;
use btt_core::btt::{ArenaInfo, Btt, Config, Error, InfoSource, Media};
use btt_core::host::{FileMedia, StdPlatform};

const USAGE: &str = "usage:
  btt info   IMAGE [--offset N] [--size N] [--lbasize N]
  btt check  IMAGE [--offset N] [--size N] [--lbasize N] [--uuid U] [--parent-uuid U]
                   [--repair [--rewrite-log-padding] [--trust-backup]]
  btt create IMAGE --size N --lbasize N [--offset N] [--version 1.1|2.0] [--old-padding]
  btt read   IMAGE LBA [--offset N] [--size N] [--lbasize N] [--meta]
  btt write  IMAGE LBA [--offset N] [--size N] [--lbasize N] [--meta]
--offset: byte offset of the BTT in IMAGE (4096 for info block v1.1, 0 for v2.0 / label-less)
--size: size of the BTT in bytes (default: the rest of IMAGE; a QEMU NVDIMM file ends with its label area)
--uuid, --parent-uuid: the BTT's uuid and its namespace's, as expected (32 hex digits, dashes allowed)
--trust-backup: restore a primary info block from its backup even when nothing shows it is this BTT's";

/// Problems found are printed one per line; past this many, only counted.
const MAX_PRINTED: usize = 200;

/// Why the tool stops.
enum Fail {
    /// Bad command line: exit 2.
    Usage(String),
    /// Anything else: exit 1.
    Other(String),
}

fn usage<T>(msg: impl Into<String>) -> Result<T, Fail> {
    Err(Fail::Usage(msg.into()))
}

fn fail<T>(msg: impl Into<String>) -> Result<T, Fail> {
    Err(Fail::Other(msg.into()))
}

#[derive(Default)]
struct Opts {
    cmd: String,
    image: String,
    lba: Option<u64>,
    offset: u64,
    lbasize: Option<u32>,
    size: Option<u64>,
    version: Option<(u16, u16)>,
    repair: bool,
    rewrite_log_padding: bool,
    trust_backup: bool,
    uuid: Option<[u8; 16]>,
    parent_uuid: Option<[u8; 16]>,
    old_padding: bool,
    meta: bool,
}

/// A size or number, with an optional K/M/G/T suffix.
fn parse_num(s: &str) -> Result<u64, Fail> {
    let (digits, shift) = match s.as_bytes().last() {
        Some(b'K' | b'k') => (&s[..s.len() - 1], 10),
        Some(b'M' | b'm') => (&s[..s.len() - 1], 20),
        Some(b'G' | b'g') => (&s[..s.len() - 1], 30),
        Some(b'T' | b't') => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    let v = if let Some(hex) = digits.strip_prefix("0x") {
        u64::from_str_radix(hex, 16)
    } else {
        digits.parse::<u64>()
    };
    match v.ok().and_then(|v| v.checked_mul(1u64 << shift)) {
        Some(v) => Ok(v),
        None => usage(format!("not a number: {s}")),
    }
}

/// A uuid: 32 hex digits, dashes anywhere (`uuidgen`'s form or bare).
fn parse_uuid(s: &str) -> Result<[u8; 16], Fail> {
    let hex: Vec<u8> = s.bytes().filter(|&c| c != b'-').collect();
    let mut u = [0u8; 16];
    let ok = hex.len() == 32
        && hex.chunks(2).zip(u.iter_mut()).all(|(pair, b)| {
            let v = std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok());
            if let Some(v) = v {
                *b = v;
            }
            v.is_some()
        });
    if !ok {
        return usage(format!("not a uuid: {s}"));
    }
    Ok(u)
}

fn parse(args: &[String]) -> Result<Opts, Fail> {
    let mut o = Opts::default();
    let mut it = args.iter();
    o.cmd = match it.next() {
        Some(c) => c.clone(),
        None => return usage("no command"),
    };
    if !["info", "check", "create", "read", "write"].contains(&o.cmd.as_str()) {
        return usage(format!("unknown command {}", o.cmd));
    }
    let mut positional = Vec::new();
    while let Some(a) = it.next() {
        let mut value = |name: &str| match it.next() {
            Some(v) => Ok(v.clone()),
            None => usage(format!("{name} needs a value")),
        };
        match a.as_str() {
            "--offset" => o.offset = parse_num(&value(a)?)?,
            "--lbasize" => {
                let v = parse_num(&value(a)?)?;
                match u32::try_from(v) {
                    Ok(v) if layout::SUPPORTED_LBASIZES.contains(&v) => o.lbasize = Some(v),
                    _ => {
                        return usage(format!(
                            "--lbasize {v}: not one of {:?}",
                            layout::SUPPORTED_LBASIZES
                        ))
                    }
                }
            }
            "--size" => o.size = Some(parse_num(&value(a)?)?),
            "--version" => {
                o.version = match value(a)?.as_str() {
                    "1.1" => Some((1, 1)),
                    "2.0" => Some((2, 0)),
                    v => return usage(format!("--version {v}: 1.1 or 2.0")),
                }
            }
            "--repair" => o.repair = true,
            "--rewrite-log-padding" => o.rewrite_log_padding = true,
            "--trust-backup" => o.trust_backup = true,
            "--uuid" => o.uuid = Some(parse_uuid(&value(a)?)?),
            "--parent-uuid" => o.parent_uuid = Some(parse_uuid(&value(a)?)?),
            "--old-padding" => o.old_padding = true,
            "--meta" => o.meta = true,
            s if s.starts_with("--") => return usage(format!("unknown option {s}")),
            _ => positional.push(a.clone()),
        }
    }
    let want = if matches!(o.cmd.as_str(), "read" | "write") {
        2
    } else {
        1
    };
    if positional.len() != want {
        return usage(format!("{}: wrong number of arguments", o.cmd));
    }
    o.image = positional[0].clone();
    if want == 2 {
        o.lba = Some(parse_num(&positional[1])?);
    }
    let allowed = match o.cmd.as_str() {
        "check" => true,
        _ => !o.repair && !o.rewrite_log_padding && !o.trust_backup,
    };
    if !allowed || ((o.rewrite_log_padding || o.trust_backup) && !o.repair) {
        return usage(
            "--repair, --rewrite-log-padding and --trust-backup go with check \
             (--rewrite-log-padding and --trust-backup need --repair)",
        );
    }
    if o.cmd == "create" && o.parent_uuid.is_some() {
        return usage("--parent-uuid does not go with create");
    }
    if o.cmd != "create" && (o.version.is_some() || o.old_padding) {
        return usage("--version and --old-padding go with create");
    }
    if !matches!(o.cmd.as_str(), "read" | "write") && o.meta {
        return usage("--meta goes with read and write");
    }
    Ok(o)
}

fn open_file(path: &str, writable: bool) -> Result<File, Fail> {
    OpenOptions::new()
        .read(true)
        .write(writable)
        .open(path)
        .or_else(|e| fail(format!("{path}: {e}")))
}

/// The BTT's bytes: `file` from `offset` to its end (works for block devices).
fn media(o: &Opts, mut file: File, writable: bool) -> Result<FileMedia, Fail> {
    let len = file
        .seek(SeekFrom::End(0))
        .or_else(|e| fail(format!("{}: {e}", o.image)))?;
    if len < o.offset {
        return fail(format!(
            "{}: {len} bytes, shorter than --offset {}",
            o.image, o.offset
        ));
    }
    // --size: the BTT's size when the file holds more (a QEMU NVDIMM backing
    // file ends with its label area, which is not part of the namespace).
    let size = match o.size {
        Some(s) if s > len - o.offset => {
            return fail(format!("{}: --size {s} exceeds the file", o.image));
        }
        Some(s) => s,
        None => len - o.offset,
    };
    Ok(FileMedia::new(file, o.offset, size, writable))
}

/// A valid info block at `at`, if there is one.
fn valid_info(m: &FileMedia, at: u64) -> Option<InfoBlock> {
    let mut raw = [0u8; INFO_SIZE];
    m.read(at, &mut raw).ok()?;
    let sb = InfoBlock::decode(&raw);
    (sb.signature_ok() && info::checksum_ok(&raw)).then_some(sb)
}

/// The configuration of the BTT on `m`, from arena 0's primary info block,
/// else from its backup where C puts it, else from `--lbasize` alone.
fn config(o: &Opts, m: &FileMedia) -> Result<Config, Fail> {
    let sb = valid_info(m, 0)
        .or_else(|| {
            let off = layout::arena0_info2off(m.size())?;
            valid_info(m, off)
        })
        .or_else(|| {
            // Both damaged: take what the primary says, if it is one, so
            // that the check can name the field at fault.
            let mut raw = [0u8; INFO_SIZE];
            m.read(0, &mut raw).ok()?;
            let sb = InfoBlock::decode(&raw);
            let known = layout::SUPPORTED_LBASIZES.contains(&sb.external_lbasize);
            (sb.signature_ok() && (known || o.lbasize.is_some())).then_some(sb)
        });
    // What the user expects wins over what the media says: the check then
    // rejects a backup info block of another BTT instead of using it.
    let mut cfg = match (sb, o.lbasize) {
        (Some(sb), lbasize) => Config::new(
            lbasize.unwrap_or(sb.external_lbasize),
            o.uuid.unwrap_or(sb.uuid),
            o.parent_uuid.unwrap_or(sb.parent_uuid),
            sb.version_major,
            sb.version_minor,
        ),
        (None, Some(lbasize)) => Config::new(
            lbasize,
            o.uuid.unwrap_or([0; 16]),
            o.parent_uuid.unwrap_or([0; 16]),
            2,
            0,
        ),
        (None, None) => {
            return fail(format!(
                "{}: no valid info block at offset {} (nor its backup); is --offset right? \
                 (give --lbasize to check it anyway)",
                o.image, o.offset
            ))
        }
    };
    if !layout::SUPPORTED_LBASIZES.contains(&cfg.lbasize) {
        return fail(format!(
            "{}: external_lbasize {} is not supported; give --lbasize",
            o.image, cfg.lbasize
        ));
    }
    cfg.nlanes = 1;
    Ok(cfg)
}

fn hex16(b: &[u8; 16]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn uuid(b: &[u8; 16]) -> String {
    let h = hex16(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn print_info_block(sb: &InfoBlock, raw_ok: bool) {
    let sig: String = sb
        .signature
        .iter()
        .map(|&c| if c.is_ascii_graphic() { c as char } else { '.' })
        .collect();
    println!("    signature          {sig}");
    println!("    uuid               {}", uuid(&sb.uuid));
    println!("    parent_uuid        {}", uuid(&sb.parent_uuid));
    println!("    flags              {:#x}", sb.flags);
    println!("    version_major      {}", sb.version_major);
    println!("    version_minor      {}", sb.version_minor);
    println!("    external_lbasize   {}", sb.external_lbasize);
    println!("    external_nlba      {}", sb.external_nlba);
    println!("    internal_lbasize   {}", sb.internal_lbasize);
    println!("    internal_nlba      {}", sb.internal_nlba);
    println!("    nfree              {}", sb.nfree);
    println!("    infosize           {}", sb.infosize);
    println!("    nextoff            {:#x}", sb.nextoff);
    println!("    dataoff            {:#x}", sb.dataoff);
    println!("    mapoff             {:#x}", sb.mapoff);
    println!("    logoff             {:#x}", sb.logoff);
    println!("    info2off           {:#x}", sb.info2off);
    println!(
        "    checksum           {:#018x} ({})",
        sb.checksum,
        if raw_ok { "ok" } else { "BAD" }
    );
}

/// Runs the check, printing what `print` lets through.
fn run_check(
    m: &FileMedia,
    cfg: &Config,
    findings: &mut Vec<Finding>,
) -> Result<CheckSummary, Fail> {
    findings.clear();
    match check::check_btt::<_, StdPlatform>(m, cfg, |f| findings.push(*f)) {
        Ok(s) => Ok(s),
        Err(Error::NotFound) => fail("no BTT found (no info block signature at arena 0)"),
        Err(Error::NoSpace) => fail("smaller than one arena (16 MiB)"),
        Err(e) => fail(format!("check failed: {e}")),
    }
}

fn arenas_of(findings: &[Finding]) -> Vec<ArenaInfo> {
    findings
        .iter()
        .filter_map(|f| match f {
            Finding::Arena { info, .. } => Some(*info),
            _ => None,
        })
        .collect()
}

fn cmd_info(o: &Opts) -> Result<ExitCode, Fail> {
    let m = media(o, open_file(&o.image, false)?, false)?;
    let cfg = config(o, &m)?;
    let mut findings = Vec::new();
    let sum = run_check(&m, &cfg, &mut findings)?;
    let sector = layout::sector_size_for(cfg.lbasize);
    println!(
        "{}: BTT at offset {} ({} bytes): {} arena(s), {} sectors of {} bytes (lbasize {}), {} problem(s)",
        o.image,
        o.offset,
        m.size(),
        sum.arenas,
        sum.nlba,
        sector,
        cfg.lbasize,
        sum.problems
    );
    for (i, a) in arenas_of(&findings).iter().enumerate() {
        let from = match a.info_source {
            InfoSource::Primary => "primary",
            InfoSource::Backup => "backup (info2)",
        };
        println!(
            "arena {i}: at {:#x}, {} bytes, external_lba_start {}, info block from the {from}",
            a.infooff, a.size, a.external_lba_start
        );
        let mut first = [0u8; INFO_SIZE];
        for (name, at) in [("info", a.infooff), ("info2", a.info2off)] {
            let mut raw = [0u8; INFO_SIZE];
            if m.read(at, &mut raw).is_err() {
                println!("  {name} at {at:#x}: unreadable");
                continue;
            }
            let sb = InfoBlock::decode(&raw);
            let ok = sb.signature_ok() && info::checksum_ok(&raw);
            let state = if ok { "valid" } else { "INVALID" };
            if name == "info2" && raw == first {
                println!("  {name} at {at:#x} ({state}): identical to info");
                continue;
            }
            println!("  {name} at {at:#x} ({state}):");
            print_info_block(&sb, info::checksum_ok(&raw));
            first = raw;
        }
        println!(
            "  log_index_0        {}\n  log_index_1        {}",
            a.log_index[0], a.log_index[1]
        );
        let (mut used, mut initial, mut other) = (0, 0, 0);
        for lane in 0..a.nfree {
            let mut raw = [0u8; LOG_GRP_SIZE as usize];
            if m.read(a.logoff + u64::from(lane) * LOG_GRP_SIZE, &mut raw)
                .is_err()
            {
                other += 1;
                continue;
            }
            let g = LogGroup::decode(&raw);
            match g.ent.iter().filter(|e| !e.is_padding()).count() {
                1 => initial += 1,
                2 => used += 1,
                _ => other += 1,
            }
        }
        println!(
            "  flog               {} lanes: {used} used, {initial} in their initial state, {other} other",
            a.nfree
        );
    }
    for f in findings.iter().filter(|f| f.is_problem()).take(MAX_PRINTED) {
        println!("problem: {f}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the notes and problems of a check; returns the number of problems.
fn print_findings(findings: &[Finding]) -> usize {
    let mut problems = 0;
    for f in findings {
        if f.is_problem() {
            problems += 1;
            if problems <= MAX_PRINTED {
                println!("problem: {f}");
            }
        } else {
            println!("{f}");
        }
    }
    if problems > MAX_PRINTED {
        println!("... and {} more problems", problems - MAX_PRINTED);
    }
    problems
}

/// The arena a finding is about (info block findings only; else `usize::MAX`).
fn f_arena(f: &Finding) -> usize {
    match *f {
        Finding::InfoBlock { arena, .. } | Finding::InfoMismatch { arena, .. } => arena,
        _ => usize::MAX,
    }
}

/// The raw info block at `at`, and whether its signature and checksum hold.
fn raw_info(m: &FileMedia, at: u64) -> Option<([u8; INFO_SIZE], bool)> {
    let mut raw = [0u8; INFO_SIZE];
    m.read(at, &mut raw).ok()?;
    let sb = InfoBlock::decode(&raw);
    let ok = sb.signature_ok() && info::checksum_ok(&raw);
    Some((raw, ok))
}

/// Where an expectation comes from, and the uuid and parent uuid it expects.
type Known = (String, Option<[u8; 16]>, Option<[u8; 16]>);

/// Whether the backup info block of arena `i` may be copied over its
/// primary: `Err` says why not, in one line.
///
/// A backup can be another BTT's: ndctl clears only the primary when it
/// destroys a BTT, and a new BTT that is smaller (or differently placed)
/// leaves the old one's backup at the end of the namespace. Restoring it
/// would bring back the old BTT over the new one's data. So the backup must
/// (1) sit where its own `info2off` puts it, which is where C puts the backup
/// of an arena of this size (else it belongs to a BTT of another size or
/// offset: `--size`, `--offset`), and (2) carry the uuid and parent uuid this
/// BTT is known by: `--uuid` / `--parent-uuid` if given, and the valid
/// primaries of the other arenas; when neither exists, the damaged primary's
/// own uuid fields if its signature survived (a bit flip elsewhere). A
/// primary with no signature left (cleared, as ndctl clears it) in a
/// single-arena BTT leaves nothing to compare with: that is refused unless
/// `--uuid` or `--trust-backup` says otherwise, because a cleared primary is
/// exactly what a deliberately destroyed BTT looks like. `--trust-backup`
/// overrides both tests.
fn backup_belongs(o: &Opts, m: &FileMedia, arenas: &[ArenaInfo], i: usize) -> Result<(), String> {
    if o.trust_backup {
        return Ok(());
    }
    let a = arenas.get(i).ok_or("arena not found")?;
    let (b_raw, b_ok) = raw_info(m, a.info2off).ok_or("backup unreadable")?;
    if !b_ok {
        return Err("the backup is not valid".into());
    }
    let sb = InfoBlock::decode(&b_raw);
    let want_at = m
        .size()
        .checked_sub(a.infooff)
        .and_then(layout::arena0_info2off)
        .map(|x| a.infooff + x);
    if want_at != Some(a.info2off) {
        return Err(format!(
            "the backup at byte offset {:#x} does not fit this BTT's size (a backup of this arena \
             would be at {}): is it an older BTT's? (check --size and --offset; --trust-backup to \
             restore it anyway)",
            a.info2off,
            want_at.map_or("no offset".into(), |x| format!("{x:#x}"))
        ));
    }
    // (source, uuid, parent uuid) this BTT is known by.
    let mut known: Vec<Known> = Vec::new();
    if o.uuid.is_some() || o.parent_uuid.is_some() {
        known.push(("--uuid/--parent-uuid".into(), o.uuid, o.parent_uuid));
    }
    for (j, other) in arenas.iter().enumerate().filter(|(j, _)| *j != i) {
        if let Some((raw, true)) = raw_info(m, other.infooff) {
            let sb = InfoBlock::decode(&raw);
            known.push((
                format!("arena {j}'s primary info block"),
                Some(sb.uuid),
                Some(sb.parent_uuid),
            ));
        }
    }
    if known.is_empty() {
        if let Some((raw, _)) = raw_info(m, a.infooff) {
            let p = InfoBlock::decode(&raw);
            if p.signature_ok() {
                known.push((
                    "the damaged primary's uuid fields".into(),
                    Some(p.uuid),
                    Some(p.parent_uuid),
                ));
            }
        }
    }
    if known.is_empty() {
        return Err(format!(
            "the primary is cleared and nothing else names this BTT: the backup (uuid {}) may be \
             a destroyed BTT's (give --uuid, or --trust-backup to restore it)",
            uuid(&sb.uuid)
        ));
    }
    for (src, u, pu) in &known {
        if let Some(u) = u.filter(|u| *u != sb.uuid) {
            return Err(format!(
                "the backup's uuid {} is not {} ({src}): it belongs to another BTT",
                uuid(&sb.uuid),
                uuid(&u)
            ));
        }
        if let Some(pu) = pu.filter(|pu| *pu != sb.parent_uuid) {
            return Err(format!(
                "the backup's parent_uuid {} is not {} ({src}): it belongs to another BTT",
                uuid(&sb.parent_uuid),
                uuid(&pu)
            ));
        }
    }
    Ok(())
}

fn cmd_check(o: &Opts) -> Result<ExitCode, Fail> {
    let m = media(o, open_file(&o.image, o.repair)?, o.repair)?;
    let cfg = config(o, &m)?;
    let mut findings = Vec::new();
    let sum = run_check(&m, &cfg, &mut findings)?;
    println!(
        "{}: BTT at file offset {}; byte offsets below are from there",
        o.image, o.offset
    );
    let problems = print_findings(&findings);
    if !o.repair {
        return Ok(finish(&sum, problems));
    }

    let arenas = arenas_of(&findings);
    let mut repaired = 0usize;
    let arena = |i: usize| arenas.get(i);
    // Info blocks: from the valid copy to the invalid one; the primary wins
    // when both are valid and differ (open uses the primary).
    for f in &findings {
        let (from, to, what) = match *f {
            Finding::InfoBlock {
                arena: i,
                backup: false,
                other_valid: true,
                ..
            } => match arena(i) {
                Some(a) => (
                    a.info2off,
                    a.infooff,
                    "primary info block restored from info2",
                ),
                None => continue,
            },
            Finding::InfoBlock {
                arena: i,
                backup: true,
                other_valid: true,
                ..
            }
            | Finding::InfoMismatch { arena: i, .. } => match arena(i) {
                Some(a) => (
                    a.infooff,
                    a.info2off,
                    "backup info block (info2) restored from the primary",
                ),
                None => continue,
            },
            _ => continue,
        };
        if to == arena(f_arena(f)).map_or(u64::MAX, |a| a.infooff) {
            if let Err(why) = backup_belongs(o, &m, &arenas, f_arena(f)) {
                println!("not repaired: {what}: refused: {why}");
                continue;
            }
        }
        match check::copy_info_block(&m, from, to) {
            Ok(()) => {
                repaired += 1;
                println!("repaired: {what}: wrote {INFO_SIZE} bytes at byte offset {to:#x} (from {from:#x})");
            }
            Err(e) => println!("not repaired: {what}: {e}"),
        }
    }
    if o.rewrite_log_padding {
        for (i, a) in arenas.iter().enumerate() {
            let r = check::rewrite_log_padding(&m, a, |lane, off| {
                println!(
                    "repaired: arena {i}: flog lane {lane} at byte offset {off:#x}: slot 2 moved to slot 1 ((0, 1) padding)"
                )
            });
            match r {
                Ok(n) => repaired += n as usize,
                Err(e) => println!("not repaired: arena {i}: flog padding: {e}"),
            }
        }
    }
    // Flog lanes that are invalid or whose free block is owned twice: fresh
    // groups with unowned blocks, over a sound map.
    run_check(&m, &cfg, &mut findings)?;
    let arenas = arenas_of(&findings);
    for (i, a) in arenas.iter().enumerate() {
        let damaged = findings.iter().any(|f| {
            matches!(f, Finding::Flog { arena, .. } | Finding::DoubleOwner { arena, owner: Owner::Lane(_), .. } if *arena == i)
        });
        if !damaged {
            continue;
        }
        let r = check::repair_flog::<_, StdPlatform>(&m, a, |lane, block, off| {
            println!(
                "repaired: arena {i}: flog lane {lane} at byte offset {off:#x}: fresh entry, free block {block}"
            )
        });
        match r {
            Ok(n) => repaired += n as usize,
            Err(e) => println!("not repaired: arena {i}: flog: {e}"),
        }
    }
    // Map updates cut short: a writable open rolls them forward.
    run_check(&m, &cfg, &mut findings)?;
    let pending: Vec<Finding> = findings
        .iter()
        .filter(|f| matches!(f, Finding::PendingMapUpdate { .. }))
        .copied()
        .collect();
    let mut open_cfg = cfg;
    open_cfg.nlanes = 1;
    match Btt::<_, StdPlatform>::open(&m, &open_cfg) {
        Ok((btt, _)) => {
            for f in &pending {
                if let Finding::PendingMapUpdate {
                    arena,
                    lane,
                    premap,
                    offset,
                    new,
                    ..
                } = *f
                {
                    // Open rolls forward only in arenas it can write.
                    if let Some(e) = btt.arena_flog_damage(arena) {
                        println!("not repaired: arena {arena}: map entry {premap}: {e}");
                        continue;
                    }
                    if !btt.arena_writable(arena) {
                        println!("not repaired: arena {arena}: map entry {premap}: the arena carries the error flag");
                        continue;
                    }
                    repaired += 1;
                    println!(
                        "repaired: arena {arena}: map entry {premap} at byte offset {offset:#x} rolled forward \
                         to block {new} from flog lane {lane}"
                    );
                }
            }
        }
        Err(e) => println!("not repaired: the BTT does not open: {e}"),
    }
    let sum = run_check(&m, &cfg, &mut findings)?;
    let left = findings.iter().filter(|f| f.is_problem()).count();
    for f in findings.iter().filter(|f| f.is_problem()).take(MAX_PRINTED) {
        println!("left: {f}");
    }
    println!("{repaired} repair(s) done");
    Ok(finish(&sum, left))
}

fn finish(sum: &CheckSummary, problems: usize) -> ExitCode {
    if problems == 0 {
        println!("clean: {} arena(s), {} sectors", sum.arenas, sum.nlba);
        ExitCode::SUCCESS
    } else {
        println!("{problems} problem(s)");
        ExitCode::from(1)
    }
}

fn random_uuid() -> [u8; 16] {
    let mut u = [0u8; 16];
    if File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut u))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        u = (t ^ u128::from(std::process::id())).to_le_bytes();
    }
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
    u
}

fn cmd_create(o: &Opts) -> Result<ExitCode, Fail> {
    let (Some(size), Some(lbasize)) = (o.size, o.lbasize) else {
        return usage("create needs --size and --lbasize");
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&o.image)
        .or_else(|e| fail(format!("{}: {e}", o.image)))?;
    let end = o.offset + size;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len < end && file.set_len(end).is_err() {
        return fail(format!("{}: cannot grow to {end} bytes", o.image));
    }
    let m = FileMedia::new(file, o.offset, size, true);
    if valid_info(&m, 0).is_some() {
        return fail(format!(
            "{}: already holds a BTT at offset {}",
            o.image, o.offset
        ));
    }
    let (major, minor) = o
        .version
        .unwrap_or(if o.offset == 4096 { (1, 1) } else { (2, 0) });
    let mut cfg = Config::new(
        lbasize,
        o.uuid.unwrap_or_else(random_uuid),
        [0; 16],
        major,
        minor,
    );
    cfg.nlanes = 1;
    let (btt, _lanes) = Btt::<_, StdPlatform>::open(&m, &cfg).or_else(|e| fail(format!("{e}")))?;
    if !btt.created() {
        return fail(format!(
            "{}: a BTT was found (from a backup info block), not creating",
            o.image
        ));
    }
    let arenas: Vec<ArenaInfo> = btt.arenas().copied().collect();
    println!(
        "{}: created a BTT {}.{} at offset {}: {} arena(s), {} sectors of {} bytes (lbasize {}), uuid {}",
        o.image,
        major,
        minor,
        o.offset,
        arenas.len(),
        btt.nlba(),
        btt.sector_size(),
        lbasize,
        uuid(&cfg.uuid)
    );
    drop(btt);
    if o.old_padding {
        for (i, a) in arenas.iter().enumerate() {
            let n = check::set_old_padding(&m, a, |_, _| {})
                .or_else(|e| fail(format!("arena {i}: {e}")))?;
            println!(
                "arena {i}: flog at {:#x}: {n} log groups given the pre-4.15 (0, 2) padding",
                a.logoff
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_rw(o: &Opts, write: bool) -> Result<ExitCode, Fail> {
    let m = media(o, open_file(&o.image, write)?, write)?;
    let mut cfg = config(o, &m)?;
    cfg.read_only = !write;
    // Reads skip the ownership check (it reads the whole map).
    cfg.full_check = write;
    let (btt, lanes) = Btt::<_, StdPlatform>::open(&m, &cfg).or_else(|e| fail(format!("{e}")))?;
    let mut lane = match lanes.into_iter().next() {
        Some(l) => l,
        None => return fail("no lane"),
    };
    let lba = o.lba.unwrap_or(0);
    if lba >= btt.nlba() {
        return fail(format!(
            "LBA {lba} beyond the last sector {}",
            btt.nlba() - 1
        ));
    }
    let ss = btt.sector_size() as usize;
    let ms = if o.meta { btt.meta_size() as usize } else { 0 };
    let mut buf = vec![0u8; ss + ms];
    let (data, meta) = buf.split_at_mut(ss);
    let meta = (o.meta && ms > 0).then_some(meta);
    if write {
        let mut input = Vec::new();
        std::io::stdin()
            .read_to_end(&mut input)
            .or_else(|e| fail(format!("stdin: {e}")))?;
        if input.len() != ss + ms {
            return fail(format!(
                "stdin: {} bytes, need exactly {} (sector{})",
                input.len(),
                ss + ms,
                if o.meta { " + metadata" } else { "" }
            ));
        }
        data.copy_from_slice(&input[..ss]);
        let meta = meta.map(|mm| {
            mm.copy_from_slice(&input[ss..]);
            &*mm
        });
        btt.write(&mut lane, lba, data, meta)
            .or_else(|e| fail(format!("write LBA {lba}: {e}")))?;
    } else {
        btt.read(&mut lane, lba, data, meta)
            .or_else(|e| fail(format!("read LBA {lba}: {e}")))?;
        let mut out = std::io::stdout().lock();
        out.write_all(&buf)
            .and_then(|()| out.flush())
            .or_else(|e| fail(format!("stdout: {e}")))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn run(args: &[String]) -> Result<ExitCode, Fail> {
    let o = parse(args)?;
    match o.cmd.as_str() {
        "info" => cmd_info(&o),
        "check" => cmd_check(&o),
        "create" => cmd_create(&o),
        "read" => cmd_rw(&o, false),
        "write" => cmd_rw(&o, true),
        _ => usage("unknown command"),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    match run(&args) {
        Ok(code) => code,
        Err(Fail::Usage(msg)) => {
            eprintln!("btt: {msg}\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Fail::Other(msg)) => {
            eprintln!("btt: {msg}");
            ExitCode::from(1)
        }
    }
}
