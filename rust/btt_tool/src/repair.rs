// SPDX-License-Identifier: GPL-2.0
//! `btt check` and `btt check --repair` over any [`Media`], so that the
//! repair can be run, and crash-simulated, on memory media as well as on a
//! file (the CLI in `main.rs` is a thin layer over this).
//!
//! Every line the check and the repair print goes through an `out` callback,
//! one line per call, without its newline.

use btt_core::btt::check::{self, CheckSummary, Finding, Owner};
use btt_core::btt::info::{self, InfoBlock, INFO_SIZE};
use btt_core::btt::layout;
use btt_core::btt::{ArenaInfo, Btt, Config, Error, Media};
use btt_core::host::StdPlatform;

/// Problems found are printed one per line; past this many, only counted.
pub const MAX_PRINTED: usize = 200;

/// What the user says about the BTT, and which repairs they allow.
#[derive(Clone, Copy, Debug, Default)]
pub struct RepairOpts {
    /// `--uuid`: the BTT's uuid, as expected.
    pub uuid: Option<[u8; 16]>,
    /// `--parent-uuid`: its namespace's uuid, as expected.
    pub parent_uuid: Option<[u8; 16]>,
    /// `--trust-backup`.
    pub trust_backup: bool,
    /// `--rewrite-log-padding`.
    pub rewrite_log_padding: bool,
}

/// Why no configuration could be found for a BTT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// No valid info block at arena 0 nor its backup, and no `--lbasize`.
    NoInfoBlock,
    /// The lbasize found (or given) is not supported.
    Unsupported(u32),
}

/// A valid info block at `at`, if there is one.
pub fn valid_info<M: Media>(m: &M, at: u64) -> Option<InfoBlock> {
    let mut raw = [0u8; INFO_SIZE];
    m.read(at, &mut raw).ok()?;
    let sb = InfoBlock::decode(&raw);
    (sb.signature_ok() && info::checksum_ok(&raw)).then_some(sb)
}

/// The configuration of the BTT on `m`, from arena 0's primary info block,
/// else from its backup where C puts it, else from `--lbasize` alone.
pub fn config<M: Media>(
    m: &M,
    lbasize: Option<u32>,
    o: &RepairOpts,
) -> Result<Config, ConfigError> {
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
            (sb.signature_ok() && (known || lbasize.is_some())).then_some(sb)
        });
    // What the user expects wins over what the media says: the check then
    // rejects a backup info block of another BTT instead of using it.
    let mut cfg = match (sb, lbasize) {
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
        (None, None) => return Err(ConfigError::NoInfoBlock),
    };
    if !layout::SUPPORTED_LBASIZES.contains(&cfg.lbasize) {
        return Err(ConfigError::Unsupported(cfg.lbasize));
    }
    cfg.nlanes = 1;
    Ok(cfg)
}

