/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Input to bindgen (see Kbuild): the libnvdimm declarations btt_rs uses,
 * including the private drivers/nvdimm/nd.h of the kernel being built, and
 * btt.h for the layout of the `struct btt` that C code reads through
 * `nd_btt->btt` (rust/driver/c_btt.rs).
 */
#include <linux/blkdev.h>
#include <linux/hdreg.h>
#include <linux/libnvdimm.h>
#include <linux/nd.h>
#include "nd.h"
#include "btt.h"

/* Macros bindgen cannot evaluate, as rust/bindings/bindings_helper.h does. */
const blk_features_t RUST_CONST_HELPER_BLK_FEAT_SYNCHRONOUS = BLK_FEAT_SYNCHRONOUS;
