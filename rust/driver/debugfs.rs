// SPDX-License-Identifier: GPL-2.0
//! The C driver's debugfs view, file for file: `btt/<device>/arenaN/{size,
//! external_lba_start, ..., log_index_0, log_index_1}` (C `btt_debugfs_init()`,
//! `arena_debugfs_init()`), which ndctl's btt-pad-compat test reads. Built with
//! `kernel::debugfs`; each file prints its value as C's
//! `debugfs_create_{u16,u32,x32,x64}()` do.

use kernel::debugfs::{
    Dir,
    Scope,
    ScopedDir, //
};
use kernel::fmt::{
    self,
    Formatter, //
};
use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::Arc;

use crate::btt_core::ArenaInfo;
use crate::btt_dev::BttIo;

kernel::sync::global_lock! {
    // SAFETY: Initialised by `init_root()` from the module initialiser, before
    // any BTT can be attached.
    unsafe(uninit) static ROOT: Mutex<Option<Dir>> = None;
}

/// Creates the `btt` root (C `nd_btt_init()`); failure only loses the view.
/// Called once, from the module initialiser.
pub(crate) fn init_root() {
    // SAFETY: Called exactly once, before any other use of `ROOT`.
    unsafe { ROOT.init() };
    *ROOT.lock() = Some(Dir::new(c"btt"));
}

/// Lets go of the `btt` root (module unload, after every BTT is detached, so
/// it is removed now).
pub(crate) fn remove_root() {
    *ROOT.lock() = None;
}

/// The debugfs directory of one BTT, `btt/<name>/`, reading the arena infos
/// of the BTT it holds; removed with its files on drop, before the BTT.
pub(crate) type BttDebugfs = Scope<Arc<BttIo>>;

/// Creates `btt/<name>/arenaN/` for every arena of `io`; `None` when there
/// is no root or no memory (as C, a BTT works without its debugfs view).
pub(crate) fn new(name: &CStr, io: Arc<BttIo>) -> Option<Pin<KBox<BttDebugfs>>> {
    let root = ROOT.lock().clone()?;
    let scope = root.scope(io, name, |io, dir| {
        for (i, a) in io.btt().arenas().enumerate() {
            // Out of memory for a name only loses that arena's files.
            if let Ok(name) = CString::try_from_fmt(fmt!("arena{}", i)) {
                arena_files(&dir.dir(&name), a);
            }
        }
    });
    KBox::pin_init(scope, GFP_KERNEL).ok()
}

/// C `debugfs_create_x64()`: "0x%016llx".
fn x64(v: &u64, f: &mut Formatter<'_>) -> fmt::Result {
    writeln!(f, "{:#018x}", v)
}

/// C `debugfs_create_x32()`: "0x%08x".
fn x32(v: &u32, f: &mut Formatter<'_>) -> fmt::Result {
    writeln!(f, "{:#010x}", v)
}

/// C `debugfs_create_u32()`: "%u".
fn u32_dec(v: &u32, f: &mut Formatter<'_>) -> fmt::Result {
    writeln!(f, "{}", v)
}

/// C `debugfs_create_u16()`: "%hu".
fn u16_dec(v: &u16, f: &mut Formatter<'_>) -> fmt::Result {
    writeln!(f, "{}", v)
}

/// The files of one arena, in C's order, with C's names and formats.
fn arena_files<'data>(d: &ScopedDir<'data, '_>, a: &'data ArenaInfo) {
    d.read_callback_file(c"size", &a.size, &x64);
    d.read_callback_file(c"external_lba_start", &a.external_lba_start, &x64);
    d.read_callback_file(c"internal_nlba", &a.internal_nlba, &x32);
    d.read_callback_file(c"internal_lbasize", &a.internal_lbasize, &u32_dec);
    d.read_callback_file(c"external_nlba", &a.external_nlba, &x32);
    d.read_callback_file(c"external_lbasize", &a.external_lbasize, &u32_dec);
    d.read_callback_file(c"nfree", &a.nfree, &u32_dec);
    d.read_callback_file(c"version_major", &a.version_major, &u16_dec);
    d.read_callback_file(c"version_minor", &a.version_minor, &u16_dec);
    d.read_callback_file(c"nextoff", &a.nextoff, &x64);
    d.read_callback_file(c"infooff", &a.infooff, &x64);
    d.read_callback_file(c"dataoff", &a.dataoff, &x64);
    d.read_callback_file(c"mapoff", &a.mapoff, &x64);
    d.read_callback_file(c"logoff", &a.logoff, &x64);
    d.read_callback_file(c"info2off", &a.info2off, &x64);
    d.read_callback_file(c"flags", &a.flags, &x32);
    d.read_callback_file(c"log_index_0", &a.log_index[0], &u32_dec);
    d.read_callback_file(c"log_index_1", &a.log_index[1], &u32_dec);
}
