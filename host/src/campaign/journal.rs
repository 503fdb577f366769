//! The journal: one SQLite file (WAL mode) per campaign, the single record of what was planned,
//! what was sent and what came of it.
//!
//! Every recipient gets its `partner_trade_no` when it is planned, stored before anything is
//! sent, and never changes: whatever happens to a run — a crash between WeChat issuing and the
//! journal hearing of it included — the next attempt goes under the same number, and WeChat
//! answers a repeat with the first outcome. A recipient moves
//! `planned → sending → issued | refused | unknown`, written before and after each call; a run
//! that finds `sending` rows (the previous one died mid-call) treats them as `unknown`.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

/// A recipient's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowState {
    /// Not sent yet (or sent and refused before WeChat acted: throttled, stopped).
    Planned,
    /// A call is in flight (or was, when a run died).
    Sending,
    /// WeChat issued the coupon.
    Issued,
    /// WeChat refused it for good (`err_code`).
    Refused,
    /// The call may have issued: retried with the same number.
    Unknown,
}

impl RowState {
    /// Every state, in order.
    pub const ALL: [RowState; 5] = [
        RowState::Planned,
        RowState::Sending,
        RowState::Issued,
        RowState::Refused,
        RowState::Unknown,
    ];

    /// The name stored in the journal.
    pub fn name(self) -> &'static str {
        match self {
            RowState::Planned => "planned",
            RowState::Sending => "sending",
            RowState::Issued => "issued",
            RowState::Refused => "refused",
            RowState::Unknown => "unknown",
        }
    }

    fn parse(name: &str) -> RowState {
        RowState::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .unwrap_or(RowState::Unknown)
    }
}

/// What the journal says about the campaign itself.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CampaignInfo {
    /// The stock issued from.
    pub stock_id: String,
    /// The merchant the numbers belong to.
    pub mch_id: String,
    /// The numbers' common beginning: `mch_id` + `yyyyMMdd` + 10 random digits.
    pub key_prefix: String,
}

/// One recipient.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Recipient {
    /// Its place in the plan (1, 2, …).
    pub row: u64,
    /// The input line it came from.
    pub line: u64,
    /// The user.
    pub openid: String,
    /// Its idempotency key, fixed when planned.
    pub partner_trade_no: String,
    /// Where it stands.
    pub state: RowState,
    /// WeChat's `err_code` of the last refusal, or the error kind.
    pub err_code: Option<String>,
    /// The last error's message.
    pub error: Option<String>,
    /// The coupon, once issued.
    pub coupon_id: Option<String>,
    /// Calls made for it.
    pub attempts: u32,
}

/// An input line that was not planned.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The input line.
    pub line: u64,
    /// What it held (shortened).
    pub text: String,
    /// Why it was not planned (`duplicate of line N`, `not an openid: …`).
    pub problem: String,
}

