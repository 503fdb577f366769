//! Running a campaign: the journal's pending rows, a few at a time through the component, at a
//! rate that backs off when WeChat says so, each outcome written before the next call.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wxcoupon_core as core;

use super::journal::{Counts, Journal, JournalError, Recipient, RowState};
use super::rate::RateLimiter;
use crate::runtime::{CallOptions, Runtime};

/// How a run goes. [`Default`]: 8 calls at once, 100 per second, 8 attempts for an unknown
/// outcome, 200 ms before the first retry (doubling).
#[derive(Clone, Debug, PartialEq)]
pub struct RunSettings {
    /// Calls in flight at once.
    pub concurrency: usize,
    /// Calls per second at most (WeChat's own limit is per merchant: stay below it).
    pub rate_per_second: f64,
    /// Calls at most in one run for one recipient whose outcome stays unknown; then it is left
    /// `unknown` for the next run (which retries it under the same number, with as many calls
    /// again).
    pub max_attempts: u32,
    /// The pause before retrying an unknown outcome; doubled each time, at most 5 s.
    pub retry_pause: Duration,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            concurrency: 8,
            rate_per_second: 100.0,
            max_attempts: 8,
            retry_pause: Duration::from_millis(200),
        }
    }
}

/// Why a run stopped before every row was done.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum StopReason {
    /// `AL_STOCK_OVER`: the stock is exhausted or its campaign has ended.
    StockExhausted,
    /// `STOCK_IS_NOT_VALID`: the stock is not active (paused, stopped, not started).
    StockNotIssuing,
    /// WeChat refused the merchant's credentials or the stock itself (`CA_ERROR`,
    /// `SIGN_ERROR`, `COUPON_STOCK_ID_NOT_VALID`, `return_code` FAIL …): every call would fail.
    Refused {
        /// WeChat's code, or `return_code_fail`.
        code: String,
        /// Its text.
        message: String,
    },
    /// An answer's signature was wrong: the key is wrong, or someone is in between.
    ResponseSignature,
    /// The host refused the outbound request (allow-list).
    Denied,
    /// WeChat could not be reached for many calls in a row.
    Unreachable,
    /// Interrupted (SIGINT): the calls in flight were finished first.
    Interrupted,
}

impl StopReason {
    /// One sentence for people.
    pub fn describe(&self) -> String {
        match self {
            StopReason::StockExhausted => "the stock is exhausted (AL_STOCK_OVER)".into(),
            StopReason::StockNotIssuing => {
                "the stock is not issuing (STOCK_IS_NOT_VALID: paused, stopped or not started)"
                    .into()
            }
            StopReason::Refused { code, message } => {
                format!("WeChat Pay refuses every call ({code}: {message})")
            }
            StopReason::ResponseSignature => {
                "an answer's signature does not match the API key".into()
            }
            StopReason::Denied => "the host's allow-list refused the call".into(),
            StopReason::Unreachable => "WeChat Pay could not be reached".into(),
            StopReason::Interrupted => "interrupted".into(),
        }
    }
}

/// What a run tells as it goes.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The run began.
    Started {
        /// Recipients in the plan.
        total: u64,
        /// Those still to be done.
        pending: u64,
        /// Rows a previous run left in flight, now retried as unknown.
        recovered: u64,
    },
    /// A call ended.
    Row {
        /// The row.
        row: u64,
        /// The state it is in now.
        state: RowState,
        /// WeChat's code or the error kind, for anything but `issued`.
        #[serde(skip_serializing_if = "Option::is_none")]
        err_code: Option<String>,
        /// The coupon, when issued.
        #[serde(skip_serializing_if = "Option::is_none")]
        coupon_id: Option<String>,
    },
    /// WeChat said slow down: the rate now.
    Throttled {
        /// Calls per second from now on (climbing back as calls succeed).
        rate_per_second: f64,
    },
    /// The run stops taking rows.
    Stopping {
        /// Why.
        #[serde(flatten)]
        reason: StopReason,
    },
}

