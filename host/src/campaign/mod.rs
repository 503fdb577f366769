//! Campaigns: one stock issued to a list of users — at a set rate, resumable after any crash,
//! never twice to anyone.
//!
//! | module | owns |
//! |---|---|
//! | [`input`] | reading openids from CSV or JSON Lines, each line accepted or reported with its problem |
//! | [`journal`] | the SQLite journal: the plan, every row's fixed `partner_trade_no`, states, counts |
//! | [`rate`] | the token bucket that halves on `FREQ_OVER_LIMIT` and climbs back |
//! | [`run`] | the run: concurrent calls through the component, the journal written around each |
//!
//! ```text
//! plan:  users.csv ──▶ journal (row, openid, partner_trade_no = mch_id + yyyyMMdd + campaign + row)
//! run:   journal ──(planned | unknown rows)──▶ component ──▶ WeChat Pay ──▶ journal
//! ```
//!
//! Why a journal and the CLI, not the gateway: a campaign is hours of work whose one valuable
//! asset is the local record of which numbers were used for whom. The gateway is stateless on
//! purpose (a fresh instance per request, any runtime); a campaign needs a durable file that a
//! crash cannot lose and a second run can continue. `wxcoupon campaign` and
//! [`run::run_campaign`] provide that; a gateway caller can still drive its own loop with its
//! own numbers, which `POST /v1/coupons` honours.

pub mod input;
pub mod journal;
pub mod rate;
pub mod run;

pub use input::{read_lines, InputFormat, Line};
pub use journal::{
    CampaignInfo, Counts, Journal, JournalError, Planned, Problem, Recipient, RowState,
};
pub use rate::RateLimiter;
pub use run::{run_campaign, Event, RunError, RunSettings, RunSummary, StopReason};

/// Digits of the random campaign number inside every key.
pub const CAMPAIGN_DIGITS: usize = 10;
/// Digits of the row number inside every key (up to 10⁸ − 1 recipients).
pub const ROW_DIGITS: usize = 8;

/// A new campaign's key prefix: `mch_id` + `yyyyMMdd` (Beijing time of `unix_seconds`) + a
/// random 10-digit campaign number, WeChat's documented `mch_id` + date + serial form. Two
/// campaigns of one merchant share a prefix with probability 10⁻¹⁰.
pub fn key_prefix(mch_id: &str, unix_seconds: i64, random_u64: impl FnMut() -> u64) -> String {
    let campaign = wxcoupon_api::trade_no::serial(random_u64);
    let stamp = wxcoupon_core::time::format_beijing(unix_seconds);
    let date = stamp.get(..8).unwrap_or(&stamp);
    format!("{mch_id}{date}{campaign:0width$}", width = CAMPAIGN_DIGITS)
}

/// The number of row `row` under `prefix`: unique within the campaign by construction.
pub fn key(prefix: &str, row: u64) -> String {
    format!("{prefix}{row:0width$}", width = ROW_DIGITS)
}

/// What planning an input did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PlanReport {
    /// Recipients added.
    pub added: u64,
    /// Lines that named a recipient already planned.
    pub duplicates: u64,
    /// Lines without a usable openid.
    pub invalid: u64,
    /// The first problems (at most [`PlanReport::SHOWN`]), by line; all are in the journal.
    pub problems: Vec<Problem>,
}

impl PlanReport {
    /// How many problems a report lists itself.
    pub const SHOWN: usize = 20;
}

