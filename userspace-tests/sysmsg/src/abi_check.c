// SPDX-License-Identifier: GPL-2.0
/*
 * The ABI as a C compiler sees it, linked into the library's unit tests so
 * that Rust's ioctl numbers and structure sizes are checked against the
 * header's own macros.
 */
#include <linux/sysmsg.h>
#include <stddef.h>

const unsigned int sysmsg_c_ioc_get_info = SYSMSG_IOC_GET_INFO;
const size_t sysmsg_c_sizeof_info = sizeof(struct sysmsg_info);
