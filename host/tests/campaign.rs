//! `wxcoupon campaign` end to end: the binary against the simulator this test starts, killed with
//! SIGKILL at random points and resumed, under faults, against a stock that runs out, and against
//! WeChat's rate limit. Every check counts coupons at the simulator: every planned user holds
//! exactly one, the journal's `issued` rows are exactly the simulator's coupons, and no number
//! was used for two users.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::Scratch;
use wxcoupon::campaign::{Journal, RowState};
use wxcoupon_simulator::{
    CertFile, Endpoint, Faults, RunningSimulator, Simulator, SimulatorConfig, StockSeed,
};

mod common;

const KEY: &str = "192006250b4c09247ec02edce69f6a2d";

/// The simulator with one stock `9001` of `total` coupons and no per-user limit (a second
/// coupon for a user would be accepted, so a doubled issuance shows).
async fn simulator(dir: &Path, total: u64, per_second: Option<u32>) -> RunningSimulator {
    Simulator::start(SimulatorConfig {
        cert_dir: Some(dir.join("certs")),
        stocks: vec![StockSeed {
            coupon_stock_id: "9001".into(),
            coupon_name: "campaign".into(),
            coupon_total: total,
            max_quota: 0,
            ..StockSeed::default()
        }],
        send_coupon_per_second: per_second,
        ..SimulatorConfig::default()
    })
    .await
    .expect("start the simulator")
}

/// A scratch directory, the simulator (a stock of `total`, at most `per_second` issuances a
/// second) and a journal with `users` planned.
async fn planned(
    label: &str,
    total: u64,
    per_second: Option<u32>,
    users: usize,
) -> (Scratch, RunningSimulator, PathBuf) {
    let scratch = Scratch::new(label);
    let sim = simulator(&scratch.0, total, per_second).await;
    let journal = scratch.0.join("journal.sqlite");
    plan(&sim, &scratch.0, &journal, users);
    (scratch, sim, journal)
}

fn wxcoupon(sim: &RunningSimulator, args: &[&str]) -> Command {
    let path = |f| sim.cert_path(f).unwrap().display().to_string();
    let mut command = Command::new(env!("CARGO_BIN_EXE_wxcoupon"));
    command
        .args(args)
        .env_clear()
        .env("WXPAY_API_KEY", KEY)
        .env("WXPAY_APPID", "wx5edab3bdfba3dc1c")
        .env("WXPAY_MCH_ID", "10000098")
        .env("WXPAY_BASE_URL", sim.https_base_url())
        .env("WXPAY_CERT_FILE", path(CertFile::ClientCert))
        .env("WXPAY_KEY_FILE", path(CertFile::ClientKey))
        .env("WXPAY_CA_FILE", path(CertFile::Ca))
        .env("WXPAY_FIRST_BYTE_TIMEOUT_MS", "500")
        .stdin(Stdio::null());
    command
}

fn output(mut command: Command) -> Output {
    let out = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run wxcoupon");
    out
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Plans `users` openids `o-camp-00001`… into `journal`.
fn plan(sim: &RunningSimulator, dir: &Path, journal: &Path, users: usize) {
    let list = dir.join("users.csv");
    let mut csv = String::from("openid\n");
    for i in 1..=users {
        csv.push_str(&format!("o-camp-{i:05}\n"));
    }
    std::fs::write(&list, csv).unwrap();
    let out = output(wxcoupon(
        sim,
        &[
            "campaign",
            "plan",
            "--journal",
            journal.to_str().unwrap(),
            "--stock-id",
            "9001",
            list.to_str().unwrap(),
            "--json",
        ],
    ));
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["plan"]["added"], users as u64, "{report}");
}

