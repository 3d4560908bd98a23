// SPDX-License-Identifier: GPL-2.0
//! Host build of the BTT core.
//!
//! The algorithm lives in [`btt`] (the files under `src/btt/`). The kernel module
//! compiles those very files as one of its own modules (`#[path]`), so they never
//! use `crate::` paths, only `super::`, and depend on nothing but `core`.
//! This root adds what only the host has: `std`, memory and file media, and the
//! `std` [`btt::Platform`].

#![no_std]
#![forbid(unsafe_code)]

#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod btt;

#[cfg(feature = "std")]
pub mod host;

pub use btt::*;