/// How a run ended.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunSummary {
    /// The journal's counts at the end.
    pub counts: Counts,
    /// Why it stopped early, if it did.
    pub stopped: Option<StopReason>,
    /// Calls made in this run.
    pub calls: u64,
    /// `FREQ_OVER_LIMIT` answers in this run.
    pub throttles: u64,
    /// Seconds it took.
    pub seconds: f64,
}

/// Errors of a run itself (not of its calls, which the journal records).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The component could not be instantiated.
    #[error("the component: {0}")]
    Component(String),
    /// The journal is for another merchant.
    #[error("the journal's numbers belong to merchant {journal}, the settings are for {settings}")]
    Merchant {
        /// The journal's.
        journal: String,
        /// The settings'.
        settings: String,
    },
}

/// What the outcome of one call means for its row and the run.
enum Verdict {
    Issued(String),
    Refused(String, String),
    Unknown(String, String),
    /// Not carried out, try again after the throttle pause.
    Throttled(String),
    /// Not sent: try again shortly.
    NotSent(String),
    /// Every further call would fail: stop; the row becomes `state`.
    Doom(StopReason, RowState, String, String),
}

fn code_of(e: &core::Error) -> String {
    match e {
        core::Error::Business(b) => b.err_code.clone().unwrap_or_else(|| "BUSINESS".into()),
        core::Error::InvalidInput(_) => "INVALID_INPUT".into(),
        core::Error::UnexpectedStatus { status } => format!("HTTP_{status}"),
        core::Error::MalformedResponse(_) => "MALFORMED_RESPONSE".into(),
        core::Error::Protocol { .. } => "RETURN_CODE_FAIL".into(),
        core::Error::Signature { .. } => "BAD_SIGNATURE".into(),
        core::Error::Transport { .. } => "TRANSPORT".into(),
        core::Error::Denied { .. } => "DENIED".into(),
    }
}

/// The campaign's reading of a call's error: WeChat's advice and the core's unknown-outcome
/// rule first, then what dooms the rest of the list.
fn verdict(error: &core::Error) -> Verdict {
    let code = code_of(error);
    let message = error.to_string();
    if let core::Error::Signature { .. } = error {
        return Verdict::Doom(
            StopReason::ResponseSignature,
            RowState::Unknown,
            code,
            message,
        );
    }
    if error.outcome_unknown(core::Api::SendCoupon) {
        return Verdict::Unknown(code, message);
    }
    match error {
        core::Error::Business(_) => match code.trim() {
            "FREQ_OVER_LIMIT" => Verdict::Throttled(code),
            "AL_STOCK_OVER" => {
                Verdict::Doom(StopReason::StockExhausted, RowState::Planned, code, message)
            }
            "STOCK_IS_NOT_VALID" => Verdict::Doom(
                StopReason::StockNotIssuing,
                RowState::Planned,
                code,
                message,
            ),
            "CA_ERROR"
            | "SIGN_ERROR"
            | "ERR_VERIFY_SSL_SERIAL"
            | "ERR_VERIFY_SSL_SN"
            | "CA_VERIFY_FAILED"
            | "MCH_ID_EMPTY"
            | "CODE_2_ID_ERR"
            | "COUPON_STOCK_ID_NOT_VALID"
            | "COUPON_STOCK_NOT_FOUND"
            | "COUPON_STOCK_ID_EMPTY"
            | "REQ_PARAM_XML_ERR" => {
                let reason = StopReason::Refused {
                    code: code.clone(),
                    message: message.clone(),
                };
                Verdict::Doom(reason, RowState::Planned, code, message)
            }
            _ => Verdict::Refused(code, message),
        },
        core::Error::Protocol { return_msg } => Verdict::Doom(
            StopReason::Refused {
                code: "return_code_fail".into(),
                message: return_msg.clone(),
            },
            RowState::Planned,
            code,
            message,
        ),
        core::Error::Denied { .. } => {
            Verdict::Doom(StopReason::Denied, RowState::Planned, code, message)
        }
        core::Error::InvalidInput(f) if f.field.starts_with("merchant.") => Verdict::Doom(
            StopReason::Refused {
                code: code.clone(),
                message: message.clone(),
            },
            RowState::Planned,
            code,
            message,
        ),
        core::Error::InvalidInput(_) => Verdict::Refused(code, message),
        core::Error::Transport { .. } => Verdict::NotSent(message),
        // The rest is unknown by the core's rule (handled above); kept total for safety.
        _ => Verdict::Unknown(code, message),
    }
}

