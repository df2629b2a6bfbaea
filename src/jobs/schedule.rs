//! The `scheduler` role: each scheduled job's cron moments (croner, in `jobs.timezone`), and a
//! firing only queues a run for that moment. Every instance may run a scheduler; the unique
//! `(job, scheduled_for)` row makes the moment run once however many fire it.
//!
//! tokio-cron-scheduler was the first choice, but version 0.15 fixes a timezone's UTC offset
//! when a job is created, so a schedule in a zone with daylight saving runs an hour off after
//! the change, and its ticks carry sub-second times that differ between instances. The loop
//! here is small and computes every moment in the zone.

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use sea_orm::DbErr;

use super::{Trigger, runs};
use crate::context::AppContext;
use crate::entities::job_run;

/// Parses a cron expression with seconds (`sec min hour day-of-month month day-of-week`), as
/// the scheduler reads it.
pub fn parse(expr: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr.trim())
        .map_err(|e| format!("not a cron expression with seconds ({e})"))
}

/// The next moment `expr` fires strictly after the second `now` falls in, read in `tz`
/// (whole seconds: a cron moment names the same instant on every instance).
pub fn next_after(expr: &str, tz: chrono_tz::Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let cron = parse(expr).ok()?;
    next_of(&cron, tz, now)
}

/// How far ahead a campaign schedule's next moment may lie.
const SCHEDULE_HORIZON_DAYS: i64 = 5 * 366;

/// Checks a campaign's enrolment schedule: a cron expression with seconds that fires within
/// the five years after `now` and no more often than once a minute. (An expression that can
/// never fire, such as the 31st of February, makes each search for its next moment run to
/// the year 5000: 60 ms in a release build, once per timezone and tick.)
pub fn check_campaign_schedule(expr: &str, now: DateTime<Utc>) -> Result<Cron, String> {
    let cron = parse(expr)?;
    let until = now + chrono::Duration::days(SCHEDULE_HORIZON_DAYS);
    let mut at = now;
    for i in 0..5 {
        match next_of(&cron, chrono_tz::UTC, at).filter(|n| *n <= until) {
            Some(n) if i > 0 && n - at < chrono::Duration::minutes(1) => {
                return Err(
                    "fires more often than once a minute; a campaign schedule enrols its \
                     audience, e.g. \"0 0 9 1 * *\" (09:00 on the 1st of each month)"
                        .into(),
                );
            }
            Some(n) => at = n,
            None if i == 0 => {
                return Err("never fires in the next five years".into());
            }
            None => break,
        }
    }
    Ok(cron)
}

/// Whether `expr` can fire in `(since, now]` in any timezone: UTC offsets run from -12 h to
/// +14 h, so a local moment in the span lies within these bounds of it read in UTC (an hour
/// more either side covers a daylight-saving shift).
pub fn may_fire_anywhere(expr: &str, since: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    let Ok(cron) = parse(expr) else {
        return false;
    };
    next_of(&cron, chrono_tz::UTC, since - chrono::Duration::hours(13))
        .is_some_and(|n| n <= now + chrono::Duration::hours(15))
}

/// The newest moment `cron` fires in `(since, now]`, read in `tz`.
pub fn latest_in(
    cron: &Cron,
    tz: chrono_tz::Tz,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let first = next_of(cron, tz, since)?;
    if first > now {
        return None;
    }
    let prev = cron
        .find_previous_occurrence(&now.trunc_subsecs(0).with_timezone(&tz), true)
        .ok()
        .map(|t| t.with_timezone(&Utc).trunc_subsecs(0))?;
    Some(prev.max(first))
}

pub fn next_of(cron: &Cron, tz: chrono_tz::Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_next_occurrence(&now.trunc_subsecs(0).with_timezone(&tz), false)
        .ok()
        .map(|t| t.with_timezone(&Utc).trunc_subsecs(0))
}

