//! `abm demo`: realistic, deterministic synthetic data. Accounts across industries, regions and
//! timezones, each with a dossier (profile, stakeholders, competitors, relationship history) and
//! two years of orders: a heavy-tailed (Pareto) spread of account value, regular and irregular
//! buyers, accounts that stopped buying, and prospects with a budget but few or no orders.
//!
//! Every account is generated from its own random stream (seed, index), so the same seed and end
//! date always give the same data. Generation runs on a separate thread and overlaps with the
//! batched inserts, which all happen in one transaction.

use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sea_orm::sea_query::{Expr, Func, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, Value};

use crate::clock::Clock;
use crate::config::Settings;
use crate::entities::{
    account, competitor, dossier_profile, manager, order, relationship_event, stakeholder,
};

/// What to generate.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub accounts: u32,
    pub seed: u64,
    /// Last day of the two-year order history.
    pub end: NaiveDate,
    /// Also write the orders as an import/analyze CSV here.
    pub orders_csv: Option<PathBuf>,
}

/// What was generated.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DemoStats {
    pub accounts: u64,
    pub managers: u64,
    pub stakeholders: u64,
    pub orders: u64,
}

/// External ids of demo accounts start with this, so a second run can refuse to mix data.
pub const PREFIX: &str = "DEMO-";

const PLACES: &[(&str, &str, &str, &str)] = &[
    // (region, country, timezone, language)
    ("APAC", "VN", "Asia/Ho_Chi_Minh", "vi"),
    ("APAC", "VN", "Asia/Ho_Chi_Minh", "vi"),
    ("APAC", "SG", "Asia/Singapore", "en"),
    ("APAC", "JP", "Asia/Tokyo", "ja"),
    ("APAC", "AU", "Australia/Sydney", "en"),
    ("EMEA", "DE", "Europe/Berlin", "de"),
    ("EMEA", "FR", "Europe/Paris", "fr"),
    ("EMEA", "GB", "Europe/London", "en"),
    ("EMEA", "AE", "Asia/Dubai", "en"),
    ("Americas", "US", "America/New_York", "en"),
    ("Americas", "US", "America/Los_Angeles", "en"),
    ("Americas", "BR", "America/Sao_Paulo", "pt"),
    ("Americas", "CA", "America/Toronto", "en"),
];

const INDUSTRIES: &[(&str, &str)] = &[
    ("Manufacturing", "Industries"),
    ("Retail", "Retail"),
    ("Logistics", "Logistics"),
    ("Healthcare", "Medical"),
    ("Construction", "Construction"),
    ("Food & Beverage", "Foods"),
    ("Energy", "Energy"),
    ("Telecommunications", "Telecom"),
    ("Financial Services", "Capital"),
    ("Automotive", "Motors"),
    ("Pharmaceuticals", "Pharma"),
    ("Hospitality", "Hospitality"),
];

const NAME_STEMS: &[&str] = &[
    "Saigon",
    "Mekong",
    "Northwind",
    "Blue River",
    "Golden Lotus",
    "Atlas",
    "Summit",
    "Pacific",
    "Red Dragon",
    "Evergreen",
    "Silverline",
    "Orion",
    "Harbor",
    "Apex",
    "Titan",
    "Nova",
    "Horizon",
    "Crescent",
    "Vertex",
    "Hanoi",
    "Danube",
    "Rhine",
    "Sakura",
    "Aurora",
    "Meridian",
    "Keystone",
    "Pioneer",
    "Cobalt",
    "Sterling",
    "Lighthouse",
];

const SUFFIXES: &[&str] = &[
    "Co., Ltd.",
    "JSC",
    "GmbH",
    "Inc.",
    "Pte. Ltd.",
    "S.A.",
    "plc",
    "LLC",
    "Group",
];