/// Consecutive calls that could not even be sent before the run gives up.
const MAX_UNREACHABLE: u32 = 20;

/// What the workers share.
struct Shared {
    journal: Mutex<Journal>,
    limiter: Mutex<RateLimiter>,
    stop: AtomicBool,
    reason: Mutex<Option<StopReason>>,
    calls: AtomicU64,
    throttles: AtomicU64,
    unreachable: AtomicU32,
    settings: RunSettings,
    stock_id: String,
    merchant: core::Merchant,
    options: CallOptions,
    events: Box<dyn Fn(&Event) + Send + Sync>,
}

impl Shared {
    fn journal(&self) -> std::sync::MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops the run for `reason` (the first reason wins).
    fn stop(&self, reason: StopReason) {
        let mut slot = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            (self.events)(&Event::Stopping {
                reason: reason.clone(),
            });
            *slot = Some(reason);
        }
        self.stop.store(true, Ordering::SeqCst);
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Waits for a token of the rate limiter; `false` when the run stops first.
    async fn token(&self) -> bool {
        loop {
            if self.stopping() {
                return false;
            }
            let wait = self
                .limiter
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .try_take(Instant::now());
            match wait {
                None => return true,
                Some(wait) => tokio::time::sleep(wait.min(Duration::from_millis(100))).await,
            }
        }
    }

    fn mark(
        &self,
        row: u64,
        state: RowState,
        coupon: Option<&str>,
        code: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), RunError> {
        self.journal().mark(row, state, coupon, code, error)?;
        (self.events)(&Event::Row {
            row,
            state,
            err_code: code.map(str::to_string),
            coupon_id: coupon.map(str::to_string),
        });
        Ok(())
    }
}

