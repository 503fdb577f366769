//! `wxcoupon campaign plan|run|status|report`: the campaign library on the command line, with a
//! live progress bar on a terminal, plain lines elsewhere, and JSON events for machines.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Subcommand, ValueEnum};
use wxcoupon::campaign::{
    self, Event, InputFormat, Journal, JournalError, RowState, RunSettings, RunSummary,
};
use wxcoupon::outbound::OutboundClient;
use wxcoupon::Runtime;

use super::{call_options, ConfigArgs, Failure, EXIT_OUTCOME_UNKNOWN, EXIT_REFUSED};

/// The campaign subcommands. (Parsed once per process: the size of `Run`'s settings is no
/// concern.)
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub(crate) enum CampaignCommand {
    /// Read openids (CSV or JSON Lines, a file or - for stdin) into the journal: each gets its
    /// partner_trade_no now; duplicates and lines without a usable openid are reported by line.
    Plan {
        /// The journal (an SQLite file; created if missing, appended to if it is this campaign's).
        #[arg(long)]
        journal: PathBuf,
        /// The stock to issue from.
        #[arg(long)]
        stock_id: String,
        /// The merchant the numbers are for [WXPAY_MCH_ID].
        #[arg(long, env = "WXPAY_MCH_ID")]
        mch_id: String,
        /// The list; - reads stdin.
        input: PathBuf,
        /// How the list is written (default: by its name, else by its first line).
        #[arg(long, value_enum)]
        format: Option<FormatArg>,
        /// Print JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Issue to every planned user (and retry unknown outcomes under their own numbers), at a
    /// set rate; stops by itself when the rest is doomed; run it again to resume.
    Run {
        /// The journal `plan` wrote.
        #[arg(long)]
        journal: PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
        /// Calls in flight at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Calls per second at most; halves on FREQ_OVER_LIMIT and climbs back.
        #[arg(long, default_value_t = 100.0)]
        rate: f64,
        /// Calls at most for one user whose outcome stays unknown (then the next run goes on).
        #[arg(long, default_value_t = 8)]
        max_attempts: u32,
        /// One JSON event per line on stdout instead of the progress display.
        #[arg(long)]
        json: bool,
    },
    /// Counts by state and by err_code.
    Status {
        /// The journal.
        #[arg(long)]
        journal: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Every user with their state, number and coupon id or error.
    Report {
        /// The journal.
        #[arg(long)]
        journal: PathBuf,
        /// CSV or JSON Lines.
        #[arg(long, value_enum, default_value = "csv")]
        format: FormatArg,
        /// Write here instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

#[derive(Copy, Clone, Debug, ValueEnum)]
pub(crate) enum FormatArg {
    Csv,
    #[value(alias = "json")]
    Jsonl,
}

impl From<FormatArg> for InputFormat {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Csv => InputFormat::Csv,
            FormatArg::Jsonl => InputFormat::JsonLines,
        }
    }
}

fn host(e: impl std::fmt::Display) -> Failure {
    Failure::Host(anyhow::anyhow!("{e}"))
}

/// Runs one campaign subcommand; the string is what to print on stdout.
pub(crate) async fn execute(
    runtime: &Runtime,
    command: CampaignCommand,
) -> Result<String, Failure> {
    match command {
        CampaignCommand::Plan {
            journal,
            stock_id,
            mch_id,
            input,
            format,
            json,
        } => {
            let mut journal = Journal::open(&journal).map_err(host)?;
            let from_stdin = input.as_os_str() == "-";
            let mut reader: Box<dyn BufRead> = if from_stdin {
                Box::new(std::io::BufReader::new(std::io::stdin()))
            } else {
                Box::new(std::io::BufReader::new(
                    std::fs::File::open(&input)
                        .map_err(|e| host(format!("{}: {e}", input.display())))?,
                ))
            };
            let format = match format {
                Some(f) => f.into(),
                None => {
                    let first = reader.fill_buf().map_err(host)?;
                    let first =
                        String::from_utf8_lossy(&first[..first.len().min(256)]).into_owned();
                    let name = (!from_stdin).then(|| input.display().to_string());
                    InputFormat::detect(name.as_deref(), &first)
                }
            };
            let report = campaign::plan(&mut journal, &stock_id, &mch_id, reader, format, || {
                new_prefix(&mch_id)
            })
            .map_err(host)?;
            let counts = journal.counts().map_err(host)?;
            if json {
                return Ok(serde_json::json!({"plan": report, "counts": counts}).to_string());
            }
            let mut out = format!(
                "planned {} users ({} in the journal); {} duplicates and {} lines without a usable openid not planned",
                report.added,
                counts.total(),
                report.duplicates,
                report.invalid
            );
            for p in &report.problems {
                out.push_str(&format!("\n  line {}: {} ({})", p.line, p.problem, p.text));
            }
            if report.duplicates + report.invalid > report.problems.len() as u64 {
                out.push_str("\n  … every problem: wxcoupon campaign status --json");
            }
            Ok(out)
        }
        CampaignCommand::Run {
            journal,
            config,
            concurrency,
            rate,
            max_attempts,
            json,
        } => {
            let config = config.load()?;
            let journal = Journal::open(&journal).map_err(host)?;
            let outbound = OutboundClient::new(config.outbound())
                .map_err(|e| anyhow::anyhow!("cannot set up the HTTPS client: {e}"))?;
            let runtime = runtime
                .clone()
                .with_hooks(Arc::new(move || Box::new(outbound.hooks())));
            let settings = RunSettings {
                concurrency,
                rate_per_second: rate,
                max_attempts,
                ..RunSettings::default()
            };
            let display = Display::new(json);
            let events = {
                let display = display.clone();
                move |event: &Event| display.event(event)
            };
            let summary = campaign::run_campaign(
                journal,
                &runtime,
                config.merchant(),
                call_options(&config),
                settings,
                events,
                wxcoupon::serve::shutdown_signal(),
            )
            .await
            .map_err(host)?;
            display.finish(&summary);
            finished(summary, json)
        }
        CampaignCommand::Status { journal, json } => {
            let journal = Journal::open(&journal).map_err(host)?;
            let info = journal.campaign().map_err(host)?;
            let counts = journal.counts().map_err(host)?;
            if json {
                let problems = journal.problems().map_err(host)?;
                return Ok(
                    serde_json::json!({"campaign": info, "counts": counts, "problems": problems})
                        .to_string(),
                );
            }
            let Some(info) = info else {
                return Err(host("nothing planned in this journal yet"));
            };
            Ok(format!(
                "stock {} of merchant {}\n{}",
                info.stock_id,
                info.mch_id,
                table(&counts)
            ))
        }
        CampaignCommand::Report {
            journal,
            format,
            output,
        } => {
            let journal = Journal::open(&journal).map_err(host)?;
            let mut out: Box<dyn Write> = match &output {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .map_err(|e| host(format!("{}: {e}", path.display())))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            if let FormatArg::Csv = format {
                writeln!(
                    out,
                    "row,line,openid,partner_trade_no,state,coupon_id,err_code,attempts"
                )
                .map_err(host)?;
            }
            journal
                .each_recipient(|r| match format {
                    FormatArg::Csv => writeln!(
                        out,
                        "{},{},{},{},{},{},{},{}",
                        r.row,
                        r.line,
                        r.openid,
                        r.partner_trade_no,
                        r.state.name(),
                        r.coupon_id.as_deref().unwrap_or(""),
                        r.err_code.as_deref().unwrap_or(""),
                        r.attempts
                    ),
                    FormatArg::Jsonl => {
                        writeln!(out, "{}", serde_json::to_string(&r).unwrap_or_default())
                    }
                })
                .or_else(quiet_broken_pipe)?;
            out.flush()
                .or_else(|e| quiet_broken_pipe(JournalError::Write(e)))?;
            Ok(String::new())
        }
    }
}

/// A reader that stopped reading (`report | head`) is no error.
fn quiet_broken_pipe(e: JournalError) -> Result<(), Failure> {
    match &e {
        JournalError::Write(io) if io.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        _ => Err(host(e)),
    }
}

/// A new campaign's key prefix from the wall clock and the system's secure random source.
fn new_prefix(mch_id: &str) -> String {
    let random = rustls::crypto::ring::default_provider().secure_random;
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    campaign::key_prefix(mch_id, seconds, || {
        let mut bytes = [0u8; 8];
        random
            .fill(&mut bytes)
            .expect("the system's secure random source");
        u64::from_le_bytes(bytes)
    })
}

/// Counts as a small table.
fn table(counts: &campaign::Counts) -> String {
    let mut out = String::new();
    for state in RowState::ALL {
        out.push_str(&format!("{:>9}  {}\n", counts.get(state), state.name()));
    }
    for (code, n) in &counts.refused_by_code {
        out.push_str(&format!("{n:>9}  refused {code}\n"));
    }
    for (code, n) in &counts.unknown_by_code {
        out.push_str(&format!("{n:>9}  unknown ({code})\n"));
    }
    out.push_str(&format!("{:>9}  input lines not planned", counts.problems));
    out
}

/// The run's outcome as output and exit code: 0 when every user is issued or refused for
/// good, 4 when unknown rows remain, 1 when the run stopped early for a reason that dooms the rest.
fn finished(summary: RunSummary, json: bool) -> Result<String, Failure> {
    let unknown = summary.counts.get(RowState::Unknown) + summary.counts.get(RowState::Sending);
    let text = match json {
        true => serde_json::json!({"event": "finished", "summary": summary}).to_string(),
        false => format!(
            "{} calls in {:.1} s ({} throttled)\n{}",
            summary.calls,
            summary.seconds,
            summary.throttles,
            table(&summary.counts)
        ),
    };
    match (&summary.stopped, unknown) {
        (Some(reason), _) if *reason != campaign::StopReason::Interrupted => {
            Err(Failure::Campaign(text, format!("the run stopped: {}", reason.describe()), EXIT_REFUSED))
        }
        (_, n) if n > 0 => Err(Failure::Campaign(
            text,
            format!("{n} users' outcome is still unknown: run again to retry them under their own numbers"),
            EXIT_OUTCOME_UNKNOWN,
        )),
        (Some(_), _) => Err(Failure::Campaign(text, "interrupted: run again to go on".into(), 130)),
        _ => Ok(text),
    }
}

/// Where progress goes: a bar on a terminal, a line every few seconds elsewhere, or JSON events.
#[derive(Clone)]
struct Display {
    inner: Arc<Mutex<DisplayState>>,
}

struct DisplayState {
    json: bool,
    bar: Option<indicatif::ProgressBar>,
    started: Instant,
    last_line: Instant,
    total: u64,
    pending: u64,
    done: u64,
    issued: u64,
    unknown: u64,
    refused: std::collections::BTreeMap<String, u64>,
    rate: Option<f64>,
}

impl Display {
    fn new(json: bool) -> Display {
        let now = Instant::now();
        Display {
            inner: Arc::new(Mutex::new(DisplayState {
                json,
                bar: None,
                started: now,
                last_line: now,
                total: 0,
                pending: 0,
                done: 0,
                issued: 0,
                unknown: 0,
                refused: Default::default(),
                rate: None,
            })),
        }
    }

    fn event(&self, event: &Event) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if s.json {
            if let Ok(line) = serde_json::to_string(event) {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
            }
            return;
        }
        match event {
            Event::Started {
                total,
                pending,
                recovered,
            } => {
                s.total = *total;
                s.pending = *pending;
                if std::io::stderr().is_terminal() {
                    let bar = indicatif::ProgressBar::new(*pending);
                    bar.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{bar:30} {pos}/{len} {per_sec} eta {eta} {msg}",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                    );
                    s.bar = Some(bar);
                } else {
                    eprintln!("campaign: {pending} of {total} users to go ({recovered} in flight when the last run ended)");
                }
            }
            Event::Row {
                state, err_code, ..
            } => {
                match state {
                    RowState::Issued => {
                        s.done += 1;
                        s.issued += 1;
                    }
                    RowState::Refused => {
                        s.done += 1;
                        *s.refused
                            .entry(err_code.clone().unwrap_or_default())
                            .or_default() += 1;
                    }
                    RowState::Unknown => s.unknown += 1,
                    _ => {}
                }
                let message = s.message();
                if let Some(bar) = &s.bar {
                    bar.set_position(s.done);
                    bar.set_message(message);
                } else if s.last_line.elapsed() >= Duration::from_secs(2) {
                    s.last_line = Instant::now();
                    let rate = s.done as f64 / s.started.elapsed().as_secs_f64().max(0.001);
                    eprintln!(
                        "campaign: {}/{} done, {rate:.0}/s, {message}",
                        s.done, s.pending
                    );
                }
            }
            Event::Throttled { rate_per_second } => s.rate = Some(*rate_per_second),
            Event::Stopping { reason } => {
                let line = format!("campaign: stopping: {}", reason.describe());
                match &s.bar {
                    Some(bar) => bar.println(line),
                    None => eprintln!("{line}"),
                }
            }
        }
    }

    fn finish(&self, _summary: &RunSummary) {
        let s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bar) = &s.bar {
            bar.finish_and_clear();
        }
    }
}

impl DisplayState {
    fn message(&self) -> String {
        let mut m = format!("issued {}", self.issued);
        for (code, n) in &self.refused {
            m.push_str(&format!(" · {code} {n}"));
        }
        if self.unknown > 0 {
            m.push_str(&format!(" · unknown retried {}", self.unknown));
        }
        if let Some(rate) = self.rate {
            m.push_str(&format!(" · throttled to {rate:.0}/s"));
        }
        m
    }
}
