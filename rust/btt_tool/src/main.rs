// SPDX-License-Identifier: GPL-2.0
//! `btt`: inspect, check, repair and create BTT (Linux `nd_btt`) images on
//! the host, with the same core as the btt_rs kernel module.
//!
//! ```text
//! btt info   IMAGE [--offset N] [--size N] [--lbasize N]
//! btt check  IMAGE [--offset N] [--size N] [--lbasize N] [--uuid U] [--parent-uuid U]
//!                  [--repair [--rewrite-log-padding] [--trust-backup]]
//! btt create IMAGE --size N --lbasize N [--offset N] [--version 1.1|2.0] [--old-padding]
//! btt read   IMAGE LBA [--offset N] [--size N] [--lbasize N] [--meta] [--count N]
//!            (sector, or N sectors from LBA, 0: to the last, to stdout)
//! btt write  IMAGE LBA [--offset N] [--size N] [--lbasize N] [--meta]   (sector from stdin)
//! btt zero   IMAGE LBA [--offset N] [--size N] [--lbasize N] [--count N]
//!            (the zero flag on the map entry of 1 or N sectors, 0: to the last:
//!            what btt_rs does for a discard or write-zeroes)
//! ```
//!
//! `--offset` is the byte offset of the BTT in the file: 4096 for a BTT with
//! info block version 1.1 (namespace label v1.1), 0 for 2.0 and for a
//! label-less namespace (e.g. a QEMU NVDIMM backing file without labels).
//! Sizes take K, M, G and T suffixes (powers of 1024).
//!
//! Exit status: 0 success (`check`: clean), 1 failure (`check`: problems
//! found or left), 2 usage error. Nothing is written except by `create`,
//! `write`, `zero` and `check --repair`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::process::ExitCode;

use btt_core::btt::check::{self, CheckSummary};
use btt_core::btt::flog::{LogGroup, LOG_GRP_SIZE};
use btt_core::btt::info::{self, InfoBlock, INFO_SIZE};
use btt_core::btt::layout;
use btt_core::btt::{ArenaInfo, Btt, Config, InfoSource, Media};
use btt_core::host::{FileMedia, StdPlatform};
use btt_tool::repair::{
    self, arenas_of, print_findings, run_check, uuid, valid_info, ConfigError, RepairOpts,
    MAX_PRINTED,
};

const USAGE: &str = "usage:
  btt info   IMAGE [--offset N] [--size N] [--lbasize N]
  btt check  IMAGE [--offset N] [--size N] [--lbasize N] [--uuid U] [--parent-uuid U]
                   [--repair [--rewrite-log-padding] [--trust-backup]]
  btt create IMAGE --size N --lbasize N [--offset N] [--version 1.1|2.0] [--old-padding]
  btt read   IMAGE LBA [--offset N] [--size N] [--lbasize N] [--meta] [--count N]
  btt write  IMAGE LBA [--offset N] [--size N] [--lbasize N] [--meta]
  btt zero   IMAGE LBA [--offset N] [--size N] [--lbasize N] [--count N]
--offset: byte offset of the BTT in IMAGE (4096 for info block v1.1, 0 for v2.0 / label-less)
--size: size of the BTT in bytes (default: the rest of IMAGE; a QEMU NVDIMM file ends with its label area)
--uuid, --parent-uuid: the BTT's uuid and its namespace's, as expected (32 hex digits, dashes allowed)
--trust-backup: restore a primary info block from its backup even when nothing shows it is this BTT's
--count: read N sectors from LBA (0: to the last); unreadable ones come out as zeroes, exit status 1;
  with zero: zero N sectors from LBA (0: to the last; default 1)";

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
    count: Option<u64>,
}