/// What one cron tick does: queue a run of `job` for the moment `at`, and wake this process's
/// worker. `None` when that moment (or a queued run of the job) is already there.
pub async fn fire(
    ctx: &AppContext,
    job: &str,
    at: DateTime<Utc>,
) -> Result<Option<job_run::Model>, DbErr> {
    let queued = runs::enqueue(
        &ctx.db,
        job,
        Trigger::Schedule,
        Some(at),
        None,
        ctx.clock.now(),
    )
    .await?;
    if queued.is_some() {
        ctx.jobs_rt.wake.notify_one();
    }
    Ok(queued)
}

/// The `scheduler` role: one task per scheduled job that sleeps until the job's next cron
/// moment (computed in `jobs.timezone` each time, so daylight-saving changes are followed) and
/// then queues a run for exactly that moment. Every instance may run it; the unique
/// `(job, scheduled_for)` row makes each moment run once. Stops when shutdown begins. `None`
/// when no job has a schedule.
pub fn start(ctx: Arc<AppContext>) -> Option<tokio::task::JoinHandle<()>> {
    let tz = ctx.settings.jobs.timezone.0;
    let scheduled: Vec<(String, Cron)> = ctx
        .jobs
        .iter()
        .filter(|d| !d.schedule.trim().is_empty())
        .filter_map(|d| match parse(&d.schedule) {
            Ok(c) => Some((d.name.clone(), c)),
            Err(e) => {
                tracing::error!(job = %d.name, error = %e, "schedule ignored");
                None
            }
        })
        .collect();
    if scheduled.is_empty() {
        return None;
    }
    Some(tokio::spawn(async move {
        let loops = scheduled.into_iter().map(|(name, cron)| {
            let ctx = ctx.clone();
            async move {
                tracing::info!(job = %name, schedule = %cron.pattern, "job scheduled");
                tick_loop(&ctx, &name, &cron, tz).await;
            }
        });
        futures_util::future::join_all(loops).await;
    }))
}