pub fn hex16(b: &[u8; 16]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `b` as a uuid: `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
pub fn uuid(b: &[u8; 16]) -> String {
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

/// Runs the check, its findings into `findings`; `Err` says in one line why
/// it could not run.
pub fn run_check<M: Media>(
    m: &M,
    cfg: &Config,
    findings: &mut Vec<Finding>,
) -> Result<CheckSummary, String> {
    findings.clear();
    match check::check_btt::<_, StdPlatform>(m, cfg, |f| findings.push(*f)) {
        Ok(s) => Ok(s),
        Err(Error::NotFound) => Err("no BTT found (no info block signature at arena 0)".into()),
        Err(Error::NoSpace) => Err("smaller than one arena (16 MiB)".into()),
        Err(e) => Err(format!("check failed: {e}")),
    }
}

/// The arenas a check found.
pub fn arenas_of(findings: &[Finding]) -> Vec<ArenaInfo> {
    findings
        .iter()
        .filter_map(|f| match f {
            Finding::Arena { info, .. } => Some(*info),
            _ => None,
        })
        .collect()
}

/// Prints the notes and problems of a check; returns the number of problems.
pub fn print_findings(findings: &[Finding], out: &mut dyn FnMut(&str)) -> usize {
    let mut problems = 0;
    for f in findings {
        if f.is_problem() {
            problems += 1;
            if problems <= MAX_PRINTED {
                out(&format!("problem: {f}"));
            }
        } else {
            out(&format!("{f}"));
        }
    }
    if problems > MAX_PRINTED {
        out(&format!("... and {} more problems", problems - MAX_PRINTED));
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
fn raw_info<M: Media>(m: &M, at: u64) -> Option<([u8; INFO_SIZE], bool)> {
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
fn backup_belongs<M: Media>(
    o: &RepairOpts,
    m: &M,
    arenas: &[ArenaInfo],
    i: usize,
) -> Result<(), String> {
    // arenas: &[ArenaInfo], i: usize) -> Result<(), String> {
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

/// The outcome of [`repair`].
#[derive(Clone, Copy, Debug)]
pub struct Repaired {
    /// Repairs done.
    pub repaired: usize,
    /// The check after the repair.
    pub summary: CheckSummary,
    /// Problems left.
    pub left: usize,
}

/// `btt check --repair` after the check that found `findings` (which it
/// reuses): info blocks from their valid copy, the flog padding if
/// `o.rewrite_log_padding`, flog lanes, then map updates cut short (rolled
/// forward by a writable open); then a last check, whose problems it
/// prints as `left: ...`. Each step is one or more [`Media::write`]s, each
/// durable before the next, in an order a power failure at any of them
/// (even one torn at any 8-byte word) leaves an image that reads as before
/// and opens no worse, and that a second repair finishes
/// (`tests/repair_crash.rs`). One exception: cut in the middle of
/// `rewrite_log_padding`, the flog has groups of both padding schemes, which
/// btt_rs opens read-only and C refuses until the repair is run again.
pub fn repair<M: Media>(
    m: &M,
    cfg: &Config,
    o: &RepairOpts,
    findings: &mut Vec<Finding>,
    out: &mut dyn FnMut(&str),
) -> Result<Repaired, String> {
    let arenas = arenas_of(findings);
    let mut repaired = 0usize;
    let arena = |i: usize| arenas.get(i);
    // Info blocks: from the valid copy to the invalid one; the primary wins
    // when both are valid and differ (open uses the primary).
    for f in findings.iter() {
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
            if let Err(why) = backup_belongs(o, m, &arenas, f_arena(f)) {
                out(&format!("not repaired: {what}: refused: {why}"));
                continue;
            }
        }
        match check::copy_info_block(m, from, to) {
            Ok(()) => {
                repaired += 1;
                out(&format!("repaired: {what}: wrote {INFO_SIZE} bytes at byte offset {to:#x} (from {from:#x})"));
            }
            Err(e) => out(&format!("not repaired: {what}: {e}")),
        }
    }
    if o.rewrite_log_padding {
        for (i, a) in arenas.iter().enumerate() {
            let r = check::rewrite_log_padding(m, a, |lane, off| {
                out(&format!(
                    "repaired: arena {i}: flog lane {lane} at byte offset {off:#x}: slot 2 moved to slot 1 ((0, 1) padding)"
                ))
            });
            match r {
                Ok(n) => repaired += n as usize,
                Err(e) => out(&format!("not repaired: arena {i}: flog padding: {e}")),
            }
        }
    }
    // Flog lanes that are invalid or whose free block is owned twice: fresh
    // groups with unowned blocks, over a sound map.
    run_check(m, cfg, findings)?;
    let arenas = arenas_of(findings);
    for (i, a) in arenas.iter().enumerate() {
        let damaged = findings.iter().any(|f| {
            matches!(f, Finding::Flog { arena, .. } | Finding::DoubleOwner { arena, owner: Owner::Lane(_), .. } if *arena == i)
        });
        if !damaged {
            continue;
        }
        let r = check::repair_flog::<_, StdPlatform>(m, a, |lane, block, off| {
            out(&format!(
                "repaired: arena {i}: flog lane {lane} at byte offset {off:#x}: fresh entry, free block {block}"
            ))
        });
        match r {
            Ok(n) => repaired += n as usize,
            Err(e) => out(&format!("not repaired: arena {i}: flog: {e}")),
        }
    }
    // Map updates cut short: a writable open rolls them forward.
    run_check(m, cfg, findings)?;
    let pending: Vec<Finding> = findings
        .iter()
        .filter(|f| matches!(f, Finding::PendingMapUpdate { .. }))
        .copied()
        .collect();
    let mut open_cfg = *cfg;
    open_cfg.nlanes = 1;
    match Btt::<_, StdPlatform>::open(m, &open_cfg) {
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
                        out(&format!(
                            "not repaired: arena {arena}: map entry {premap}: {e}"
                        ));
                        continue;
                    }
                    if !btt.arena_writable(arena) {
                        out(&format!("not repaired: arena {arena}: map entry {premap}: the arena carries the error flag"));
                        continue;
                    }
                    repaired += 1;
                    out(&format!(
                        "repaired: arena {arena}: map entry {premap} at byte offset {offset:#x} rolled forward \
                         to block {new} from flog lane {lane}"
                    ));
                }
            }
        }
        Err(e) => out(&format!("not repaired: the BTT does not open: {e}")),
    }
    let sum = run_check(m, cfg, findings)?;
    let left = findings.iter().filter(|f| f.is_problem()).count();
    for f in findings.iter().filter(|f| f.is_problem()).take(MAX_PRINTED) {
        out(&format!("left: {f}"));
    }
    out(&format!("{repaired} repair(s) done"));
    Ok(Repaired {
        repaired,
        summary: sum,
        left,
    })
}
