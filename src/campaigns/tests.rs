//! The definition parser and the step machine on plain data.

use std::collections::HashSet;

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::json;

use super::machine::{AccountView, Ledger, Manager, Next, Person, Rules, advance};
use super::model::{Caps, Definition, Plan, compile};
use super::timing::{Cap, SendWindow};
use crate::domain::{Consent, StakeholderRole};

fn def(v: serde_json::Value) -> Definition {
    serde_json::from_value(v).expect("definition")
}

fn plan(v: serde_json::Value) -> Plan {
    compile(&def(v), &SendWindow::Always).expect("compiles")
}

fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .expect("t")
}

fn person(id: i64, role: StakeholderRole, email: &str, influence: i16) -> Person {
    Person {
        id,
        name: format!("P{id}"),
        role: Some(role),
        consent: Consent::Granted,
        email: Some(email.into()),
        influence,
    }
}

fn account(people: Vec<Person>) -> AccountView {
    AccountView {
        id: 1,
        external_id: "A".into(),
        name: "A Ltd".into(),
        tz: chrono_tz::Europe::Berlin,
        manager: Some(Manager {
            id: 9,
            email: "kam@x.example".into(),
        }),
        people,
    }
}

fn no_caps(suppressed: &HashSet<String>) -> Rules<'_> {
    Rules {
        caps: Caps::default(),
        require_consent: false,
        suppressed,
    }
}

#[test]
fn recipients_follow_the_role_order_then_influence_up_to_the_maximum() {
    let p = plan(json!({"steps": [
        {"id": "s", "send": {"channel": "email", "purpose": "outreach"}}
    ]}));
    let a = account(vec![
        person(1, StakeholderRole::Champion, "champ@x", 9),
        person(2, StakeholderRole::DecisionMaker, "dm-low@x", 1),
        person(3, StakeholderRole::DecisionMaker, "dm-high@x", 8),
        person(4, StakeholderRole::User, "user@x", 10),
    ]);
    let empty = HashSet::new();
    let now = at(2026, 3, 2, 10, 0);
    let pass = advance(
        &p,
        "s",
        now,
        now,
        &a,
        None,
        &mut Ledger::default(),
        no_caps(&empty),
    );
    let to: Vec<&str> = pass.sends.iter().map(|s| s.to.address.as_str()).collect();
    assert_eq!(to, ["dm-high@x", "dm-low@x"]);
    assert!(pass.executions[0].reason.contains("over max_per_account 2"));
    assert_eq!(pass.next, Next::Completed);
}

#[test]
fn an_account_cap_smaller_than_the_recipients_trims_them_and_says_so() {
    let p = plan(json!({"recipients": {"max_per_account": 3}, "steps": [
        {"id": "s", "send": {"channel": "email", "purpose": "outreach"}}
    ]}));
    let a = account(vec![
        person(1, StakeholderRole::DecisionMaker, "a@x", 3),
        person(2, StakeholderRole::DecisionMaker, "b@x", 2),
        person(3, StakeholderRole::DecisionMaker, "c@x", 1),
    ]);
    let empty = HashSet::new();
    let rules = Rules {
        caps: Caps {
            account: Cap::parse("2/7d").expect("cap"),
            stakeholder: None,
        },
        require_consent: false,
        suppressed: &empty,
    };
    let now = at(2026, 3, 2, 10, 0);
    let mut ledger = Ledger::default();
    let pass = advance(&p, "s", now, now, &a, None, &mut ledger, rules);
    assert_eq!(pass.sends.len(), 2);
    assert!(
        pass.executions[0]
            .reason
            .contains("c@x: the account cap 2/7d allows 2 at once")
    );
    // The same step again right away is deferred until the first two leave the window.
    let again = advance(&p, "s", now, now, &a, None, &mut ledger, rules);
    assert_eq!(again.executions[0].outcome, "deferred");
    assert_eq!(
        again.next,
        Next::At {
            step: "s".into(),
            due: now + Duration::days(7)
        }
    );
}

#[test]
fn a_task_is_never_deferred_by_the_window_and_an_overdue_send_is_skipped() {
    let p = compile(
        &def(
            json!({"max_lateness": "2h", "send_window": "mon-fri 09:00-17:00", "steps": [
                {"id": "t", "manager_task": {"title": "Call"}},
                {"id": "s", "send": {"channel": "email", "purpose": "outreach"}}
            ]}),
        ),
        &SendWindow::Always,
    )
    .expect("compiles");
    let empty = HashSet::new();
    // Sunday: the task is created, the send waits for Monday 09:00 Berlin (08:00 UTC).
    let sunday = at(2026, 3, 1, 12, 0);
    let a = account(vec![person(1, StakeholderRole::DecisionMaker, "a@x", 1)]);
    let pass = advance(
        &p,
        "t",
        sunday,
        sunday,
        &a,
        None,
        &mut Ledger::default(),
        no_caps(&empty),
    );
    assert_eq!(pass.tasks.len(), 1);
    assert_eq!(
        pass.next,
        Next::At {
            step: "s".into(),
            due: at(2026, 3, 2, 8, 0)
        }
    );
    // Run three hours after it was due: skipped, with the reason.
    let late = advance(
        &p,
        "s",
        at(2026, 3, 2, 8, 0),
        at(2026, 3, 2, 11, 0),
        &a,
        None,
        &mut Ledger::default(),
        no_caps(&empty),
    );
    assert_eq!(late.executions[0].outcome, "skipped");
    assert!(late.executions[0].reason.contains("overdue by 3 hours"));
    assert!(late.sends.is_empty());
}