/// Runs the campaign in `journal` until every row is done or the run stops: through
/// `runtime` (whose hooks present the certificate), for `merchant`, `settings` as given.
/// `events` hears of every call; `interrupt` resolving stops the run after the calls in flight.
pub async fn run_campaign(
    journal: Journal,
    runtime: &Runtime,
    merchant: core::Merchant,
    options: CallOptions,
    settings: RunSettings,
    events: impl Fn(&Event) + Send + Sync + 'static,
    interrupt: impl std::future::Future<Output = ()> + Send,
) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let mut journal = journal;
    let info = journal.campaign()?.ok_or(JournalError::Empty)?;
    if info.mch_id != merchant.mch_id {
        return Err(RunError::Merchant {
            journal: info.mch_id,
            settings: merchant.mch_id,
        });
    }
    let recovered = journal.recover()?;
    let counts = journal.counts()?;
    let pending = counts.get(RowState::Planned) + counts.get(RowState::Unknown);
    events(&Event::Started {
        total: counts.total(),
        pending,
        recovered,
    });
    let workers = settings.concurrency.max(1);
    let shared = Arc::new(Shared {
        journal: Mutex::new(journal),
        limiter: Mutex::new(RateLimiter::new(settings.rate_per_second, Instant::now())),
        stop: AtomicBool::new(false),
        reason: Mutex::new(None),
        calls: AtomicU64::new(0),
        throttles: AtomicU64::new(0),
        unreachable: AtomicU32::new(0),
        settings,
        stock_id: info.stock_id,
        merchant,
        options,
        events: Box::new(events),
    });

    let (rows_tx, rows_rx) = tokio::sync::mpsc::channel::<Recipient>(workers * 4);
    let rows_rx = Arc::new(tokio::sync::Mutex::new(rows_rx));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let session = runtime
            .session()
            .await
            .map_err(|e| RunError::Component(format!("{e:#}")))?;
        let (shared, rows, runtime) = (shared.clone(), rows_rx.clone(), runtime.clone());
        tasks.spawn(async move { worker(shared, rows, runtime, session).await });
    }
    // Only the workers hold the receiver: once they are all gone, sending fails at once.
    drop(rows_rx);

    // The dispatcher: pages of pending rows, in plan order, until none is left or the run stops.
    let dispatch = {
        let shared = shared.clone();
        async move {
            let mut after = 0;
            'pages: while !shared.stopping() {
                let page = shared.journal().pending(after, 256)?;
                if page.is_empty() {
                    break;
                }
                for row in page {
                    after = row.row;
                    // A full queue waits for a worker, but never past a stop: workers that
                    // stopped take nothing more.
                    let mut row = row;
                    loop {
                        if shared.stopping() {
                            break 'pages;
                        }
                        match rows_tx.try_send(row) {
                            Ok(()) => break,
                            Err(tokio::sync::mpsc::error::TrySendError::Full(back)) => {
                                row = back;
                                tokio::time::sleep(Duration::from_millis(2)).await;
                            }
                            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => break 'pages,
                        }
                    }
                }
            }
            drop(rows_tx);
            Ok::<(), RunError>(())
        }
    };
    let interrupted = {
        let shared = shared.clone();
        async move {
            interrupt.await;
            shared.stop(StopReason::Interrupted);
        }
    };
    tokio::pin!(interrupted);
    // `interrupted` is polled until it fires, never after.
    let mut interrupt_pending = true;
    let dispatched = tokio::select! {
        r = dispatch => r,
        _ = &mut interrupted => {
            interrupt_pending = false;
            Ok(())
        }
    };
    // Workers finish their calls; an interrupt while they do still stops them taking more.
    let mut first_error = dispatched.err();
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                None => break,
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(e))) => { first_error.get_or_insert(e); shared.stop(StopReason::Interrupted); }
                Some(Err(e)) => { first_error.get_or_insert(RunError::Component(e.to_string())); }
            },
            _ = &mut interrupted, if interrupt_pending => interrupt_pending = false,
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let counts = shared.journal().counts()?;
    let stopped = shared
        .reason
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Ok(RunSummary {
        counts,
        stopped,
        calls: shared.calls.load(Ordering::Relaxed),
        throttles: shared.throttles.load(Ordering::Relaxed),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// One worker: takes rows until there are none or the run stops; one call at a time.
async fn worker(
    shared: Arc<Shared>,
    rows: Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Recipient>>>,
    runtime: Runtime,
    mut session: crate::runtime::Session,
) -> Result<(), RunError> {
    loop {
        if shared.stopping() {
            return Ok(());
        }
        let Some(row) = rows.lock().await.recv().await else {
            return Ok(());
        };
        issue(&shared, &runtime, &mut session, row).await?;
    }
}

/// Calls for one row until it is settled for this run.
async fn issue(
    shared: &Shared,
    runtime: &Runtime,
    session: &mut crate::runtime::Session,
    row: Recipient,
) -> Result<(), RunError> {
    let request = core::SendCouponRequest {
        coupon_stock_id: shared.stock_id.clone(),
        openid: row.openid.clone(),
        partner_trade_no: row.partner_trade_no.clone(),
        options: core::CommonOptions::default(),
    };
    // This run's calls for the row (the journal counts them over every run).
    let mut attempts = 0;
    let mut pause = shared.settings.retry_pause;
    loop {
        if !shared.token().await {
            return Ok(()); // stopped before the call: the row stays as it is
        }
        shared.journal().mark_sending(row.row)?;
        attempts += 1;
        shared.calls.fetch_add(1, Ordering::Relaxed);
        let result = match session
            .send_coupon(&shared.merchant, &request, &shared.options)
            .await
        {
            Ok(result) => result,
            Err(trap) => {
                // The instance failed mid-call: whatever it sent may have arrived. A fresh one
                // carries on.
                *session = runtime
                    .session()
                    .await
                    .map_err(|e| RunError::Component(format!("{e:#}")))?;
                Err(core::Error::Transport {
                    message: format!("the component failed: {trap:#}"),
                    may_have_reached_wechat: true,
                })
            }
        };
        let verdict = match &result {
            Ok(sent) => Verdict::Issued(sent.coupon_id.clone()),
            Err(e) => verdict(e),
        };
        match verdict {
            Verdict::Issued(coupon) => {
                shared.unreachable.store(0, Ordering::Relaxed);
                shared
                    .limiter
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .succeeded();
                return shared.mark(row.row, RowState::Issued, Some(&coupon), None, None);
            }
            Verdict::Refused(code, message) => {
                shared.unreachable.store(0, Ordering::Relaxed);
                return shared.mark(
                    row.row,
                    RowState::Refused,
                    None,
                    Some(&code),
                    Some(&message),
                );
            }
            Verdict::Unknown(code, message) => {
                shared.unreachable.store(0, Ordering::Relaxed);
                shared.mark(
                    row.row,
                    RowState::Unknown,
                    None,
                    Some(&code),
                    Some(&message),
                )?;
                if attempts >= shared.settings.max_attempts || shared.stopping() {
                    return Ok(());
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            Verdict::Throttled(code) => {
                shared.throttles.fetch_add(1, Ordering::Relaxed);
                let rate = {
                    let mut limiter = shared.limiter.lock().unwrap_or_else(|e| e.into_inner());
                    limiter.throttled(Instant::now());
                    limiter.rate()
                };
                (shared.events)(&Event::Throttled {
                    rate_per_second: rate,
                });
                shared.mark(row.row, RowState::Planned, None, Some(&code), None)?;
            }
            Verdict::NotSent(message) => {
                shared.mark(
                    row.row,
                    RowState::Planned,
                    None,
                    Some("TRANSPORT"),
                    Some(&message),
                )?;
                if shared.unreachable.fetch_add(1, Ordering::Relaxed) + 1 >= MAX_UNREACHABLE {
                    shared.stop(StopReason::Unreachable);
                    return Ok(());
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            Verdict::Doom(reason, state, code, message) => {
                shared.mark(row.row, state, None, Some(&code), Some(&message))?;
                shared.stop(reason);
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn business(code: &str) -> core::Error {
        core::Error::Business(core::BusinessError::new(Some(code.into()), None, None))
    }

    #[test]
    fn verdicts_follow_the_core_rule_then_what_dooms_the_list() {
        assert!(
            matches!(verdict(&business("USER_AL_GET_COUPON")), Verdict::Refused(c, _) if c == "USER_AL_GET_COUPON")
        );
        assert!(matches!(
            verdict(&business("FREQ_OVER_LIMIT")),
            Verdict::Throttled(_)
        ));
        assert!(matches!(
            verdict(&business("SYSTEMERROR")),
            Verdict::Unknown(..)
        ));
        assert!(matches!(
            verdict(&business("AL_STOCK_OVER")),
            Verdict::Doom(StopReason::StockExhausted, RowState::Planned, ..)
        ));
        assert!(matches!(
            verdict(&business("STOCK_IS_NOT_VALID")),
            Verdict::Doom(StopReason::StockNotIssuing, RowState::Planned, ..)
        ));
        assert!(matches!(
            verdict(&business("CA_ERROR")),
            Verdict::Doom(StopReason::Refused { .. }, RowState::Planned, ..)
        ));
        assert!(matches!(
            verdict(&core::Error::Signature {
                problem: core::SignatureError::Mismatch
            }),
            Verdict::Doom(StopReason::ResponseSignature, RowState::Unknown, ..)
        ));
        let reset = core::Error::Transport {
            message: "reset".into(),
            may_have_reached_wechat: true,
        };
        assert!(matches!(verdict(&reset), Verdict::Unknown(..)));
        let refused = core::Error::Transport {
            message: "refused".into(),
            may_have_reached_wechat: false,
        };
        assert!(matches!(verdict(&refused), Verdict::NotSent(_)));
        assert!(matches!(
            verdict(&core::Error::UnexpectedStatus { status: 503 }),
            Verdict::Unknown(..)
        ));
    }
}
