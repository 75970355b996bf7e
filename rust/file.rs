// SPDX-License-Identifier: GPL-2.0

//! An open file of `/dev/sysmsg` and its file operations.

use crate::{
    context::Context,
    miscdev::FileOps,
    process::{current_tgid, Process},
    uapi::{self, sysmsg_info},
};
use kernel::{
    fs::File,
    prelude::*,
    seq_file::SeqFile,
    seq_print,
    sync::{Arc, ArcBorrow},
    uaccess::{UserPtr, UserSlice},
};

/// The private data of one open file of `/dev/sysmsg`.
pub(crate) struct SysmsgFile {
    /// The device-wide state.
    ctx: Arc<Context>,
    /// The process that opened the file.
    opener: Arc<Process>,
}

impl SysmsgFile {
    /// `SYSMSG_IOC_GET_INFO`: the ABI version and features of the running module.
    fn get_info(arg: usize) -> Result<isize> {
        let info = sysmsg_info {
            abi_version: uapi::SYSMSG_ABI_VERSION,
            info_size: core::mem::size_of::<sysmsg_info>() as u32,
            features: uapi::SYSMSG_FEATURES_ALL.into(),
            reserved: [0; 6],
        };
        UserSlice::new(UserPtr::from_addr(arg), core::mem::size_of::<sysmsg_info>())
            .writer()
            .write(&info)?;
        Ok(0)
    }
}

#[vtable]
impl FileOps for SysmsgFile {
    type Ptr = Arc<SysmsgFile>;
    type Shared = Arc<Context>;

    fn open(ctx: &Arc<Context>, _file: &File) -> Result<Arc<SysmsgFile>> {
        let opener = ctx.processes.get(current_tgid())?;
        Arc::new(
            SysmsgFile {
                ctx: ctx.clone(),
                opener,
            },
            GFP_KERNEL,
        )
        .map_err(Into::into)
    }

    fn release(this: Arc<SysmsgFile>, _file: &File) {
        this.ctx.processes.put(&this.opener);
    }

    fn ioctl(
        _this: ArcBorrow<'_, SysmsgFile>,
        _file: &File,
        cmd: u32,
        arg: usize,
    ) -> Result<isize> {
        match cmd {
            uapi::SYSMSG_IOC_GET_INFO => Self::get_info(arg),
            _ => Err(ENOTTY),
        }
    }

    fn show_fdinfo(this: ArcBorrow<'_, SysmsgFile>, m: &SeqFile, _file: &File) {
        seq_print!(m, "sysmsg-abi:\t{}\n", uapi::SYSMSG_ABI_VERSION);
        seq_print!(m, "sysmsg-opener-tgid:\t{}\n", this.opener.tgid());
        seq_print!(m, "sysmsg-processes:\t{}\n", this.ctx.processes.len());
    }
}