impl Opts {
    fn repair_opts(&self) -> RepairOpts {
        RepairOpts {
            uuid: self.uuid,
            parent_uuid: self.parent_uuid,
            trust_backup: self.trust_backup,
            rewrite_log_padding: self.rewrite_log_padding,
        }
    }
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
    if !["info", "check", "create", "read", "write", "zero"].contains(&o.cmd.as_str()) {
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
            "--count" => o.count = Some(parse_num(&value(a)?)?),
            s if s.starts_with("--") => return usage(format!("unknown option {s}")),
            _ => positional.push(a.clone()),
        }
    }
    let want = if matches!(o.cmd.as_str(), "read" | "write" | "zero") {
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
    if !matches!(o.cmd.as_str(), "read" | "zero") && o.count.is_some() {
        return usage("--count goes with read and zero");
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

/// The configuration of the BTT on `m` (see [`repair::config`]).
fn config(o: &Opts, m: &FileMedia) -> Result<Config, Fail> {
    match repair::config(m, o.lbasize, &o.repair_opts()) {
        Ok(cfg) => Ok(cfg),
        Err(ConfigError::NoInfoBlock) => fail(format!(
            "{}: no valid info block at offset {} (nor its backup); is --offset right? \
             (give --lbasize to check it anyway)",
            o.image, o.offset
        )),
        Err(ConfigError::Unsupported(lbasize)) => fail(format!(
            "{}: external_lbasize {lbasize} is not supported; give --lbasize",
            o.image
        )),
    }
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

fn cmd_info(o: &Opts) -> Result<ExitCode, Fail> {
    let m = media(o, open_file(&o.image, false)?, false)?;
    let cfg = config(o, &m)?;
    let mut findings = Vec::new();
    let sum = run_check(&m, &cfg, &mut findings).or_else(fail)?;
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

fn cmd_check(o: &Opts) -> Result<ExitCode, Fail> {
    let m = media(o, open_file(&o.image, o.repair)?, o.repair)?;
    let cfg = config(o, &m)?;
    let mut findings = Vec::new();
    let sum = run_check(&m, &cfg, &mut findings).or_else(fail)?;
    println!(
        "{}: BTT at file offset {}; byte offsets below are from there",
        o.image, o.offset
    );
    let problems = print_findings(&findings, &mut |l| println!("{l}"));
    if !o.repair {
        return Ok(finish(&sum, problems));
    }
    let r = repair::repair(&m, &cfg, &o.repair_opts(), &mut findings, &mut |l| {
        println!("{l}")
    })
    .or_else(fail)?;
    Ok(finish(&r.summary, r.left))
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
    } else if let Some(count) = o.count {
        // Sectors LBA.. (0: to the last one); a sector that cannot be read is
        // written as zeroes, named on stderr, and makes the exit status 1.
        let end = match count {
            0 => btt.nlba(),
            n => lba.saturating_add(n).min(btt.nlba()),
        };
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let mut failed = 0u64;
        for l in lba..end {
            let (data, meta) = buf.split_at_mut(ss);
            let meta = (o.meta && ms > 0).then_some(meta);
            if let Err(e) = btt.read(&mut lane, l, data, meta) {
                eprintln!("read LBA {l}: {e}");
                buf.fill(0);
                failed += 1;
            }
            out.write_all(&buf)
                .or_else(|e| fail(format!("stdout: {e}")))?;
        }
        out.flush().or_else(|e| fail(format!("stdout: {e}")))?;
        if failed > 0 {
            return fail(format!("{failed} sector(s) could not be read"));
        }
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

/// Sets the zero flag on the map entries of 1 (or `--count`) sectors from LBA
/// (`Btt::write_zeroes`): they read zeroes, here and under both drivers.
fn cmd_zero(o: &Opts) -> Result<ExitCode, Fail> {
    let m = media(o, open_file(&o.image, true)?, true)?;
    let cfg = config(o, &m)?;
    let (btt, lanes) = Btt::<_, StdPlatform>::open(&m, &cfg).or_else(|e| fail(format!("{e}")))?;
    let mut lane = match lanes.into_iter().next() {
        Some(l) => l,
        None => return fail("no lane"),
    };
    let lba = o.lba.unwrap_or(0);
    let count = match o.count.unwrap_or(1) {
        0 => btt.nlba().saturating_sub(lba),
        n => n,
    };
    if lba.checked_add(count).is_none_or(|end| end > btt.nlba()) {
        return fail(format!(
            "LBA {lba} + {count} beyond the last sector {}",
            btt.nlba() - 1
        ));
    }
    let s = btt
        .write_zeroes(&mut lane, lba, count)
        .or_else(|e| fail(format!("zero LBA {lba} + {count}: {e}")))?;
    println!(
        "{count} sector(s) from LBA {lba}: {} flagged, {} already zero, {} rewritten (error flag)",
        s.flagged, s.already, s.rewritten
    );
    if s.flagged > 0 && btt.sector_size() < 4096 {
        // C `btt_read_pg()` fills the first zero-flagged sector of a segment
        // and returns; the btt_rs module does not discard such sectors.
        eprintln!(
            "note: the C driver (nd_btt) reads a zero-flagged {}-byte sector correctly only \
             as the first of a page-sized read; use btt_rs, or write zero sectors, for images it will read",
            btt.sector_size()
        );
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
        "zero" => cmd_zero(&o),
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
