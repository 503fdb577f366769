//! The `WXPAY_*` settings, one source of truth for every edge — the reference host's
//! configuration, its egress proxy, the component's gateway, the Envoy filter — with no I/O.
//!
//! | module | owns |
//! |---|---|
//! | [`table`] | every setting once: variable, key, kind, rule text; how problems name them |
//! | [`limits`] | every numeric limit and default |
//! | [`source`] | the [`Source`] seam: environment pairs, values by key, layers |
//! | [`read`] | [`Reader`]: typed reads, every problem collected |
//! | [`merchant`] | the merchant part, read once for all edges: [`read_merchant`] |
//! | [`v3`] | which API the calls use ([`read_api`]); the v3 merchant from PEM text: [`read_v3_merchant`] |
//! | [`identity`] | which files hold the client certificate: [`read_certificate_files`] |
//! | [`error`] | [`SettingsError`], the one error type |
//!
//! An edge builds a [`Source`] from what it has (its environment as [`Vars`]; a TOML file, a
//! JSON object or flags flattened into [`Keys`]; [`Layers`] of them, lowest first), reads what
//! it needs with a [`Reader`], and gets every problem at once, each naming the setting its way
//! ([`Naming`]) and the rule, never a value.
//!
//! Values: text is trimmed (secrets excepted); an empty environment variable is unset;
//! booleans are `true`/`false` or the text `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`;
//! numbers are whole numbers or their text.
//!
//! ```
//! use wxcoupon_core::settings::{read_merchant, Endpoint, Naming, Reader, Vars, SANDBOX};
//!
//! let vars = Vars::new([
//!     ("WXPAY_APPID", "wx5edab3bdfba3dc1c"),
//!     ("WXPAY_MCH_ID", "10000098"),
//!     ("WXPAY_API_KEY", "192006250b4c09247ec02edce69f6a2d"),
//!     ("WXPAY_SANDBOX", "maybe"),
//! ]);
//! let mut r = Reader::new(&vars, Naming::Variable);
//! let merchant = read_merchant(&mut r, Endpoint::FromSettings).merchant();
//! let problems = r.finish(merchant).unwrap_err();
//! assert_eq!(
//!     problems.to_string(),
//!     "WXPAY_SANDBOX: must be true or false, 1/0, yes/no or on/off"
//! );
//! assert_eq!(SANDBOX.key, "sandbox");
//! ```

pub mod error;
pub mod identity;
pub mod limits;
pub mod merchant;
pub mod read;
pub mod source;
pub mod table;
pub mod v3;

pub use error::SettingsError;
pub use identity::{read_certificate_files, CertificateFiles, Need};
pub use limits::*;
pub use merchant::{read_merchant, setting_of_field, Endpoint, MerchantSettings};
pub use read::{parse_bool, unknown_keys, Reader};
pub use source::{Found, Keys, Layers, Source, Value, Vars};
pub use table::*;
#[cfg(feature = "v3")]
pub use v3::read_v3_merchant;
pub use v3::{pem_blocks, read_api, ApiVersion, V3Use};

#[cfg(test)]
mod tests;
