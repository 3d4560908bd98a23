// SPDX-License-Identifier: GPL-2.0
//! The C driver's debugfs view, file for file: `btt/<device>/arenaN/{size,
//! external_lba_start, ..., log_index_0, log_index_1}` (C `btt_debugfs_init()`,
//! `arena_debugfs_init()`), which ndctl's btt-pad-compat test reads. The
//! `debugfs_create_{u16,u32,x32,x64}()` helpers give the same formatting as C.

use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::bindings;
use kernel::prelude::*;
use kernel::str::CStrExt;
use kernel::sync::Arc;

use crate::btt_core::ArenaInfo;
use crate::btt_dev::BttIo;

/// The `btt` directory at the debugfs root, made at module load.
static ROOT: AtomicPtr<bindings::dentry> = AtomicPtr::new(null_mut());

/// Read-only for everybody (C `S_IRUGO`).
const MODE: bindings::umode_t = 0o444;

fn usable(d: *mut bindings::dentry) -> bool {
    // `IS_ERR_OR_NULL()`: debugfs returns error pointers, which callers ignore.
    !d.is_null() && (d as usize) < (usize::MAX - 4095)
}

/// Creates the `btt` root (C `nd_btt_init()`); failure only loses the view.
pub(crate) fn init_root() {
    // SAFETY: A NUL-terminated name and the debugfs root as parent.
    let d = unsafe { bindings::debugfs_create_dir(c"btt".as_char_ptr(), null_mut()) };
    ROOT.store(if usable(d) { d } else { null_mut() }, Ordering::Release);
}

/// Removes the `btt` root and everything under it (module unload, after every
/// BTT is detached).
pub(crate) fn remove_root() {
    let d = ROOT.swap(null_mut(), Ordering::AcqRel);
    if !d.is_null() {
        // SAFETY: `d` came from `debugfs_create_dir()` and is removed once.
        unsafe { bindings::debugfs_remove(d) };
    }
}

/// The debugfs directory of one BTT; removed (with its files) on drop, before
/// the reference to the BTT whose arenas the files read is dropped.
pub(crate) struct BttDebugfs {
    dir: *mut bindings::dentry,
    _io: Arc<BttIo>,
}

// SAFETY: The dentry pointer is only passed to debugfs, which locks internally.
unsafe impl Send for BttDebugfs {}
// SAFETY: See `Send`.
unsafe impl Sync for BttDebugfs {}

impl BttDebugfs {
    /// Creates `btt/<name>/arenaN/` for every arena of `io`, whose arena
    /// infos the files read; `io` is held until the files are removed.
    pub(crate) fn new(name: &CStr, io: Arc<BttIo>) -> Self {
        let root = ROOT.load(Ordering::Acquire);
        if root.is_null() {
            return Self { dir: null_mut(), _io: io };
        }
        // SAFETY: `name` is NUL-terminated, `root` is live until module
        // unload, which comes after every detach.
        let dir = unsafe { bindings::debugfs_create_dir(name.as_char_ptr(), root) };
        if !usable(dir) {
            return Self { dir: null_mut(), _io: io };
        }
        for (i, a) in io.btt().arenas().enumerate() {
            // SAFETY: `dir` is live; `a` is in the BTT that `io` keeps alive
            // until the directory is removed (`Drop`, fields after it).
            unsafe { arena_files(dir, i, a) };
        }
        Self { dir, _io: io }
    }
}

impl Drop for BttDebugfs {
    fn drop(&mut self) {
        if !self.dir.is_null() {
            // SAFETY: `dir` came from `debugfs_create_dir()`; removed once. After
            // this returns no file reads the arena data any more.
            unsafe { bindings::debugfs_remove(self.dir) };
        }
    }
}

/// `"arena<idx>\0"` (C `snprintf(dirname, 32, "arena%d", idx)`).
fn arena_dir_name(idx: usize) -> [u8; 32] {
    let mut name = [0u8; 32];
    name[..5].copy_from_slice(b"arena");
    let mut digits = [0u8; 20];
    let mut n = idx;
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        name[5 + i] = digits[len - 1 - i];
    }
    name
}

/// # Safety
///
/// `parent` must be a live debugfs directory and `a` must outlive it.
unsafe fn arena_files(parent: *mut bindings::dentry, idx: usize, a: &ArenaInfo) {
    let name = arena_dir_name(idx);
    // SAFETY: `name` is NUL-terminated; `parent` is live (caller).
    let d = unsafe { bindings::debugfs_create_dir(name.as_ptr().cast(), parent) };
    if !usable(d) {
        return;
    }
    // The files only read (mode 0444): the `*mut` the C API wants is never
    // written through.
    macro_rules! file {
        ($f:ident, $name:literal, $field:expr) => {
            // SAFETY: `d` is live, the name is NUL-terminated and the field
            // outlives the file (caller).
            unsafe {
                bindings::$f(
                    $name.as_char_ptr(),
                    MODE,
                    d,
                    core::ptr::from_ref(&$field).cast_mut(),
                )
            }
        };
    }
    file!(debugfs_create_x64, c"size", a.size);
    file!(
        debugfs_create_x64,
        c"external_lba_start",
        a.external_lba_start
    );
    file!(debugfs_create_x32, c"internal_nlba", a.internal_nlba);
    file!(debugfs_create_u32, c"internal_lbasize", a.internal_lbasize);
    file!(debugfs_create_x32, c"external_nlba", a.external_nlba);
    file!(debugfs_create_u32, c"external_lbasize", a.external_lbasize);
    file!(debugfs_create_u32, c"nfree", a.nfree);
    file!(debugfs_create_u16, c"version_major", a.version_major);
    file!(debugfs_create_u16, c"version_minor", a.version_minor);
    file!(debugfs_create_x64, c"nextoff", a.nextoff);
    file!(debugfs_create_x64, c"infooff", a.infooff);
    file!(debugfs_create_x64, c"dataoff", a.dataoff);
    file!(debugfs_create_x64, c"mapoff", a.mapoff);
    file!(debugfs_create_x64, c"logoff", a.logoff);
    file!(debugfs_create_x64, c"info2off", a.info2off);
    file!(debugfs_create_x32, c"flags", a.flags);
    file!(debugfs_create_u32, c"log_index_0", a.log_index[0]);
    file!(debugfs_create_u32, c"log_index_1", a.log_index[1]);
}
