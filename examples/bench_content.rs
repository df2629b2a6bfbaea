//! Benchmark of the content engine (run by `bench/content.sh`):
//! 1. rule evaluation: 100,000 accounts × a 10-condition rule;
//! 2. template selection + rendering of personalised emails with the shipped library, on one
//!    core and on all cores.
//!
//! usage: cargo run --release --example bench_content [ACCOUNTS] [EMAILS]

use std::time::Instant;

use abm::content::context::samples;
use abm::content::render::Library;
use abm::content::{Channel, Purpose, load_dir, locale_chain, select};
use abm::segments::rules::{Compiled, FactValue, Facts, Rule};
use rand::{Rng, SeedableRng};

/// The allocator the service uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One recipient: the facts for selection, the render context and the locales to try.
type Recipient = (
    Facts,
    abm::content::context::Context,
    Vec<(String, &'static str)>,
);

const RULE: &str = "abc in (A, B) and xyz != Z and days_since_last_order > 90 \
    and has_role(decision_maker) and revenue between 1000 and 500000 and lost = false \
    and types contains pillar and industry exists and last_order_at within_days 365 \
    and not region = North";

fn facts(i: usize, rng: &mut rand_chacha::ChaCha8Rng) -> Facts {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 27).expect("date");
    let mut f = Facts::new(today);
    f.set(
        "abc",
        Some(["A", "B", "C"][rng.random_range(0..3)].to_string()),
    );
    f.set(
        "xyz",
        Some(["X", "Y", "Z"][rng.random_range(0..3)].to_string()),
    );
    f.set(
        "days_since_last_order",
        Some(f64::from(rng.random_range(0..400))),
    );
    f.set("revenue", Some(rng.random_range(0.0..1_000_000.0)));
    f.set("lost", rng.random_bool(0.2));
    let mut types = Vec::new();
    if rng.random_bool(0.7) {
        types.push("pillar".to_string());
    }
    f.set("types", FactValue::List(types));
    f.set("industry", Some(format!("Industry {}", i % 20)));
    f.set(
        "region",
        Some(["North", "South", "Central"][i % 3].to_string()),
    );
    f.set(
        "last_order_at",
        Some(today - chrono::Days::new(rng.random_range(0..500))),
    );
    if rng.random_bool(0.8) {
        f.roles.push("decision_maker".into());
    }
    f
}

fn main() {
    let mut args = std::env::args().skip(1);
    let accounts: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let emails: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);

    // 1. Rules.
    let all: Vec<Facts> = (0..accounts).map(|i| facts(i, &mut rng)).collect();
    let rule = Rule::parse_text(RULE).expect("rule");
    assert_eq!(rule.conditions(), 10);
    let started = Instant::now();
    let compiled = Compiled::new(&rule);
    let mut best = f64::MAX;
    let mut matched = 0;
    for _ in 0..5 {
        let t = Instant::now();
        matched = all.iter().filter(|f| compiled.matches(f)).count();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "rules: {accounts} accounts × 10 conditions: {:.1} ms (best of 5; {matched} match; compile+5 runs {:.1} ms)",
        best * 1000.0,
        started.elapsed().as_secs_f64() * 1000.0
    );

    // 2. Selection + rendering with the shipped library.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let loaded = load_dir(&dir);
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    let (lib, problems) = Library::build(loaded.templates, &loaded.partials);
    assert!(problems.is_empty(), "{problems:?}");
    // 1,000 different recipients: names, languages, classes, offers.
    let people: Vec<Recipient> = (0..1000)
        .map(|i| {
            let vi = i % 2 == 0;
            let (_, mut ctx) = samples(if vi { "vi" } else { "en" }).remove(i % 2);
            ctx.account.name = format!("Account {i} <Co>");
            ctx.account.currency = if vi { "VND".into() } else { "USD".into() };
            ctx.analytics.revenue = rng.random_range(1_000..1_000_000_000);
            let f = &all[i];
            let mut facts = f.clone();
            if i % 3 == 0 {
                facts.set("offer.kind", Some("discount".to_string()));
            }
            let locales = locale_chain(Some(if vi { "vi" } else { "en" }), None, "en");
            (facts, ctx, locales)
        })
        .collect();
    let purposes = [Purpose::Outreach, Purpose::Nurture, Purpose::Winback];
    let run = |range: std::ops::Range<usize>| -> (usize, usize) {
        let (mut sent, mut bytes) = (0, 0);
        for n in range {
            let (facts, ctx, locales) = &people[n % people.len()];
            let purpose = purposes[n % purposes.len()];
            let s = select(
                lib.templates.iter(),
                purpose,
                Channel::Email,
                locales,
                facts,
            );
            if let Some(id) = s.chosen {
                let mut ctx = ctx.clone();
                ctx.locale = lib.get(&id).map(|t| t.locale.clone()).unwrap_or_default();
                let out = lib.render(&id, &ctx).expect("render");
                bytes += out.values().map(String::len).sum::<usize>();
                sent += 1;
            }
        }
        (sent, bytes)
    };
    let t = Instant::now();
    let (sent, bytes) = run(0..emails / 4);
    let one = t.elapsed().as_secs_f64();
    println!(
        "emails, 1 thread: {sent} selected + rendered in {:.2} s = {:.0} emails/s ({} KiB avg {:.1} KiB)",
        one,
        sent as f64 / one,
        bytes / 1024,
        bytes as f64 / sent.max(1) as f64 / 1024.0
    );
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let t = Instant::now();
    let per = emails / threads;
    let total: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                let run = &run;
                s.spawn(move || run(k * per..(k + 1) * per).0)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    let all_t = t.elapsed().as_secs_f64();
    println!(
        "emails, {threads} threads: {total} selected + rendered in {:.2} s = {:.0} emails/s",
        all_t,
        total as f64 / all_t
    );
}
