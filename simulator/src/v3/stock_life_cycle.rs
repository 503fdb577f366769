//! A stock's life cycle, in one table: which change (`start`, `pause`, `restart`, `stop`)
//! takes a stock from which state to which. The state itself is kept as v2's
//! `coupon_stock_status` number (1 unactivated, 2 audit, 4 running, 8 stopped, 16 paused), so
//! both APIs see one stock; [`status_of`] and [`code_of`] translate.
//!
//! | from | start | pause | restart | stop |
//! |---|---|---|---|---|
//! | `UNACTIVATED` | `RUNNING` | – | – | – |
//! | `RUNNING` | – | `PAUSED` | – | `STOPED` |
//! | `PAUSED` | – | – | `RUNNING` | `STOPED` |
//! | `STOPED`, `AUDIT`, `EXPIRED` | – | – | – | – |
//!
//! Choices where WeChat documents nothing: every "–" is 400 `INVALID_REQUEST` with the message
//! `批次当前状态为{STATE}，无法{激活|暂停|重启|终止}` (the state as the stock object writes it);
//! stopping a paused stock is allowed (WeChat's "stop" is the way out of any started state).

use wxcoupon_core::v3::status::StockStatus;
use wxcoupon_core::v3::stocks::StockChange;

/// Every allowed transition: `(from, change, to)`.
pub(crate) const TRANSITIONS: [(StockStatus, StockChange, StockStatus); 5] = [
    (
        StockStatus::Unactivated,
        StockChange::Start,
        StockStatus::Running,
    ),
    (
        StockStatus::Running,
        StockChange::Pause,
        StockStatus::Paused,
    ),
    (
        StockStatus::Paused,
        StockChange::Restart,
        StockStatus::Running,
    ),
    (
        StockStatus::Running,
        StockChange::Stop,
        StockStatus::Stopped,
    ),
    (StockStatus::Paused, StockChange::Stop, StockStatus::Stopped),
];

/// The state of a `coupon_stock_status` number.
pub(crate) fn status_of(code: u32) -> StockStatus {
    match code {
        1 => StockStatus::Unactivated,
        2 => StockStatus::Audit,
        4 => StockStatus::Running,
        8 => StockStatus::Stopped,
        16 => StockStatus::Paused,
        other => StockStatus::Unknown(other.to_string()),
    }
}

/// The `coupon_stock_status` number of a state (`None` for one v2 has no number for).
pub(crate) fn code_of(status: &StockStatus) -> Option<u32> {
    Some(match status {
        StockStatus::Unactivated => 1,
        StockStatus::Audit => 2,
        StockStatus::Running => 4,
        StockStatus::Stopped => 8,
        StockStatus::Paused => 16,
        StockStatus::Expired | StockStatus::Unknown(_) => return None,
    })
}

/// The verb of a change, for refusals.
fn verb(change: StockChange) -> &'static str {
    match change {
        StockChange::Start => "激活",
        StockChange::Pause => "暂停",
        StockChange::Restart => "重启",
        StockChange::Stop => "终止",
    }
}

/// Where `change` takes a stock in state `from`, or the refusal message.
pub(crate) fn transition(from: &StockStatus, change: StockChange) -> Result<StockStatus, String> {
    TRANSITIONS
        .iter()
        .find(|(f, c, _)| f == from && *c == change)
        .map(|(_, _, to)| to.clone())
        .ok_or_else(|| format!("批次当前状态为{}，无法{}", from.as_wire(), verb(change)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every state × every change: the table above, cell by cell.
    #[test]
    fn the_whole_table() {
        use StockChange::*;
        use StockStatus::*;
        let states = [Unactivated, Audit, Running, Paused, Stopped, Expired];
        let expected = |from: &StockStatus, change: StockChange| -> Option<StockStatus> {
            match (from, change) {
                (Unactivated, Start) => Some(Running),
                (Running, Pause) => Some(Paused),
                (Paused, Restart) => Some(Running),
                (Running | Paused, Stop) => Some(Stopped),
                _ => None,
            }
        };
        for from in &states {
            for change in StockChange::ALL {
                let got = transition(from, change);
                match expected(from, change) {
                    Some(to) => assert_eq!(got, Ok(to), "{from:?} {change:?}"),
                    None => {
                        let message = got.expect_err("refused");
                        assert!(message.contains(from.as_wire()), "{message}");
                    }
                }
            }
        }
        assert_eq!(
            transition(&Running, Start).unwrap_err(),
            "批次当前状态为RUNNING，无法激活"
        );
        assert_eq!(
            transition(&Stopped, Restart).unwrap_err(),
            "批次当前状态为STOPED，无法重启"
        );
    }

    #[test]
    fn numbers_and_states_translate_both_ways() {
        for code in crate::config::KNOWN_STATUSES {
            assert_eq!(code_of(&status_of(code)), Some(code));
        }
        assert_eq!(code_of(&StockStatus::Expired), None);
        assert_eq!(status_of(3), StockStatus::Unknown("3".into()));
    }
}