#[test]
fn a_loop_without_a_wait_is_refused_at_activation_but_one_with_a_wait_is_not() {
    let bad = def(json!({"audience": {"segment": "s"}, "steps": [
        {"id": "a", "send": {"channel": "email", "purpose": "outreach"}},
        {"id": "b", "branch": {"rule_text": "abc = A", "then": "a", "else": "c"}},
        {"id": "c", "exit": {}}
    ]}));
    let p = compile(&bad, &SendWindow::Always).expect("compiles");
    let errors = super::model::check_activation(&bad, &p, |_, _| Ok(()));
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("form a loop without a wait step")),
        "{errors:?}"
    );
    let good = def(json!({"audience": {"segment": "s"}, "steps": [
        {"id": "a", "send": {"channel": "email", "purpose": "outreach"}},
        {"id": "w", "wait": {"days": 7}},
        {"id": "b", "branch": {"rule_text": "abc = A", "then": "a", "else": "c"}},
        {"id": "c", "exit": {}}
    ]}));
    let p = compile(&good, &SendWindow::Always).expect("compiles");
    assert!(super::model::check_activation(&good, &p, |_, _| Ok(())).is_empty());
}

#[test]
fn a_step_that_no_longer_exists_ends_the_enrolment_with_that_reason() {
    let p = plan(json!({"steps": [{"id": "a", "exit": {}}]}));
    let empty = HashSet::new();
    let now = at(2026, 3, 2, 10, 0);
    let pass = advance(
        &p,
        "gone",
        now,
        now,
        &account(vec![]),
        None,
        &mut Ledger::default(),
        no_caps(&empty),
    );
    assert_eq!(
        pass.next,
        Next::Exited("step `gone` no longer exists in the campaign".into())
    );
}

#[test]
fn structural_errors_name_their_place() {
    let errors = compile(
        &def(
            json!({"reentry": {"after_days": 0}, "exit_on": ["ordered", "ordered"], "steps": [
                {"id": "bad id!", "exit": {}},
                {"id": "w", "wait": {"days": 1, "hours": 2}},
                {"id": "s", "send": {"channel": "task", "purpose": "outreach"}},
                {"id": "h", "send": {"channel": "webhook", "purpose": "event_notification"}},
                {"id": "t", "send": {"channel": "email", "purpose": "outreach", "template": "x"}}
            ]}),
        ),
        &SendWindow::Always,
    )
    .expect_err("invalid");
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    for p in [
        "/reentry/after_days",
        "/exit_on/1",
        "/steps/0/id",
        "/steps/1/wait",
        "/steps/2/send/channel",
        "/steps/3/send/endpoint",
        "/steps/4/send",
    ] {
        assert!(paths.contains(&p), "{p} not in {paths:?}");
    }
}

proptest! {
    /// Every step id the documented pattern allows is accepted, and nothing else.
    #[test]
    fn documented_step_ids_are_accepted(id in crate::domain::schema::matching(super::model::STEP_ID)) {
        prop_assert!(super::model::check_step_id(&id).is_ok());
    }

    #[test]
    fn step_ids_outside_the_pattern_are_refused(id in "\\PC{0,70}") {
        let re = regex::Regex::new(super::model::STEP_ID).expect("regex");
        prop_assert_eq!(super::model::check_step_id(&id).is_ok(), re.is_match(&id));
    }
    /// Whatever the people and the caps, a pass never sends to a suppressed or withdrawn
    /// person, never more than the maximum, and defers rather than drops.
    #[test]
    fn a_pass_respects_consent_suppression_and_the_maximum(
        people in proptest::collection::vec((0u8..6, 0u8..3, any::<bool>(), 0i16..10), 0..8),
        max in 1u32..4,
        used in 0usize..4,
    ) {
        let roles = [
            StakeholderRole::DecisionMaker,
            StakeholderRole::EconomicBuyer,
            StakeholderRole::Champion,
            StakeholderRole::Influencer,
            StakeholderRole::User,
            StakeholderRole::Gatekeeper,
        ];
        let mut suppressed = HashSet::new();
        let list: Vec<Person> = people
            .iter()
            .enumerate()
            .map(|(i, (role, consent, sup, infl))| {
                let email = format!("p{i}@x");
                if *sup {
                    suppressed.insert(email.clone());
                }
                Person {
                    id: i as i64 + 1,
                    name: format!("P{i}"),
                    role: Some(roles[*role as usize]),
                    consent: [Consent::Granted, Consent::Unknown, Consent::Withdrawn][*consent as usize],
                    email: Some(email),
                    influence: *infl,
                }
            })
            .collect();
        let p = plan(json!({"recipients": {"max_per_account": max}, "steps": [
            {"id": "s", "send": {"channel": "email", "purpose": "outreach"}}
        ]}));
        let now = at(2026, 3, 2, 10, 0);
        let mut ledger = Ledger::default();
        for k in 0..used {
            ledger.add(1, None, now - Duration::hours(k as i64 + 1));
        }
        let rules = Rules {
            caps: Caps { account: Cap::parse("3/7d").expect("cap"), stakeholder: None },
            require_consent: false,
            suppressed: &suppressed,
        };
        let pass = advance(&p, "s", now, now, &account(list.clone()), None, &mut ledger, rules);
        prop_assert!(pass.sends.len() as u32 <= max.min(3));
        for s in &pass.sends {
            let who = list.iter().find(|x| Some(x.id) == s.to.stakeholder).expect("person");
            prop_assert!(who.consent != Consent::Withdrawn);
            prop_assert!(!suppressed.contains(&s.to.address));
        }
        match &pass.next {
            Next::At { step, due } => {
                prop_assert_eq!(step.as_str(), "s");
                prop_assert!(*due > now);
                prop_assert!(pass.sends.is_empty());
            }
            Next::Completed => {}
            Next::Exited(r) => prop_assert!(false, "exited: {}", r),
        }
    }
}
