// SPDX-License-Identifier: GPL-2.0

//! The operations, one file per family: each provides its copyin, its execution, and where it has
//! one, its cancellation and writeback. `phases.rs` dispatches to them by opcode.

pub(crate) mod file;
pub(crate) mod sleep;
