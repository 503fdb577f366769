//! The states of stocks and coupons as enums. The API spells them two ways — the stock list's
//! filter in lower case (`running`, `stoped` sic), the objects in upper case (`RUNNING`) — so
//! each enum reads either, writes the one each place wants, and keeps a value no table here
//! knows as `Unknown` rather than failing on it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A stock's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StockStatus {
    /// Created, not started.
    Unactivated,
    /// Under WeChat's review.
    Audit,
    /// Started: coupons can be issued.
    Running,
    /// Stopped for good (`STOPED`, sic, on the wire).
    Stopped,
    /// Paused: issuing is refused until it is restarted.
    Paused,
    /// Past its end (objects only; the list filter has no such value).
    Expired,
    /// Any other value, as sent.
    Unknown(String),
}

impl StockStatus {
    /// Reads a status in either spelling (`running`, `RUNNING`, `stoped`, `STOPPED`).
    pub fn parse(value: &str) -> StockStatus {
        match value.to_ascii_lowercase().as_str() {
            "unactivated" => StockStatus::Unactivated,
            "audit" => StockStatus::Audit,
            "running" => StockStatus::Running,
            "stoped" | "stopped" => StockStatus::Stopped,
            "paused" => StockStatus::Paused,
            "expired" => StockStatus::Expired,
            _ => StockStatus::Unknown(value.to_string()),
        }
    }

    /// As the stock object writes it (upper case).
    pub fn as_wire(&self) -> &str {
        match self {
            StockStatus::Unactivated => "UNACTIVATED",
            StockStatus::Audit => "AUDIT",
            StockStatus::Running => "RUNNING",
            StockStatus::Stopped => "STOPED",
            StockStatus::Paused => "PAUSED",
            StockStatus::Expired => "EXPIRED",
            StockStatus::Unknown(other) => other,
        }
    }

    /// As the stock list's `status` filter takes it (lower case); `None` for a state the
    /// filter has no value for.
    pub fn as_filter(&self) -> Option<&'static str> {
        Some(match self {
            StockStatus::Unactivated => "unactivated",
            StockStatus::Audit => "audit",
            StockStatus::Running => "running",
            StockStatus::Stopped => "stoped",
            StockStatus::Paused => "paused",
            StockStatus::Expired | StockStatus::Unknown(_) => return None,
        })
    }
}

/// A coupon's state, read in either case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CouponStatus {
    /// Issued, not used yet (`SENDED`, sic).
    Sended,
    /// Used.
    Used,
    /// Expired unused.
    Expired,
    /// Taken back (`RECOVER`, seen in gopay).
    Recover,
    /// Revoked (`REVOKED`, seen in gopay).
    Revoked,
    /// Any other value, as sent.
    Unknown(String),
}

impl CouponStatus {
    /// Reads a status in either case.
    pub fn parse(value: &str) -> CouponStatus {
        match value.to_ascii_uppercase().as_str() {
            "SENDED" => CouponStatus::Sended,
            "USED" => CouponStatus::Used,
            "EXPIRED" => CouponStatus::Expired,
            "RECOVER" => CouponStatus::Recover,
            "REVOKED" => CouponStatus::Revoked,
            _ => CouponStatus::Unknown(value.to_string()),
        }
    }

    /// As the API writes it (upper case).
    pub fn as_wire(&self) -> &str {
        match self {
            CouponStatus::Sended => "SENDED",
            CouponStatus::Used => "USED",
            CouponStatus::Expired => "EXPIRED",
            CouponStatus::Recover => "RECOVER",
            CouponStatus::Revoked => "REVOKED",
            CouponStatus::Unknown(other) => other,
        }
    }
}

macro_rules! as_wire_string {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_wire())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Ok(<$t>::parse(&String::deserialize(d)?))
            }
        }
    )*};
}
as_wire_string!(StockStatus, CouponStatus);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_read_and_each_place_gets_its_own() {
        for (raw, status) in [
            ("running", StockStatus::Running),
            ("RUNNING", StockStatus::Running),
            ("stoped", StockStatus::Stopped),
            ("STOPED", StockStatus::Stopped),
            ("paused", StockStatus::Paused),
            ("EXPIRED", StockStatus::Expired),
        ] {
            assert_eq!(StockStatus::parse(raw), status, "{raw}");
        }
        assert_eq!(StockStatus::Stopped.as_filter(), Some("stoped"));
        assert_eq!(StockStatus::Expired.as_filter(), None);
        assert_eq!(
            StockStatus::parse("NEW_STATE"),
            StockStatus::Unknown("NEW_STATE".into())
        );
        assert_eq!(CouponStatus::parse("sended"), CouponStatus::Sended);
        assert_eq!(CouponStatus::parse("REVOKED").as_wire(), "REVOKED");
        let json = serde_json::to_string(&StockStatus::Paused).unwrap();
        assert_eq!(json, "\"PAUSED\"");
        let back: StockStatus = serde_json::from_str("\"paused\"").unwrap();
        assert_eq!(back, StockStatus::Paused);
    }
}