fn run_command(sim: &RunningSimulator, journal: &Path, extra: &[&str]) -> Command {
    let mut args = vec![
        "campaign",
        "run",
        "--journal",
        journal.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    let mut command = wxcoupon(sim, &args);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    command
}

/// What the simulator and the journal hold, checked against each other: one coupon per user at
/// most, each number for one user only, the journal's issued rows exactly the simulator's
/// coupons. Returns (coupons at the simulator, journal counts by state).
fn reconcile(sim: &RunningSimulator, journal: &Path) -> (usize, BTreeMap<RowState, u64>) {
    let mut by_user: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut by_number: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for coupon in sim.coupons() {
        by_user
            .entry(coupon.openid.clone())
            .or_default()
            .push(coupon.coupon_id.clone());
        by_number
            .entry(coupon.partner_trade_no.clone())
            .or_default()
            .insert(coupon.openid.clone());
    }
    for (user, coupons) in &by_user {
        assert_eq!(coupons.len(), 1, "{user} holds {coupons:?}");
    }
    for (number, users) in &by_number {
        assert_eq!(users.len(), 1, "number {number} used for {users:?}");
    }
    let journal = Journal::open(journal).unwrap();
    let mut numbers = BTreeSet::new();
    journal
        .each_recipient(|r| {
            assert!(
                numbers.insert(r.partner_trade_no.clone()),
                "number twice in the plan"
            );
            match by_user.get(&r.openid) {
                Some(coupons) if r.state == RowState::Issued => {
                    assert_eq!(r.coupon_id.as_deref(), Some(coupons[0].as_str()), "{r:?}");
                }
                Some(_) => assert!(
                    matches!(r.state, RowState::Unknown | RowState::Sending),
                    "{r:?} holds a coupon the journal does not know as issued"
                ),
                None => assert_ne!(r.state, RowState::Issued, "{r:?}: no such coupon"),
            }
            Ok(())
        })
        .unwrap();
    (sim.coupons().len(), journal.counts().unwrap().by_state)
}

/// A small pseudo-random sequence; the seed is printed so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

/// Runs the campaign to its end (fast), which must succeed; then [`reconcile`].
fn finish(sim: &RunningSimulator, journal: &Path) -> (usize, BTreeMap<RowState, u64>) {
    let out = output(run_command(
        sim,
        journal,
        &["--rate", "3000", "--concurrency", "16"],
    ));
    assert!(out.status.success(), "{}", text(&out));
    reconcile(sim, journal)
}

/// Waits (at most 60 s) until the simulator holds more than `before` coupons: a run started
/// as a child has begun issuing. Timing a kill or a signal from here rather than from the spawn
/// keeps the tests independent of how long the CLI takes to start (it compiles the component
/// first, which on a loaded machine takes seconds).
async fn issuing_began(sim: &RunningSimulator, before: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while sim.coupons().len() <= before && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn kill(mut child: Child) {
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_points_and_resumed_every_user_gets_exactly_one_coupon() {
    const USERS: usize = 3000;
    let (_scratch, sim, journal) = planned("crash", 10_000, None, USERS).await;

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("crash test seed {seed}");
    let mut random = Lcg(seed);
    let mut kills = 0;
    let mut mid_run = 0;
    for _ in 0..8 {
        // Slow enough (3000 users at 1200/s) that most kills land mid-run.
        let before = sim.coupons().len();
        let child = tokio::task::block_in_place(|| {
            run_command(&sim, &journal, &["--rate", "1200", "--concurrency", "16"])
                .spawn()
                .unwrap()
        });
        issuing_began(&sim, before).await;
        tokio::time::sleep(Duration::from_millis(random.next(700))).await;
        tokio::task::block_in_place(|| kill(child));
        kills += 1;
        // After every kill: nothing doubled, nothing the journal does not know of.
        let (issued, _) = tokio::task::block_in_place(|| reconcile(&sim, &journal));
        eprintln!("killed after {issued} coupons");
        if issued == USERS {
            break;
        }
        if issued > 0 {
            mid_run += 1;
        }
    }
    assert!(
        mid_run >= 3,
        "only {mid_run} kills landed mid-run (seed {seed})"
    );
    let (issued, states) = tokio::task::block_in_place(|| finish(&sim, &journal));
    assert_eq!(issued, USERS, "after {kills} kills");
    assert_eq!(
        states.get(&RowState::Issued).copied(),
        Some(USERS as u64),
        "{states:?}"
    );
    assert_eq!(sim.stock("9001").unwrap().is_send_num, USERS as u64);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_during_a_run_end_in_issued_never_in_a_second_coupon() {
    const USERS: usize = 400;
    let (_scratch, sim, journal) = planned("faults", 10_000, None, USERS).await;
    let child = tokio::task::block_in_place(|| {
        run_command(&sim, &journal, &["--rate", "2000", "--concurrency", "8"])
            .spawn()
            .unwrap()
    });
    // Resets after the request was read, 5xx, answers past the first-byte timeout (issued at
    // WeChat), truncated bodies: a few of each, in turn, while the run goes on.
    let cycle = [
        Faults {
            reset_connection: true,
            ..Faults::default()
        },
        Faults {
            status: Some(503),
            ..Faults::default()
        },
        Faults {
            latency_ms: 800,
            ..Faults::default()
        },
        Faults {
            truncated_body: true,
            ..Faults::default()
        },
    ];
    let mut armed = 0;
    let mut child = child;
    let started = Instant::now();
    while armed < cycle.len() * 3 && started.elapsed() < Duration::from_secs(60) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if sim.faults().is_empty() {
            sim.set_faults(Faults {
                only: Some(Endpoint::SendCoupon),
                times: Some(5),
                ..cycle[armed % cycle.len()].clone()
            })
            .unwrap();
            armed += 1;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let status = tokio::task::block_in_place(|| child.wait().unwrap());
    sim.clear_faults();
    assert!(armed >= cycle.len(), "only {armed} faults fired");
    // Unknown outcomes were retried in the run; anything still unknown, a second run settles.
    if !status.success() {
        assert_eq!(
            status.code(),
            Some(4),
            "unknown rows left is the only acceptable end"
        );
        let out = tokio::task::block_in_place(|| output(run_command(&sim, &journal, &[])));
        assert!(out.status.success(), "{}", text(&out));
    }
    let (issued, states) = tokio::task::block_in_place(|| reconcile(&sim, &journal));
    assert_eq!(issued, USERS);
    assert_eq!(
        states.get(&RowState::Issued).copied(),
        Some(USERS as u64),
        "{states:?}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_that_runs_out_stops_the_run_with_the_rest_planned() {
    let (_scratch, sim, journal) = planned("exhausted", 50, None, 80).await;
    let mut run = wxcoupon(
        &sim,
        &["campaign", "run", "--journal", journal.to_str().unwrap()],
    );
    run.args(["--concurrency", "1"]);
    let out = tokio::task::block_in_place(|| output(run));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the stock is exhausted (AL_STOCK_OVER)"),
        "{}",
        text(&out)
    );
    let (issued, states) = tokio::task::block_in_place(|| reconcile(&sim, &journal));
    assert_eq!(issued, 50);
    assert_eq!(states.get(&RowState::Issued).copied(), Some(50));
    assert_eq!(
        states.get(&RowState::Planned).copied(),
        Some(30),
        "{states:?}"
    );
    // The status command says the same.
    let status = tokio::task::block_in_place(|| {
        output(wxcoupon(
            &sim,
            &[
                "campaign",
                "status",
                "--journal",
                journal.to_str().unwrap(),
                "--json",
            ],
        ))
    });
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["counts"]["by_state"]["planned"], 30, "{status}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_slows_the_run_down_instead_of_failing_it() {
    const USERS: usize = 150;
    // WeChat allows 40 a second; the run asks for 400.
    let (_scratch, sim, journal) = planned("throttled", 10_000, Some(40), USERS).await;
    let mut run = wxcoupon(
        &sim,
        &[
            "campaign",
            "run",
            "--journal",
            journal.to_str().unwrap(),
            "--json",
            "--rate",
            "400",
            "--concurrency",
            "8",
        ],
    );
    run.env("WXPAY_FIRST_BYTE_TIMEOUT_MS", "5000");
    let out = tokio::task::block_in_place(|| output(run));
    assert!(out.status.success(), "{}", text(&out));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let throttled = events.iter().filter(|e| e["event"] == "throttled").count();
    assert!(throttled > 0, "WeChat's limit was never hit");
    let finished = events.last().unwrap();
    assert_eq!(finished["event"], "finished");
    assert!(finished["summary"]["throttles"].as_u64().unwrap() > 0);
    let (issued, _) = tokio::task::block_in_place(|| reconcile(&sim, &journal));
    assert_eq!(issued, USERS);
    // A report lists every user with its coupon.
    let report = tokio::task::block_in_place(|| {
        output(wxcoupon(
            &sim,
            &["campaign", "report", "--journal", journal.to_str().unwrap()],
        ))
    });
    let csv = String::from_utf8_lossy(&report.stdout);
    assert_eq!(csv.lines().count(), USERS + 1);
    assert!(csv.starts_with("row,line,openid,partner_trade_no,state,coupon_id,err_code,attempts\n"));
    assert!(csv.lines().skip(1).all(|l| l.contains(",issued,")), "{csv}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_after_the_calls_in_flight_and_the_next_run_finishes() {
    const USERS: usize = 2000;
    let (_scratch, sim, journal) = planned("sigint", 10_000, None, USERS).await;
    let mut command = run_command(&sim, &journal, &["--rate", "500", "--concurrency", "8"]);
    command.stderr(Stdio::piped());
    let child = tokio::task::block_in_place(|| command.spawn().unwrap());
    issuing_began(&sim, 0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let interrupt = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupt.success());
    let out = tokio::task::block_in_place(|| child.wait_with_output().unwrap());
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("interrupted"),
        "{}",
        text(&out)
    );
    let (issued, states) = tokio::task::block_in_place(|| reconcile(&sim, &journal));
    assert!(issued > 0 && issued < USERS, "{issued}");
    // Stopped cleanly: nothing was left in flight.
    assert_eq!(states.get(&RowState::Sending), None, "{states:?}");
    assert_eq!(states.get(&RowState::Issued).copied(), Some(issued as u64));
    let (issued, _) = tokio::task::block_in_place(|| finish(&sim, &journal));
    assert_eq!(issued, USERS);
    sim.shutdown().await;
}

/// `--max-attempts` bounds the calls of one run: a user still unknown after them is retried by
/// the next run (as the run's own message says), not skipped for good because the journal has
/// counted that many attempts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_left_unknown_after_max_attempts_is_retried_by_the_next_run() {
    let (_scratch, sim, journal) = planned("max-attempts", 10, None, 1).await;
    sim.set_faults(Faults {
        only: Some(Endpoint::SendCoupon),
        times: Some(2),
        reset_connection: true,
        ..Faults::default()
    })
    .unwrap();
    let first = tokio::task::block_in_place(|| {
        output(run_command(&sim, &journal, &["--max-attempts", "2"]))
    });
    assert_eq!(first.status.code(), Some(4), "{}", text(&first));
    assert!(sim.faults().is_empty(), "both resets were used");
    let (issued, states) = tokio::task::block_in_place(|| reconcile(&sim, &journal));
    assert_eq!(
        (issued, states.get(&RowState::Unknown).copied()),
        (0, Some(1))
    );

    let second = tokio::task::block_in_place(|| {
        output(run_command(&sim, &journal, &["--max-attempts", "2"]))
    });
    assert!(second.status.success(), "{}", text(&second));
    let (issued, states) = tokio::task::block_in_place(|| reconcile(&sim, &journal));
    assert_eq!(issued, 1);
    assert_eq!(
        states.get(&RowState::Issued).copied(),
        Some(1),
        "{states:?}"
    );
    sim.shutdown().await;
}
