// SPDX-License-Identifier: GPL-2.0
//! KUnit: a writer waits, asleep, for a stalled reader before it reuses the
//! reader's block (issue "no busy-spin on the read tracking table").
//!
//! A reader without a lane (`read_sectors`) stalls inside the media read of
//! block 0 (identity-mapped LBA 0). A writer on lane 0 first writes LBA 0
//! (block 0 becomes its free
//! block), then LBA 5, which must reuse block 0: it has to wait until the
//! reader is done. The test checks that the writer is still waiting 100 ms
//! later, that it finishes once the reader is released, and that the reader
//! got the old contents of block 0 whole. The kernel platform waits in
//! `wait_var_event()` (no CPU burnt); C spins with `cpu_relax()`.

use core::sync::atomic::{
    AtomicBool,
    AtomicU64,
    Ordering, //
};

use kernel::prelude::*;
use kernel::sync::{
    new_mutex,
    Arc,
    Completion,
    Mutex, //
};
use kernel::time::Delta;

use crate::btt_core::{
    self,
    Btt,
    Config,
    Media, //
};
use crate::kernel_platform::KernelPlatform;

const MEDIA_SIZE: usize = 16 << 20;
const SS: usize = 4096;

#[pin_data]
struct Shared {
    #[pin]
    bytes: Mutex<KVVec<u8>>,
    #[pin]
    reader_stalled: Completion,
    #[pin]
    release_reader: Completion,
    #[pin]
    reader_done: Completion,
    #[pin]
    writer_done: Completion,
    /// Media offset whose next read stalls (`u64::MAX`: none).
    stall_at: AtomicU64,
    writer_finished: AtomicBool,
    reader_ok: AtomicBool,
    writer_ok: AtomicBool,
}

struct StallMedia(Arc<Shared>);

impl Media for StallMedia {
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), btt_core::Error> {
        if self.0.stall_at.load(Ordering::SeqCst) == offset {
            self.0.stall_at.store(u64::MAX, Ordering::SeqCst);
            self.0.reader_stalled.complete_all();
            self.0.release_reader.wait_for_completion();
        }
        let bytes = self.0.bytes.lock();
        let src = bytes
            .get(offset as usize..offset as usize + buf.len())
            .ok_or(btt_core::Error::Invalid)?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn write(&self, offset: u64, buf: &[u8]) -> Result<(), btt_core::Error> {
        let mut bytes = self.0.bytes.lock();
        let dst = bytes
            .get_mut(offset as usize..offset as usize + buf.len())
            .ok_or(btt_core::Error::Invalid)?;
        dst.copy_from_slice(buf);
        Ok(())
    }

    fn size(&self) -> u64 {
        MEDIA_SIZE as u64
    }
}

type TestBtt = Btt<StallMedia, KernelPlatform>;

fn sector(byte: u8) -> Result<KVVec<u8>> {
    let mut v = KVVec::with_capacity(SS, GFP_KERNEL)?;
    v.extend_from_slice(&[byte; SS], GFP_KERNEL)?;
    Ok(v)
}

#[kunit_tests(btt_rs_rtt)]
mod tests {
    use super::*;

    #[test]
    fn writer_waits_for_a_stalled_reader() -> Result {
        // A reader without a lane, lane 0 writes, lane 1 checks the result.
        let mut bytes = KVVec::with_capacity(MEDIA_SIZE, GFP_KERNEL)?;
        bytes.resize(MEDIA_SIZE, 0, GFP_KERNEL)?;
        let shared = Arc::pin_init(
            pin_init!(Shared {
                bytes <- new_mutex!(bytes),
                reader_stalled <- Completion::new(),
                release_reader <- Completion::new(),
                reader_done <- Completion::new(),
                writer_done <- Completion::new(),
                stall_at: AtomicU64::new(u64::MAX),
                writer_finished: AtomicBool::new(false),
                reader_ok: AtomicBool::new(false),
                writer_ok: AtomicBool::new(false),
            }),
            GFP_KERNEL,
        )?;
        let mut cfg = Config::new(SS as u32, [1; 16], [0; 16], 2, 0);
        cfg.nlanes = 3;
        cfg.full_check = false;
        let (btt, mut lanes) =
            TestBtt::open(StallMedia(shared.clone()), &cfg).map_err(|_| EINVAL)?;
        let dataoff = btt.arena(0).ok_or(EINVAL)?.dataoff;
        // Block 0 (identity-mapped LBA 0) holds 0xab.
        shared.bytes.lock()[dataoff as usize..dataoff as usize + SS].fill(0xab);
        shared.stall_at.store(dataoff, Ordering::SeqCst);
        let btt = Arc::new(btt, GFP_KERNEL)?;
        let mut writer_lane = lanes.next().ok_or(EINVAL)?;

        let (b, s) = (btt.clone(), shared.clone());
        kernel::workqueue::system_unbound().try_spawn(GFP_KERNEL, move || {
            let ok = sector(0).is_ok_and(|mut buf| {
                b.read_sectors(0, &mut buf, None).is_ok() && buf.iter().all(|&x| x == 0xab)
            });
            s.reader_ok.store(ok, Ordering::SeqCst);
            s.reader_done.complete_all();
        })?;
        shared.reader_stalled.wait_for_completion();

        let (b, s) = (btt.clone(), shared.clone());
        kernel::workqueue::system_unbound().try_spawn(GFP_KERNEL, move || {
            let ok = sector(0xcd).is_ok_and(|data| {
                b.write(&mut writer_lane, 0, &data, None).is_ok()
                    && b.write(&mut writer_lane, 5, &data, None).is_ok()
            });
            s.writer_ok.store(ok, Ordering::SeqCst);
            s.writer_finished.store(true, Ordering::SeqCst);
            s.writer_done.complete_all();
        })?;

        kernel::time::delay::fsleep(Delta::from_millis(100));
        let waited = !shared.writer_finished.load(Ordering::SeqCst);
        shared.release_reader.complete_all();
        shared.reader_done.wait_for_completion();
        shared.writer_done.wait_for_completion();

        // The writer did not reuse block 0 while the reader copied it.
        assert!(waited);
        // The reader got block 0 whole, and the writer's writes succeeded.
        assert!(shared.reader_ok.load(Ordering::SeqCst));
        assert!(shared.writer_ok.load(Ordering::SeqCst));
        let mut lane = lanes.next().ok_or(EINVAL)?;
        for lba in [0, 5] {
            let mut buf = sector(0)?;
            btt.read(&mut lane, lba, &mut buf, None).map_err(|_| EIO)?;
            assert!(buf.iter().all(|&x| x == 0xcd));
        }
        Ok(())
    }
}