/// Plans `input` into `journal` for `stock_id` of `mch_id`: every line either becomes a row with
/// its number, or a problem (a duplicate, or no usable openid) recorded by line. Streams the
/// input; one transaction for all of it.
pub fn plan(
    journal: &mut Journal,
    stock_id: &str,
    mch_id: &str,
    input: impl std::io::BufRead,
    format: InputFormat,
    new_prefix: impl FnOnce() -> String,
) -> Result<PlanReport, PlanError> {
    let info = journal.campaign_for(stock_id, mch_id, new_prefix)?;
    let mut planner = journal.planner()?;
    let mut report = PlanReport::default();
    let mut failure: Option<JournalError> = None;
    read_lines(input, format, |line| {
        let problem = match line {
            Line::Openid { line, openid } => {
                match planner.add(line, &openid, |row| key(&info.key_prefix, row)) {
                    Ok(Planned::Added { .. }) => {
                        report.added += 1;
                        None
                    }
                    Ok(Planned::Duplicate { first_line }) => {
                        report.duplicates += 1;
                        Some(Problem {
                            line,
                            text: openid,
                            problem: format!("duplicate of line {first_line}"),
                        })
                    }
                    Err(e) => {
                        failure = Some(e);
                        return Err(std::io::Error::other("journal"));
                    }
                }
            }
            Line::Problem {
                line,
                text,
                problem,
            } => {
                report.invalid += 1;
                Some(Problem {
                    line,
                    text,
                    problem,
                })
            }
        };
        if let Some(problem) = problem {
            if let Err(e) = planner.problem(&problem) {
                failure = Some(e);
                return Err(std::io::Error::other("journal"));
            }
            if report.problems.len() < PlanReport::SHOWN {
                report.problems.push(problem);
            }
        }
        Ok(())
    })
    .map_err(|e| match failure.take() {
        Some(journal) => PlanError::Journal(journal),
        None => PlanError::Input(e),
    })?;
    planner.commit()?;
    Ok(report)
}

/// Why planning failed (nothing of the input was kept).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The journal failed or belongs to another campaign.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The input could not be read.
    #[error("reading the list: {0}")]
    Input(std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_wechats_form_and_unique_per_row() {
        let prefix = key_prefix("10000098", 1_764_633_600, || 42);
        assert_eq!(prefix, "10000098202512020000000042");
        assert_eq!(key(&prefix, 7), "1000009820251202000000004200000007");
        assert_ne!(key(&prefix, 7), key(&prefix, 70));
    }

    #[test]
    fn a_plan_adds_reports_duplicates_and_invalid_lines_and_appends() {
        let dir = std::env::temp_dir().join(format!("wxcoupon-plan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("j.sqlite");
        let _ = std::fs::remove_file(&path);
        let mut journal = Journal::open(&path).unwrap();
        let report = plan(
            &mut journal,
            "1758",
            "10000098",
            "openid\noA\noB\noA\no B\n\noC\n".as_bytes(),
            InputFormat::Csv,
            || "P".into(),
        )
        .unwrap();
        assert_eq!((report.added, report.duplicates, report.invalid), (3, 1, 1));
        assert_eq!(report.problems[0].problem, "duplicate of line 2");
        assert_eq!(report.problems[0].line, 4);
        assert!(report.problems[1].problem.starts_with("not an openid"));
        // The same journal takes more of the same campaign; numbers go on from the last row.
        let more = plan(
            &mut journal,
            "1758",
            "10000098",
            "oD\noB\n".as_bytes(),
            InputFormat::Csv,
            || unreachable!(),
        )
        .unwrap();
        assert_eq!((more.added, more.duplicates), (1, 1));
        let mut keys = Vec::new();
        journal
            .each_recipient(|r| {
                keys.push((r.row, r.openid, r.partner_trade_no));
                Ok(())
            })
            .unwrap();
        assert_eq!(
            keys.last().unwrap(),
            &(4, "oD".to_string(), "P00000004".to_string())
        );
        // Another stock in this journal is refused.
        let other = plan(
            &mut journal,
            "1757",
            "10000098",
            "oE\n".as_bytes(),
            InputFormat::Csv,
            || "Q".into(),
        );
        assert!(matches!(
            other,
            Err(PlanError::Journal(JournalError::Mismatch { .. }))
        ));
        assert_eq!(journal.counts().unwrap().get(RowState::Planned), 4);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