async fn tick_loop(ctx: &AppContext, name: &str, cron: &Cron, tz: chrono_tz::Tz) {
    loop {
        let now = ctx.clock.now();
        let Some(next) = next_of(cron, tz, now) else {
            tracing::warn!(job = %name, "the schedule never fires again");
            return;
        };
        let wait = (next - now).to_std().unwrap_or_default();
        tokio::select! {
            _ = ctx.jobs_rt.stopping.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        if ctx.clock.now() < next {
            // The clock was set back meanwhile: compute again.
            continue;
        }
        match fire(ctx, name, next).await {
            Ok(Some(run)) => tracing::info!(job = %name, run_id = run.id, "scheduled run queued"),
            Ok(None) => tracing::debug!(job = %name, "scheduled moment already queued"),
            Err(e) => tracing::error!(job = %name, error = %e, "could not queue the scheduled run"),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Timelike};

    use super::*;

    #[test]
    fn a_campaign_schedule_must_fire_soon_and_not_too_often() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        assert!(check_campaign_schedule("0 0 9 1 * *", now).is_ok());
        assert!(check_campaign_schedule("0 * * * * *", now).is_ok());
        for never in [
            "0 0 9 31 2 *",
            "0 0 0 29 2 * 2100",
            "0 0 0 1 1 * 2020",
            "0 0 0 1 1 * 2040",
        ] {
            let e = check_campaign_schedule(never, now).expect_err(never);
            assert!(e.contains("never fires"), "{never}: {e}");
        }
        for often in ["* * * * * *", "*/30 * * * * *", "0,1 * * * * *"] {
            let e = check_campaign_schedule(often, now).expect_err(often);
            assert!(e.contains("once a minute"), "{often}: {e}");
        }
        assert!(check_campaign_schedule("not cron", now).is_err());
    }

    #[test]
    fn the_any_timezone_check_never_misses_a_moment() {
        let zones: Vec<chrono_tz::Tz> = [
            "Pacific/Kiritimati",
            "Pacific/Apia",
            "Asia/Ho_Chi_Minh",
            "Asia/Kolkata",
            "Europe/Berlin",
            "UTC",
            "America/New_York",
            "America/St_Johns",
            "Pacific/Pago_Pago",
            "Etc/GMT+12",
        ]
        .iter()
        .map(|z| z.parse().expect("zone"))
        .collect();
        let start = Utc.with_ymd_and_hms(2026, 2, 25, 0, 0, 0).unwrap();
        let (mut fired, mut skipped) = (0, 0);
        for expr in [
            "0 0 9 1 * *",
            "0 30 0 * * 1",
            "0 0 23 28 2 *",
            "0 15 2 8 3 *",
        ] {
            let cron = parse(expr).unwrap();
            // Spans of 10 s to 6 h starting every 173 minutes (all phases) over five weeks.
            for step in 0..291 {
                let since = start + chrono::Duration::minutes(173 * step);
                for len in [10, 600, 6 * 3600] {
                    let now = since + chrono::Duration::seconds(len);
                    let any = zones
                        .iter()
                        .any(|tz| latest_in(&cron, *tz, since, now).is_some());
                    let may = may_fire_anywhere(expr, since, now);
                    assert!(!any || may, "{expr}: missed ({since}, {now}]");
                    if any {
                        fired += 1;
                    } else if !may {
                        skipped += 1;
                    }
                }
            }
        }
        assert!(
            fired > 0 && skipped > fired,
            "fired {fired}, skipped {skipped}"
        );
    }

    #[test]
    fn the_latest_moment_in_a_span_is_found_in_one_search() {
        let c = parse("0 0 9 * * *").unwrap();
        let tz = chrono_tz::Europe::Berlin;
        let since = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        // 09:00 in Berlin is 08:00 UTC in winter.
        assert_eq!(
            latest_in(&c, tz, since, now),
            Some(Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap())
        );
        // Nothing in (since, now] when the span holds no 09:00.
        let since = Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap();
        assert_eq!(latest_in(&c, tz, since, now), None);
        // `now` itself counts.
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 8, 0, 0).unwrap();
        assert_eq!(latest_in(&c, tz, since, now), Some(now));
    }

    #[test]
    fn moments_are_whole_seconds_and_instances_ticking_apart_name_the_same_one() {
        let at = Utc
            .with_ymd_and_hms(2026, 3, 1, 2, 29, 59)
            .single()
            .expect("time")
            + chrono::Duration::milliseconds(830);
        let a = next_after("0 30 2 * * *", chrono_tz::UTC, at).expect("next");
        let b = next_after(
            "0 30 2 * * *",
            chrono_tz::UTC,
            at + chrono::Duration::milliseconds(120),
        );
        assert_eq!(a.nanosecond(), 0);
        assert_eq!(Some(a), b, "a tick 120 ms later names the same moment");
        assert_eq!(
            a,
            Utc.with_ymd_and_hms(2026, 3, 1, 2, 30, 0)
                .single()
                .expect("t")
        );
        // Two ticks of an every-second schedule a few milliseconds apart within one second.
        let t = Utc
            .with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
            .single()
            .expect("t");
        let one = next_after(
            "* * * * * *",
            chrono_tz::UTC,
            t + chrono::Duration::milliseconds(3),
        );
        let two = next_after(
            "* * * * * *",
            chrono_tz::UTC,
            t + chrono::Duration::milliseconds(9),
        );
        assert_eq!(one, two);
    }

    #[test]
    fn schedules_follow_daylight_saving_in_their_timezone() {
        let berlin = chrono_tz::Europe::Berlin;
        // 02:30 Berlin is 00:30 UTC in summer and 01:30 UTC in winter.
        let summer = Utc
            .with_ymd_and_hms(2026, 7, 1, 12, 0, 0)
            .single()
            .expect("t");
        let winter = Utc
            .with_ymd_and_hms(2026, 12, 1, 12, 0, 0)
            .single()
            .expect("t");
        let s = next_after("0 30 2 * * *", berlin, summer).expect("next");
        let w = next_after("0 30 2 * * *", berlin, winter).expect("next");
        assert_eq!((s.hour(), s.minute()), (0, 30));
        assert_eq!((w.hour(), w.minute()), (1, 30));
    }

    #[test]
    fn a_schedule_that_never_fires_has_no_next_moment() {
        let now = Utc
            .with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
            .single()
            .expect("t");
        assert_eq!(next_after("0 30 2 31 2 *", chrono_tz::UTC, now), None);
        assert!(next_after("0 30 2 * * *", chrono_tz::UTC, now).is_some());
    }
}
