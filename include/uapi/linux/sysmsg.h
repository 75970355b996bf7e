/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * sysmsg: asynchronous system-call messages.
 *
 * This header is the single source of truth for the ABI between the sysmsg
 * module and userspace. The module and the Rust userspace library generate
 * their types from it with bindgen; the C tests include it directly.
 *
 * Rules for every structure here:
 *  - fixed size, naturally aligned, explicit padding;
 *  - reserved fields must be zero: the module rejects non-zero reserved
 *    fields with EINVAL, so that they can be given a meaning later;
 *  - ioctl numbers are built with _IOR/_IOW/_IOWR from SYSMSG_IOC_MAGIC and
 *    the SYSMSG_IOC_NR_* numbers below (unknown numbers fail with ENOTTY).
 */
#ifndef _UAPI_LINUX_SYSMSG_H
#define _UAPI_LINUX_SYSMSG_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* The device node. */
#define SYSMSG_DEVICE_PATH "/dev/sysmsg"

/* Bumped on every incompatible change of this header. */
#define SYSMSG_ABI_VERSION 1

/* The ioctl type byte ('#' is unused in ioctl-number.rst for 0xA0-0xAF). */
#define SYSMSG_IOC_MAGIC 0x23
#define SYSMSG_IOC_NR_BASE 0xA0

/* Feature bits reported in sysmsg_info.features (none yet). */
#define SYSMSG_FEATURES_ALL 0ULL

/*
 * struct sysmsg_info - what SYSMSG_IOC_GET_INFO reports.
 * @abi_version: SYSMSG_ABI_VERSION of the running module.
 * @info_size:   sizeof(struct sysmsg_info) as the module knows it.
 * @features:    SYSMSG_FEATURE_* bits the module supports.
 * @reserved:    zero.
 */
struct sysmsg_info {
	__u32 abi_version;
	__u32 info_size;
	__u64 features;
	__u64 reserved[6];
};

#define SYSMSG_IOC_NR_GET_INFO (SYSMSG_IOC_NR_BASE + 0)

#define SYSMSG_IOC_GET_INFO \
	_IOR(SYSMSG_IOC_MAGIC, SYSMSG_IOC_NR_GET_INFO, struct sysmsg_info)

#endif /* _UAPI_LINUX_SYSMSG_H */
