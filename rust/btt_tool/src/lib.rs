// SPDX-License-Identifier: GPL-2.0
//! The library half of the `btt` tool: what `btt check [--repair]` does,
//! over any [`btt_core::btt::Media`] (the binary is `src/main.rs`).

pub mod repair;
