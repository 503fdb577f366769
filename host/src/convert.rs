//! `wxcoupon-core` values ⇄ the component's WIT values: the core's one table
//! ([`wxcoupon_core::v2_wit_mapping!`]) expanded over the host's bindings.
//!
//! The host speaks core types to its callers because they serialise to the CLI's JSON and are
//! the same types the simulator and the benches use.

use crate::runtime::wit;

wxcoupon_core::v2_wit_mapping!(wit);
