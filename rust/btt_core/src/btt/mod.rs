// SPDX-License-Identifier: GPL-2.0
//! The BTT (Block Translation Table) of Linux's `drivers/nvdimm/btt.c`, in safe
//! Rust that needs nothing but `core`.
//!
//! The same files build into the kernel module (`rust/btt_rs.rs` includes this
//! directory with `#[path]`) and into the host crate `btt_core`, so they only
//! use `super::` paths. The environment comes in through two traits:
//! [`Media`] (the bytes of the namespace) and [`Platform`] (allocation and
//! sleepable locks).
//!
//! The on-media format is the C driver's, bit for bit: see [`info`] (the info
//! block), [`layout`] (arena sizing), [`map`] (map entries) and [`flog`] (the
//! free list and log with both padding layouts).
//!
//! Concurrency: [`Btt`] is shared by all CPUs; the state that belongs to a lane
//! (its free block and flog slot in each arena) is a [`Lane`], handed out once
//! by [`Btt::open`] and passed by `&mut` to every I/O, so two users of one lane
//! cannot be expressed.

pub mod check;
pub mod data;
pub mod device;
pub mod error;
pub mod flog;
pub mod info;
pub mod io;
pub mod layout;
pub mod map;
pub mod media;
pub mod open;
pub mod platform;
pub mod write;
pub mod zero;

pub use data::{DataBuf, DataMedia};
pub use device::{ArenaInfo, Btt, Config, FreeEntry, InfoSource, Lane, MAX_BATCH};
pub use error::Error;
pub use layout::SUPPORTED_LBASIZES;
pub use media::Media;
pub use open::LaneSet;
pub use platform::{LockTable, Platform};
pub use write::WriteBatch;
pub use zero::ZeroStats;