const FIRST_NAMES: &[&str] = &[
    "Minh", "Lan", "Huong", "Tuan", "Anh", "Linh", "Quang", "Thao", "Anna", "Ben", "Clara",
    "David", "Emma", "Felix", "Grace", "Hiro", "Isabel", "Jonas", "Keiko", "Lucas", "Maria",
    "Noah", "Olivia", "Paul", "Sophie", "Thomas",
];

const LAST_NAMES: &[&str] = &[
    "Nguyen", "Tran", "Le", "Pham", "Hoang", "Vu", "Dang", "Bui", "Smith", "Müller", "Martin",
    "Tanaka", "Silva", "Brown", "Schmidt", "Dubois", "Sato", "Wilson", "Costa", "Fischer",
];

const TITLES: &[(&str, &str)] = &[
    ("decision_maker", "Chief Executive Officer"),
    ("economic_buyer", "Chief Financial Officer"),
    ("influencer", "Head of Operations"),
    ("champion", "Procurement Manager"),
    ("gatekeeper", "Executive Assistant"),
    ("user", "Plant Engineer"),
    ("influencer", "Chief Technology Officer"),
    ("user", "Warehouse Supervisor"),
];

const COMPETITORS: &[&str] = &[
    "Acme Global",
    "Vertex Supply",
    "Dragon Partners",
    "Nordic Solutions",
    "Bluewave Trading",
    "Sunrise Industrial",
    "Helios Group",
    "Lotus Distribution",
];

const REASONS_WON: &[&str] = &[
    "best total cost",
    "delivery reliability",
    "technical fit",
    "long relationship",
];
const REASONS_LOST: &[&str] = &[
    "price",
    "delivery time",
    "competitor bundle",
    "quality concerns",
    "budget frozen",
];

/// What churned accounts complained about before they left.
const COMPLAINTS: &[&str] = &[
    "late deliveries three times this quarter",
    "quality issue on the last batch",
    "invoice errors not fixed",
    "no answer from support for a week",
    "price increase without notice",
];