/// Errors of the journal: SQLite's, or a campaign mismatch.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// SQLite failed (the file, its schema, a statement).
    #[error("campaign journal: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The journal belongs to another stock or merchant than asked for.
    #[error("campaign journal: it is for stock {stock_id} of merchant {mch_id}, not {asked}")]
    Mismatch {
        /// The journal's stock.
        stock_id: String,
        /// The journal's merchant.
        mch_id: String,
        /// What was asked for.
        asked: String,
    },
    /// Writing what was read failed (the report's output).
    #[error("campaign journal: writing: {0}")]
    Write(std::io::Error),
    /// No campaign has been planned in this file.
    #[error("campaign journal: nothing planned in it yet (run `wxcoupon campaign plan` first)")]
    Empty,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS campaign (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    stock_id TEXT NOT NULL,
    mch_id TEXT NOT NULL,
    key_prefix TEXT NOT NULL,
    created_unix INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS recipient (
    row INTEGER PRIMARY KEY,
    line INTEGER NOT NULL,
    openid TEXT NOT NULL UNIQUE,
    partner_trade_no TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL CHECK (state IN ('planned', 'sending', 'issued', 'refused', 'unknown')),
    err_code TEXT,
    error TEXT,
    coupon_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    updated_unix INTEGER
);
CREATE INDEX IF NOT EXISTS recipient_state ON recipient (state, row);
CREATE TABLE IF NOT EXISTS problem (
    line INTEGER NOT NULL,
    text TEXT NOT NULL,
    problem TEXT NOT NULL
);
";

/// An open journal.
pub struct Journal {
    db: Connection,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Journal {
    /// Opens (creating it if needed) the journal at `path`: WAL mode, the schema in place.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let db = Connection::open(path)?;
        // WAL: readers (status) never block the runner; NORMAL is durable against a killed
        // process (what the crash tests do); a power cut can lose the last transactions, and
        // then a row is sent again under its fixed number, which is safe.
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        db.busy_timeout(std::time::Duration::from_secs(10))?;
        db.execute_batch(SCHEMA)?;
        Ok(Journal { db })
    }

    /// The campaign, if one is planned.
    pub fn campaign(&self) -> Result<Option<CampaignInfo>, JournalError> {
        Ok(self
            .db
            .query_row(
                "SELECT stock_id, mch_id, key_prefix FROM campaign WHERE id = 1",
                [],
                |r| {
                    Ok(CampaignInfo {
                        stock_id: r.get(0)?,
                        mch_id: r.get(1)?,
                        key_prefix: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    /// The campaign for `stock_id` of `mch_id`: created with `new_prefix()`'s key prefix when
    /// the journal is new, checked against what it holds otherwise.
    pub fn campaign_for(
        &mut self,
        stock_id: &str,
        mch_id: &str,
        new_prefix: impl FnOnce() -> String,
    ) -> Result<CampaignInfo, JournalError> {
        if let Some(info) = self.campaign()? {
            if info.stock_id != stock_id || info.mch_id != mch_id {
                return Err(JournalError::Mismatch {
                    stock_id: info.stock_id,
                    mch_id: info.mch_id,
                    asked: format!("stock {stock_id} of merchant {mch_id}"),
                });
            }
            return Ok(info);
        }
        let info = CampaignInfo {
            stock_id: stock_id.to_string(),
            mch_id: mch_id.to_string(),
            key_prefix: new_prefix(),
        };
        self.db.execute(
            "INSERT INTO campaign (id, stock_id, mch_id, key_prefix, created_unix) VALUES (1, ?1, ?2, ?3, ?4)",
            params![info.stock_id, info.mch_id, info.key_prefix, now()],
        )?;
        Ok(info)
    }

    /// Starts adding recipients (one transaction for the whole input: a plan is all or nothing).
    pub fn planner(&mut self) -> Result<Planner<'_>, JournalError> {
        let tx = self.db.transaction()?;
        let next_row: u64 =
            tx.query_row("SELECT COALESCE(MAX(row), 0) + 1 FROM recipient", [], |r| {
                r.get(0)
            })?;
        Ok(Planner { tx, next_row })
    }

    /// Rows left over from a run that died mid-call: `sending` becomes `unknown` (retried under
    /// the same number). Returns how many.
    pub fn recover(&mut self) -> Result<u64, JournalError> {
        Ok(self.db.execute(
            "UPDATE recipient SET state = 'unknown', error = 'a run ended while the call was in flight', updated_unix = ?1 WHERE state = 'sending'",
            params![now()],
        )? as u64)
    }

    /// Up to `limit` rows after `after` that still need a call (`planned` or `unknown`), in plan
    /// order. Every run takes each unknown row again, however many calls earlier runs made for
    /// it: its number is what makes the retry safe, and a run bounds its own calls per row.
    pub fn pending(&self, after: u64, limit: u32) -> Result<Vec<Recipient>, JournalError> {
        let mut stmt = self.db.prepare_cached(
            "SELECT row, line, openid, partner_trade_no, state, err_code, error, coupon_id, attempts FROM recipient
             WHERE row > ?1 AND state IN ('planned', 'unknown')
             ORDER BY row LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![after, limit], recipient_of)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Marks a row as being sent (one more attempt), before the call.
    pub fn mark_sending(&self, row: u64) -> Result<(), JournalError> {
        self.db.prepare_cached(
            "UPDATE recipient SET state = 'sending', attempts = attempts + 1, updated_unix = ?2 WHERE row = ?1",
        )?
        .execute(params![row, now()])?;
        Ok(())
    }

    /// Records a call's outcome, after it.
    pub fn mark(
        &self,
        row: u64,
        state: RowState,
        coupon_id: Option<&str>,
        err_code: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), JournalError> {
        self.db.prepare_cached(
            "UPDATE recipient SET state = ?2, coupon_id = COALESCE(?3, coupon_id), err_code = ?4, error = ?5, updated_unix = ?6 WHERE row = ?1",
        )?
        .execute(params![row, state.name(), coupon_id, err_code, error, now()])?;
        Ok(())
    }

    /// Counts by state, and refusals and unknowns by `err_code`.
    pub fn counts(&self) -> Result<Counts, JournalError> {
        let mut counts = Counts::default();
        let mut stmt = self
            .db
            .prepare_cached("SELECT state, COUNT(*) FROM recipient GROUP BY state")?;
        for pair in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))? {
            let (state, n) = pair?;
            counts.by_state.insert(RowState::parse(&state), n);
        }
        let mut stmt = self.db.prepare_cached(
            "SELECT state, COALESCE(err_code, '?'), COUNT(*) FROM recipient WHERE state IN ('refused', 'unknown') GROUP BY state, err_code",
        )?;
        for item in stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, u64>(2)?,
            ))
        })? {
            let (state, code, n) = item?;
            match RowState::parse(&state) {
                RowState::Refused => counts.refused_by_code.insert(code, n),
                _ => counts.unknown_by_code.insert(code, n),
            };
        }
        counts.problems = self
            .db
            .query_row("SELECT COUNT(*) FROM problem", [], |r| r.get(0))?;
        Ok(counts)
    }

    /// Every recipient in plan order, streamed to `each`.
    pub fn each_recipient(
        &self,
        mut each: impl FnMut(Recipient) -> std::io::Result<()>,
    ) -> Result<(), JournalError> {
        let mut stmt = self.db.prepare(
            "SELECT row, line, openid, partner_trade_no, state, err_code, error, coupon_id, attempts FROM recipient ORDER BY row",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            each(recipient_of(r)?).map_err(JournalError::Write)?;
        }
        Ok(())
    }

    /// Every input line that was not planned, in input order.
    pub fn problems(&self) -> Result<Vec<Problem>, JournalError> {
        let mut stmt = self
            .db
            .prepare("SELECT line, text, problem FROM problem ORDER BY line")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Problem {
                    line: r.get(0)?,
                    text: r.get(1)?,
                    problem: r.get(2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

fn recipient_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<Recipient> {
    Ok(Recipient {
        row: r.get(0)?,
        line: r.get(1)?,
        openid: r.get(2)?,
        partner_trade_no: r.get(3)?,
        state: RowState::parse(&r.get::<_, String>(4)?),
        err_code: r.get(5)?,
        error: r.get(6)?,
        coupon_id: r.get(7)?,
        attempts: r.get(8)?,
    })
}

/// Counts of a journal.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Recipients by state.
    pub by_state: std::collections::BTreeMap<RowState, u64>,
    /// Refused recipients by `err_code`.
    pub refused_by_code: std::collections::BTreeMap<String, u64>,
    /// Unknown recipients by the last error's code.
    pub unknown_by_code: std::collections::BTreeMap<String, u64>,
    /// Input lines not planned.
    pub problems: u64,
}

impl Counts {
    /// How many recipients are in `state`.
    pub fn get(&self, state: RowState) -> u64 {
        self.by_state.get(&state).copied().unwrap_or(0)
    }

    /// How many recipients there are.
    pub fn total(&self) -> u64 {
        self.by_state.values().sum()
    }
}

/// Adds recipients in one transaction.
pub struct Planner<'a> {
    tx: rusqlite::Transaction<'a>,
    next_row: u64,
}

/// What happened to one offered recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Planned {
    /// Added as this row with this number.
    Added {
        /// The row.
        row: u64,
    },
    /// Already in the plan, from this input line.
    Duplicate {
        /// The line it was first planned from.
        first_line: u64,
    },
}

impl Planner<'_> {
    /// Adds `openid` from input `line` with the number `key(row)` gives, unless it is planned
    /// already (then nothing changes and the first line is named).
    pub fn add(
        &mut self,
        line: u64,
        openid: &str,
        key: impl FnOnce(u64) -> String,
    ) -> Result<Planned, JournalError> {
        let existing: Option<u64> = self
            .tx
            .prepare_cached("SELECT line FROM recipient WHERE openid = ?1")?
            .query_row(params![openid], |r| r.get(0))
            .optional()?;
        if let Some(first_line) = existing {
            return Ok(Planned::Duplicate { first_line });
        }
        let row = self.next_row;
        self.tx
            .prepare_cached(
                "INSERT INTO recipient (row, line, openid, partner_trade_no, state) VALUES (?1, ?2, ?3, ?4, 'planned')",
            )?
            .execute(params![row, line, openid, key(row)])?;
        self.next_row += 1;
        Ok(Planned::Added { row })
    }

    /// Records an input line that was not planned.
    pub fn problem(&mut self, problem: &Problem) -> Result<(), JournalError> {
        self.tx
            .prepare_cached("INSERT INTO problem (line, text, problem) VALUES (?1, ?2, ?3)")?
            .execute(params![problem.line, problem.text, problem.problem])?;
        Ok(())
    }

    /// Makes the whole plan durable.
    pub fn commit(self) -> Result<(), JournalError> {
        self.tx.commit()?;
        Ok(())
    }
}