/// One account with everything that hangs off it, ready to insert.
struct Bundle {
    account: Vec<Value>,
    external_id: String,
    profile: Vec<Value>,
    stakeholders: Vec<Vec<Value>>,
    competitors: Vec<Vec<Value>>,
    events: Vec<Vec<Value>>,
    /// (ordered_at, amount_minor, margin_minor, offer_code)
    orders: Vec<(DateTime<Utc>, i64, i64, Option<&'static str>)>,
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // Box–Muller; good enough for synthetic data.
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn slug(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if c.is_ascii_alphanumeric() {
                Some(c.to_ascii_lowercase())
            } else if c == ' ' {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

fn ts(day: NaiveDate, rng: &mut ChaCha8Rng) -> DateTime<Utc> {
    let secs = rng.random_range(7 * 3600..18 * 3600);
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default()) + Duration::seconds(secs)
}

#[allow(clippy::too_many_arguments)]
fn make_bundle(
    seed: u64,
    index: u32,
    end: NaiveDate,
    now: DateTime<Utc>,
    managers: u32,
    currency: &str,
    scale: u32,
) -> Bundle {
    let mut rng = ChaCha8Rng::seed_from_u64(
        seed ^ (u64::from(index) << 20).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    let external_id = format!("{PREFIX}{index:06}");
    let (region, country, timezone, language) = *pick(&mut rng, PLACES);
    let (industry, word) = *pick(&mut rng, INDUSTRIES);
    let name = format!(
        "{} {} {}",
        pick(&mut rng, NAME_STEMS),
        word,
        pick(&mut rng, SUFFIXES)
    );
    let domain = format!("{}-{index}.example", slug(&name).trim_end_matches('-'));
    let manager_id = i64::from(rng.random_range(1..=managers));
    let image_maker = rng.random_bool(0.05);
    let expert = rng.random_bool(0.10);
    let pattern: f64 = rng.random();
    let is_prospect = pattern < 0.05;
    let budget = (is_prospect || rng.random_bool(0.05))
        .then(|| rng.random_range(50_000i64..500_000) * i64::from(scale));
    let attributes = serde_json::json!({
        "segment_hint": if rng.random_bool(0.3) { "strategic" } else { "core" },
        "crm_owner_team": format!("team-{}", rng.random_range(1..=8)),
    });
    let account = vec![
        external_id.clone().into(),
        name.clone().into(),
        Some(industry.to_string()).into(),
        Some(region.to_string()).into(),
        Some(country.to_string()).into(),
        timezone.to_string().into(),
        currency.to_string().into(),
        Some(manager_id).into(),
        image_maker.into(),
        expert.into(),
        budget.into(),
        attributes.into(),
        now.into(),
        now.into(),
    ];
    let employees = (rng.random_range(3.0f64..10.0)).exp() as i32;
    let founded = rng.random_range(1950..=2020);
    let profile = vec![
        Some(format!(
            "{name} is a {} company based in {country} ({region}) with about {employees} employees.",
            industry.to_lowercase()
        ))
        .into(),
        Some(employees).into(),
        Some(founded).into(),
        Some(format!("Founded in {founded}; expanded regionally over the last decade.")).into(),
        Some("Board → CEO → business units (operations, finance, procurement, engineering).".to_string()).into(),
        Some(format!("Competitive {} market; margin pressure and digitalisation.", industry.to_lowercase())).into(),
        now.into(),
    ];

    let mut stakeholders = Vec::new();
    let count = rng.random_range(2..=6);
    let has_decision_maker = rng.random_bool(0.9);
    for i in 0..count {
        let (role, title) = if i == 0 && has_decision_maker {
            TITLES[0]
        } else {
            *pick(&mut rng, &TITLES[1..])
        };
        let first = pick(&mut rng, FIRST_NAMES);
        let last = pick(&mut rng, LAST_NAMES);
        let person = format!("{first} {last}");
        let email = format!("{}.{}@{domain}", slug(first), slug(last)).replace('ü', "ue");
        let consent = match rng.random_range(0..20) {
            0 => "withdrawn",
            1..=5 => "unknown",
            _ => "granted",
        };
        let lang = if rng.random_bool(0.85) {
            language
        } else {
            "en"
        };
        stakeholders.push(vec![
            format!("{external_id}-S{i}").into(),
            person.into(),
            Some(title.to_string()).into(),
            Some(email).into(),
            Some(format!(
                "+{}",
                rng.random_range(10_000_000_000u64..99_999_999_999)
            ))
            .into(),
            role.to_string().into(),
            (if role == "decision_maker" {
                5i16
            } else {
                rng.random_range(1i16..=4)
            })
            .into(),
            Some(lang.to_string()).into(),
            consent.to_string().into(),
            now.into(),
            now.into(),
        ]);
    }

    let mut competitors = Vec::new();
    for _ in 0..rng.random_range(0..=3) {
        competitors.push(vec![
            pick(&mut rng, COMPETITORS).to_string().into(),
            Some("Competing product line".to_string()).into(),
            Some(rng.random_range(1i16..=5)).into(),
            None::<String>.into(),
            now.into(),
            now.into(),
        ]);
    }

    let start = end - Duration::days(729);
    let mut events = Vec::new();
    for _ in 0..rng.random_range(1..=5) {
        let day = start + Duration::days(rng.random_range(0..730));
        let kind = *pick(
            &mut rng,
            &["delivery", "tender", "meeting", "proposal", "complaint"],
        );
        let (outcome, reason) = match kind {
            "tender" | "proposal" => match rng.random_range(0..3) {
                0 => (Some("won"), Some(*pick(&mut rng, REASONS_WON))),
                1 => (Some("lost"), Some(*pick(&mut rng, REASONS_LOST))),
                _ => (Some("pending"), None),
            },
            _ => (None, None),
        };
        events.push(vec![
            kind.to_string().into(),
            day.into(),
            Some(rng.random_range(1_000i64..200_000) * 100 * i64::from(scale)).into(),
            outcome.map(str::to_string).into(),
            reason.map(str::to_string).into(),
            None::<String>.into(),
            now.into(),
            now.into(),
        ]);
    }

    // Orders: Pareto-distributed account value, then a buying pattern.
    let mut orders = Vec::new();
    let mut churn_stop: Option<NaiveDate> = None;
    let u: f64 = rng.random::<f64>().max(1e-9);
    let base = (500.0 / u.powf(1.0 / 1.16)).min(2_000_000.0) * f64::from(scale);
    let margin_rate = rng.random_range(0.08..0.35);
    let first_day = if rng.random_bool(0.1) {
        start + Duration::days(rng.random_range(365..700))
    } else {
        start + Duration::days(rng.random_range(0..30))
    };
    let mut push = |day: NaiveDate, amount: f64, rng: &mut ChaCha8Rng| {
        let amount_minor = (amount.max(1.0) * 100.0).round() as i64;
        let margin_minor = (amount_minor as f64 * margin_rate).round() as i64;
        let offer = match rng.random_range(0..40) {
            0 => Some("WINBACK10"),
            1 => Some("LOYAL5"),
            _ => None,
        };
        orders.push((ts(day, rng), amount_minor, margin_minor, offer));
    };
    if is_prospect {
        if rng.random_bool(0.5) {
            for _ in 0..rng.random_range(1..=2) {
                let day = end - Duration::days(rng.random_range(0..60));
                push(day, base, &mut rng);
            }
        }
    } else {
        let regular = pattern < 0.50;
        let churned = pattern >= 0.85;
        let stop = if churned {
            start + Duration::days(rng.random_range(180..640))
        } else {
            end
        };
        if churned {
            churn_stop = Some(stop);
        }
        let interval = *pick(
            &mut rng,
            &[
                7i64, 7, 7, 7, 7, 7, 7, 7, 7, 14, 14, 14, 14, 14, 14, 14, 30, 30, 30, 30,
            ],
        );
        let mean_gap = rng.random_range(5.0..30.0);
        let mut day = first_day;
        while day <= stop {
            let amount = if regular {
                base * (1.0 + 0.06 * normal(&mut rng))
            } else {
                base * (0.8 * normal(&mut rng) - 0.32).exp()
            };
            push(day, amount, &mut rng);
            let gap = if regular {
                interval + rng.random_range(-2..=2)
            } else {
                (-(rng.random::<f64>().max(1e-9)).ln() * mean_gap).ceil() as i64
            };
            day += Duration::days(gap.max(1));
        }
    }
    orders.sort_by_key(|o| o.0);
    // A churned account's story, for win-back: a complaint before it stopped buying and a
    // tender it gave to a competitor after (drawn last, so the rest of the account stays the
    // same for a seed).
    if let Some(stop) = churn_stop {
        let complained = stop - Duration::days(rng.random_range(10..60));
        let lost = (stop + Duration::days(rng.random_range(5..45))).min(end);
        let tender_value = rng.random_range(10_000i64..400_000) * 100 * i64::from(scale);
        let complaint = pick(&mut rng, COMPLAINTS).to_string();
        let lost_reason = pick(&mut rng, REASONS_LOST).to_string();
        events.push(vec![
            "complaint".to_string().into(),
            complained.into(),
            None::<i64>.into(),
            None::<String>.into(),
            Some(complaint).into(),
            None::<String>.into(),
            now.into(),
            now.into(),
        ]);
        events.push(vec![
            "tender".to_string().into(),
            lost.into(),
            Some(tender_value).into(),
            Some("lost".to_string()).into(),
            Some(lost_reason).into(),
            Some(format!("awarded to {}", pick(&mut rng, COMPETITORS))).into(),
            now.into(),
            now.into(),
        ]);
    }

    Bundle {
        account,
        external_id,
        profile,
        stakeholders,
        competitors,
        events,
        orders,
    }
}

/// Inserts rows (each a full value list for `columns`) in statements of at most `max_params`.
async fn insert_rows<C: sea_orm::IdenStatic + Copy + 'static>(
    txn: &DatabaseTransaction,
    table: impl sea_orm::Iden + Copy + 'static,
    columns: &[C],
    rows: Vec<Vec<Value>>,
) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let per = (crate::db::max_bind_params(txn) / columns.len()).max(1);
    let mut iter = rows.into_iter().peekable();
    while iter.peek().is_some() {
        let mut stmt = Query::insert();
        stmt.into_table(table).columns(columns.iter().copied());
        for row in iter.by_ref().take(per) {
            stmt.values(row.into_iter().map(Expr::val))?;
        }
        txn.execute(&stmt).await?;
    }
    Ok(())
}

/// Generates demo data into `db` (if given) and/or the orders CSV.
pub async fn generate(
    db: Option<&DatabaseConnection>,
    clock: &dyn Clock,
    settings: &Settings,
    opts: &DemoOptions,
) -> anyhow::Result<DemoStats> {
    anyhow::ensure!(opts.accounts > 0, "--accounts must be at least 1");
    let currency = settings.defaults.currency;
    let scale = 10u32.pow(currency.exponent().saturating_sub(2));
    let now = clock.now();
    let n_managers = (opts.accounts / 250).clamp(3, 400);
    let mut stats = DemoStats::default();

    let mut csv_out = match &opts.orders_csv {
        Some(path) => {
            let f = std::fs::File::create(path)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
            writeln!(
                w,
                "external_id,account_id,ordered_at,amount,margin,currency,offer_code"
            )?;
            Some(w)
        }
        None => None,
    };

    let txn = match db {
        Some(db) => {
            let txn = crate::db::begin_write(db).await?;
            let existing = txn
                .query_one(
                    Query::select()
                        .expr(Func::count(Expr::col(account::Column::Id)))
                        .from(account::Entity)
                        .and_where(sea_orm::sea_query::ExprTrait::like(
                            Expr::col(account::Column::ExternalId),
                            format!("{PREFIX}%"),
                        )),
                )
                .await?
                .and_then(|r| r.try_get_by_index::<i64>(0).ok())
                .unwrap_or(0);
            anyhow::ensure!(
                existing == 0,
                "the database already holds {existing} demo accounts; use a fresh database \
                 (e.g. ABM_DATABASE__URL=sqlite://data/demo.db?mode=rwc)"
            );
            Some(txn)
        }
        None => None,
    };

    // Managers first; demo accounts refer to them by position.
    let mut manager_ids = Vec::with_capacity(n_managers as usize);
    if let Some(txn) = &txn {
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        for i in 0..n_managers {
            let first = pick(&mut rng, FIRST_NAMES);
            let last = pick(&mut rng, LAST_NAMES);
            let email = format!(
                "kam{}.{}@abm-demo.example",
                i + 1,
                slug(last).replace('ü', "ue")
            );
            let m = sea_orm::ActiveModelTrait::insert(
                manager::ActiveModel {
                    email: sea_orm::Set(email),
                    name: sea_orm::Set(format!("{first} {last}")),
                    created_at: sea_orm::Set(now),
                    updated_at: sea_orm::Set(now),
                    ..Default::default()
                },
                txn,
            )
            .await?;
            manager_ids.push(m.id);
        }
        stats.managers = u64::from(n_managers);
    }

    // Generate on a thread, in chunks, while this task writes.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Bundle>>(4);
    let (seed, end, total) = (opts.seed, opts.end, opts.accounts);
    let code = currency.code().to_string();
    let generator = std::thread::spawn(move || {
        const CHUNK: u32 = 500;
        let mut i = 1;
        while i <= total {
            let last = (i + CHUNK - 1).min(total);
            let chunk: Vec<Bundle> = (i..=last)
                .map(|idx| make_bundle(seed, idx, end, now, n_managers, &code, scale))
                .collect();
            if tx.blocking_send(chunk).is_err() {
                return;
            }
            i = last + 1;
        }
    });

    let exp = currency.exponent();
    while let Some(chunk) = rx.recv().await {
        stats.accounts += chunk.len() as u64;
        for b in &chunk {
            stats.stakeholders += b.stakeholders.len() as u64;
            stats.orders += b.orders.len() as u64;
        }
        if let Some(w) = csv_out.as_mut() {
            for b in &chunk {
                for (k, (at, amount, margin, offer)) in b.orders.iter().enumerate() {
                    writeln!(
                        w,
                        "{}-O{k},{},{},{},{},{},{}",
                        b.external_id,
                        b.external_id,
                        at.format("%Y-%m-%dT%H:%M:%SZ"),
                        crate::domain::format_decimal(*amount, exp),
                        crate::domain::format_decimal(*margin, exp),
                        currency.code(),
                        offer.unwrap_or("")
                    )?;
                }
            }
        }
        if let Some(txn) = &txn {
            write_chunk(txn, chunk, &manager_ids, currency.code(), now).await?;
        }
    }
    generator
        .join()
        .map_err(|_| anyhow::anyhow!("the demo generator thread failed"))?;
    if let Some(mut w) = csv_out {
        w.flush()?;
    }
    if let Some(txn) = txn {
        txn.commit().await?;
    }
    if let Some(db) = db {
        crate::db::refresh_statistics(db, &[]).await;
    }
    Ok(stats)
}

async fn write_chunk(
    txn: &DatabaseTransaction,
    chunk: Vec<Bundle>,
    manager_ids: &[i64],
    currency: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    use account::Column as A;
    let mut accounts = Vec::with_capacity(chunk.len());
    let mut ids = Vec::with_capacity(chunk.len());
    for b in &chunk {
        let mut row = b.account.clone();
        // Position 7 holds the manager's ordinal; map it to the real id.
        if let Value::BigInt(Some(ordinal)) = row[7] {
            let idx = (ordinal as usize)
                .saturating_sub(1)
                .min(manager_ids.len().saturating_sub(1));
            row[7] = Value::BigInt(manager_ids.get(idx).copied());
        }
        accounts.push(row);
        ids.push(b.external_id.clone());
    }
    insert_rows(
        txn,
        account::Entity,
        &[
            A::ExternalId,
            A::Name,
            A::Industry,
            A::Region,
            A::Country,
            A::Timezone,
            A::Currency,
            A::ManagerId,
            A::ImageMaker,
            A::Expert,
            A::BudgetMinor,
            A::Attributes,
            A::CreatedAt,
            A::UpdatedAt,
        ],
        accounts,
    )
    .await?;
    let resolved = crate::orders::service::resolve_accounts(txn, &ids).await?;

    let mut profiles = Vec::new();
    let mut stakeholders = Vec::new();
    let mut competitors = Vec::new();
    let mut events = Vec::new();
    let mut orders = Vec::new();
    for b in chunk {
        let Some((id, _)) = resolved.get(&b.external_id) else {
            anyhow::bail!("demo account {} was not stored", b.external_id);
        };
        let id = *id;
        let mut p = vec![Value::from(id)];
        p.extend(b.profile);
        profiles.push(p);
        for s in b.stakeholders {
            let mut row = vec![s[0].clone(), Value::from(id)];
            row.extend(s.into_iter().skip(1));
            stakeholders.push(row);
        }
        for c in b.competitors {
            let mut row = vec![Value::from(id)];
            row.extend(c);
            competitors.push(row);
        }
        for e in b.events {
            let mut row = vec![Value::from(id)];
            row.extend(e);
            events.push(row);
        }
        for (k, (at, amount, margin, offer)) in b.orders.into_iter().enumerate() {
            orders.push(vec![
                format!("{}-O{k}", b.external_id).into(),
                id.into(),
                at.into(),
                amount.into(),
                Some(margin).into(),
                currency.to_string().into(),
                offer.map(str::to_string).into(),
                now.into(),
                now.into(),
            ]);
        }
    }
    {
        use dossier_profile::Column as P;
        insert_rows(
            txn,
            dossier_profile::Entity,
            &[
                P::AccountId,
                P::Description,
                P::Employees,
                P::FoundedYear,
                P::History,
                P::OrgStructure,
                P::BusinessEnvironment,
                P::UpdatedAt,
            ],
            profiles,
        )
        .await?;
    }
    {
        use stakeholder::Column as S;
        insert_rows(
            txn,
            stakeholder::Entity,
            &[
                S::ExternalId,
                S::AccountId,
                S::Name,
                S::Title,
                S::Email,
                S::Phone,
                S::Role,
                S::Influence,
                S::Language,
                S::Consent,
                S::CreatedAt,
                S::UpdatedAt,
            ],
            stakeholders,
        )
        .await?;
    }
    {
        use competitor::Column as C;
        insert_rows(
            txn,
            competitor::Entity,
            &[
                C::AccountId,
                C::Name,
                C::Products,
                C::Strength,
                C::Notes,
                C::CreatedAt,
                C::UpdatedAt,
            ],
            competitors,
        )
        .await?;
    }
    {
        use relationship_event::Column as R;
        insert_rows(
            txn,
            relationship_event::Entity,
            &[
                R::AccountId,
                R::Kind,
                R::OccurredOn,
                R::ValueMinor,
                R::Outcome,
                R::Reason,
                R::Notes,
                R::CreatedAt,
                R::UpdatedAt,
            ],
            events,
        )
        .await?;
    }
    {
        use order::Column as O;
        insert_rows(
            txn,
            order::Entity,
            &[
                O::ExternalId,
                O::AccountId,
                O::OrderedAt,
                O::AmountMinor,
                O::MarginMinor,
                O::Currency,
                O::OfferCode,
                O::CreatedAt,
                O::UpdatedAt,
            ],
            orders,
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("valid")
    }

    #[test]
    fn the_same_seed_gives_the_same_account() {
        let end = NaiveDate::from_ymd_opt(2025, 12, 31).expect("date");
        let a = make_bundle(7, 12, end, now(), 5, "USD", 1);
        let b = make_bundle(7, 12, end, now(), 5, "USD", 1);
        let c = make_bundle(8, 12, end, now(), 5, "USD", 1);
        assert_eq!(a.account, b.account);
        assert_eq!(a.orders, b.orders);
        assert_ne!(a.account, c.account);
    }

    #[test]
    fn orders_stay_inside_the_two_year_window() {
        let end = NaiveDate::from_ymd_opt(2025, 12, 31).expect("date");
        let start = end - Duration::days(729);
        for i in 1..200 {
            for (at, amount, margin, _) in make_bundle(1, i, end, now(), 5, "USD", 1).orders {
                let d = at.date_naive();
                assert!(d >= start && d <= end, "{d}");
                assert!(amount > 0 && margin >= 0 && margin < amount);
            }
        }
    }

    #[test]
    fn value_is_heavy_tailed() {
        let end = NaiveDate::from_ymd_opt(2025, 12, 31).expect("date");
        let mut totals: Vec<i64> = (1..=2000)
            .map(|i| {
                make_bundle(3, i, end, now(), 5, "USD", 1)
                    .orders
                    .iter()
                    .map(|o| o.1)
                    .sum()
            })
            .collect();
        totals.sort_unstable_by(|a, b| b.cmp(a));
        let all: i64 = totals.iter().sum();
        let top20: i64 = totals[..400].iter().sum();
        let share = top20 as f64 / all as f64;
        assert!(
            share > 0.6,
            "top 20% of accounts hold {share:.2} of revenue"
        );
        let silent = totals.iter().filter(|t| **t == 0).count();
        assert!(silent > 0, "some prospects have no orders");
    }
}
