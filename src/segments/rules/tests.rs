use chrono::NaiveDate;
use proptest::prelude::*;
use serde_json::json;

use super::*;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

#[test]
fn the_example_parses_to_the_tree_and_prints_back() {
    let text =
        "abc in (A, B) and xyz != Z and days_since_last_order > 90 and has_role(decision_maker)";
    let rule = Rule::parse_text(text).expect("parses");
    let tree = json!({"all": [
        {"field": "abc", "op": "in", "value": ["A", "B"]},
        {"field": "xyz", "op": "ne", "value": "Z"},
        {"field": "days_since_last_order", "op": "gt", "value": 90},
        {"has_role": "decision_maker"},
    ]});
    assert_eq!(rule.to_json(), tree);
    assert_eq!(Rule::from_json(&tree), Ok(rule.clone()));
    assert_eq!(rule.to_text(), text);
    assert_eq!(rule.conditions(), 4);
}

#[test]
fn precedence_and_grouping() {
    let r = Rule::parse_text("lost = true or abc = A and not xyz = Z").expect("parses");
    assert_eq!(r.to_text(), "lost = true or abc = A and not xyz = Z");
    assert!(matches!(r, Rule::Any(ref p) if p.len() == 2));
    let r = Rule::parse_text("(lost = true or abc = A) and (xyz = X)").expect("parses");
    assert_eq!(r.to_text(), "(lost = true or abc = A) and xyz = X");
    let r = Rule::parse_text("not (abc = A and xyz = X)").expect("parses");
    assert_eq!(r.to_text(), "not (abc = A and xyz = X)");
    // Nested groups of the same kind flatten.
    let r = Rule::parse_text("abc = A and (xyz = X and lost = false)").expect("parses");
    assert!(matches!(r, Rule::All(ref p) if p.len() == 3));
    assert_eq!(Rule::parse_text("true"), Ok(Rule::always()));
    assert_eq!(
        Rule::parse_text("TRUE and abc = A").map(|r| r.to_text()),
        Ok("abc = A".into())
    );
}

#[test]
fn every_operator_in_both_forms() {
    let text = "revenue between 1000 and 5000.5 and industry exists and last_order_at within_days 30 \
                and types contains pillar and name contains \"Đại Việt\" and created_at >= 2026-01-01 \
                and attributes.tier = gold and attributes.seats <= 10 and budget != -2.5";
    let rule = Rule::parse_text(text).expect("parses");
    assert_eq!(
        rule.to_text(),
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    let back = Rule::from_json(&rule.to_json()).expect("json parses");
    assert_eq!(back, rule);
    assert_eq!(
        rule.to_json()["all"][5],
        json!({"field": "created_at", "op": "gte", "value": "2026-01-01"})
    );
    // Word operators mean the same.
    assert_eq!(
        Rule::parse_text("revenue gte 5 and abc eq A"),
        Rule::parse_text("revenue >= 5 and abc = A")
    );
}

#[test]
fn unknown_fields_and_type_mismatches_point_at_the_text() {
    let e = Rule::parse_text("abc = A and abcd = B").expect_err("unknown field");
    assert_eq!(
        e.location,
        Location::Text {
            column: 13,
            offset: 12
        }
    );
    assert!(e.message.contains("unknown field `abcd`"), "{e}");
    assert!(e.message.contains("did you mean `abc`"), "{e}");

    let e = Rule::parse_text("revenue > high").expect_err("type");
    assert_eq!(
        e.location,
        Location::Text {
            column: 11,
            offset: 10
        }
    );
    assert!(e.message.contains("`revenue` is number, not text"), "{e}");

    let e = Rule::parse_text("abc in (A, Q)").expect_err("enum");
    assert_eq!(
        e.location,
        Location::Text {
            column: 12,
            offset: 11
        }
    );
    assert!(e.message.contains("`Q` is not a value of `abc`"), "{e}");

    let e = Rule::parse_text("types = pillar").expect_err("list eq");
    assert_eq!(
        e.location,
        Location::Text {
            column: 7,
            offset: 6
        }
    );
    assert!(e.message.contains("use `contains`"), "{e}");

    let e = Rule::parse_text("name within_days 3").expect_err("not a date");
    assert!(e.message.contains("applies to dates"), "{e}");

    let e = Rule::parse_text("has_role(boss)").expect_err("role");
    assert_eq!(
        e.location,
        Location::Text {
            column: 10,
            offset: 9
        }
    );

    // Columns count characters, not bytes.
    let e = Rule::parse_text("name = \"Đại\" and xyz = W").expect_err("enum");
    assert_eq!(
        e.location,
        Location::Text {
            column: 24,
            offset: 26
        }
    );

    for (bad, column) in [
        ("abc = ", 7),
        ("abc A", 5),
        ("(abc = A", 9),
        ("abc = A xyz = X", 9),
        ("revenue between 1 or 2", 19),
        ("abc in (A B)", 11),
        ("name = \"open", 8),
        ("", 1),
        ("revenue between 9 and 1", 17),
    ] {
        let e = Rule::parse_text(bad).expect_err(bad);
        assert_eq!(
            e.location,
            Location::Text {
                column,
                offset: bad
                    .char_indices()
                    .nth(column - 1)
                    .map_or(bad.len(), |(i, _)| i)
            },
            "{bad}: {e}"
        );
    }
}

#[test]
fn json_errors_carry_the_path() {
    let cases = [
        (
            json!({"all": [{"field": "abc", "op": "eq", "value": "A"}, {"field": "nope", "op": "exists"}]}),
            "/all/1/field",
        ),
        (
            json!({"any": [{"not": {"field": "revenue", "op": "gt", "value": "x"}}]}),
            "/any/0/not/value",
        ),
        (
            json!({"field": "abc", "op": "in", "value": ["A", "Q"]}),
            "/value/1",
        ),
        (json!({"field": "abc", "op": "like", "value": "A"}), "/op"),
        (json!({"all": {"field": "abc"}}), "/all"),
        (json!({"all": [], "extra": 1}), "/extra"),
        (json!([1]), ""),
        (
            json!({"field": "revenue", "op": "between", "value": [1]}),
            "/value",
        ),
        (json!({"has_role": "boss"}), "/has_role"),
    ];
    for (v, path) in cases {
        let e = Rule::from_json(&v).expect_err(&v.to_string());
        assert_eq!(e.location, Location::Json(path.into()), "{v}: {e}");
    }
}

#[test]
fn limits_keep_hostile_rules_out() {
    let deep = format!("{}abc = A", "not ".repeat(40));
    let e = Rule::parse_text(&deep).expect_err("too deep");
    assert!(e.message.contains("nests deeper than 32"), "{e}");
    assert_eq!(
        e.location,
        Location::Text {
            column: 1,
            offset: 0
        }
    );
    let e = Rule::parse_text(&"(".repeat(100_000)).expect_err("too long");
    assert!(e.message.contains("longer than"), "{e}");
    // Parentheses alone add no depth.
    assert!(Rule::parse_text(&format!("{}abc = A{}", "(".repeat(40), ")".repeat(40))).is_ok());
    // Alternating groups: the same limit in both forms, so whatever is accepted reads back.
    let nest = |levels: usize| {
        (0..levels).fold("abc = A".to_string(), |inner, i| {
            format!(
                "xyz = X {} ({inner})",
                if i % 2 == 0 { "and" } else { "or" }
            )
        })
    };
    let ok = Rule::parse_text(&nest(30)).expect("31 levels");
    assert_eq!(ok.depth(), 31);
    assert_eq!(Rule::from_json(&ok.to_json()), Ok(ok.clone()));
    assert!(Rule::parse_text(&nest(31)).is_ok(), "32 levels");
    let e = Rule::parse_text(&nest(32)).expect_err("33 levels");
    assert!(e.message.contains("nests deeper"), "{e}");
    let mut v = json!({"field": "abc", "op": "eq", "value": "A"});
    for _ in 0..40 {
        v = json!({ "not": v });
    }
    let e = Rule::from_json(&v).expect_err("too deep");
    assert!(e.message.contains("nests deeper"), "{e}");
    // A huge unknown name gets no (slow) suggestion.
    let e = Rule::parse_text(&format!("{} = 1", "a".repeat(5000))).expect_err("unknown");
    assert!(!e.message.contains("did you mean"), "{}", &e.message[..80]);
}

#[test]
fn both_forms_are_capped_at_the_same_size_and_the_json_form_names_the_place() {
    // A million listed values are refused at the list, before any of them is read.
    let many: Vec<serde_json::Value> = (0..1_000_000).map(|i| json!(i)).collect();
    let e = Rule::from_json(&json!({"field": "orders", "op": "in", "value": many}))
        .expect_err("too many values");
    assert_eq!(e.location, Location::Json("/value".into()));
    assert!(e.message.contains("more than 1000 parts"), "{e}");
    // At the cap a rule is accepted and reads back from its text form.
    let values: Vec<usize> = (0..MAX_PARTS - 1).collect();
    let rule = Rule::from_json(&json!({"field": "orders", "op": "in", "value": values}))
        .expect("1000 parts");
    assert_eq!(rule.parts(), MAX_PARTS);
    assert_eq!(Rule::parse_text(&rule.to_text()), Ok(rule.clone()));
    // The text form counts alike, though it is shorter than its length cap.
    let text = format!(
        "orders in ({})",
        (0..MAX_PARTS)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    assert!(text.len() < MAX_TEXT);
    let e = Rule::parse_text(&text).expect_err("1001 parts");
    assert!(e.message.contains("more than 1000 parts"), "{e}");
    // Conditions and groups count too; the pointer names the first part over the cap.
    let conditions: Vec<serde_json::Value> = (0..MAX_PARTS)
        .map(|_| json!({"field": "orders", "op": "gt", "value": 1}))
        .collect();
    let e = Rule::from_json(&json!({ "any": conditions })).expect_err("1001 parts");
    assert_eq!(e.location, Location::Json("/any/999".into()));
    // Text values add up to the text form's length cap at most.
    let long = "x".repeat(MAX_TEXT / 2 + 1);
    let e = Rule::from_json(&json!({"any": [
        {"field": "name", "op": "eq", "value": long},
        {"field": "name", "op": "eq", "value": long},
    ]}))
    .expect_err("too much text");
    assert_eq!(e.location, Location::Json("/any/1/value".into()));
    assert!(e.message.contains("more than 10000 bytes"), "{e}");
}

#[test]
fn values_and_names_the_text_form_cannot_print_are_refused() {
    let e = Rule::from_json(&json!({"field": "created_at", "op": "gte", "value": "+10000-01-01"}))
        .expect_err("year");
    assert_eq!(e.location, Location::Json("/value".into()));
    let e =
        Rule::from_json(&json!({"field": "attributes.customer-tier", "op": "eq", "value": "x"}))
            .expect_err("key");
    assert_eq!(e.location, Location::Json("/field".into()));
    let e = Rule::from_json(&json!({"all": [], "a/b~": 1})).expect_err("extra key");
    assert_eq!(e.location, Location::Json("/a~1b~0".into()));
    let ok = Rule::parse_text("attributes.crm.tier = gold").expect("dotted key");
    assert_eq!(Rule::parse_text(&ok.to_text()), Ok(ok));
}

#[test]
fn rules_over_accounts_refuse_stakeholder_and_offer_fields() {
    let e = Rule::parse_text_for("abc = A and stakeholder.role = user", ACCOUNT_SCOPES)
        .expect_err("scope");
    assert_eq!(
        e.location,
        Location::Text {
            column: 13,
            offset: 12
        }
    );
    assert!(e.message.contains("has_role"), "{e}");
    let e = Rule::from_json_for(
        &json!({"any": [{"field": "offer.kind", "op": "eq", "value": "gift"}]}),
        ACCOUNT_SCOPES,
    )
    .expect_err("scope");
    assert_eq!(e.location, Location::Json("/any/0/field".into()));
    assert!(Rule::parse_text("stakeholder.role = user and offer.kind = gift").is_ok());
}

fn facts() -> Facts {
    let mut f = Facts::new(date("2026-11-27"));
    f.set("abc", Some("A".to_string()));
    f.set("xyz", FactValue::Null);
    f.set("industry", Some("Manufacturing".to_string()));
    f.set("revenue", Some(12_000.0));
    f.set("types", FactValue::List(vec!["pillar".into()]));
    f.set("last_order_at", Some(date("2026-11-01")));
    f.set("lost", false);
    f.attributes.insert("tier".into(), json!("Gold"));
    f.roles.push("decision_maker".into());
    f
}

#[test]
fn evaluation_follows_the_documented_semantics() {
    let f = facts();
    let holds = |t: &str| Rule::parse_text(t).expect(t).matches(&f);
    assert!(holds("abc in (A, B) and industry = manufacturing"));
    assert!(holds("industry contains FACT"));
    assert!(holds("revenue between 12000 and 12000"));
    assert!(!holds("revenue > 12000"));
    assert!(holds(
        "types contains pillar and not types contains prospect"
    ));
    assert!(holds("types in (expert, pillar)"));
    assert!(holds("last_order_at within_days 26"));
    assert!(!holds("last_order_at within_days 25"));
    assert!(holds("has_role(decision_maker) and not has_role(champion)"));
    assert!(holds("attributes.tier = gold"));
    assert!(!holds("attributes.missing = gold"));
    // No value: every comparison is false, `exists` too; `not` turns it around.
    assert!(!holds("xyz = Z"));
    assert!(!holds("xyz != Z"));
    assert!(holds("not xyz = Z"));
    assert!(!holds("xyz exists"));
    assert!(holds("lost = false"));
    assert!(holds("true"));
    assert!(!holds("false"));
    // Both sides fold case the same way (a final sigma included).
    let mut g = facts();
    g.set("name", Some("ΟΔΟΣ".to_string()));
    assert!(
        Rule::parse_text("name = \"ΟΔΟΣ\"")
            .expect("rule")
            .matches(&g)
    );
    assert!(Rule::parse_text("name = οδοσ").expect("rule").matches(&g));
}

// ---- property tests ----

fn leaf() -> impl Strategy<Value = Rule> {
    let text = "[ -~À-ỹ]{0,8}";
    prop_oneof![
        prop::sample::select(fields::ABC).prop_map(|v| Rule::Cmp {
            field: "abc".into(),
            op: Op::Eq,
            value: Value::Text(v.into())
        }),
        (prop::sample::subsequence(fields::XYZ, 1..=3)).prop_map(|vs| Rule::In {
            field: "xyz".into(),
            values: vs.into_iter().map(|v| Value::Text(v.into())).collect()
        }),
        (
            prop::sample::select(vec![Op::Lt, Op::Lte, Op::Gt, Op::Gte, Op::Eq, Op::Ne]),
            prop_oneof![
                -1.0e9f64..1.0e9,
                -1.0e300f64..1.0e300,
                Just(-0.0),
                Just(1e21)
            ]
        )
            .prop_map(|(op, n)| Rule::Cmp {
                field: "revenue".into(),
                op,
                value: Value::Num(n)
            }),
        (0i64..1000, 0i64..1000).prop_map(|(a, b)| Rule::Between {
            field: "days_since_last_order".into(),
            low: Value::Num(a.min(b) as f64),
            high: Value::Num(a.max(b) as f64)
        }),
        prop::sample::select(fields::TYPES).prop_map(|t| Rule::Cmp {
            field: "types".into(),
            op: Op::Contains,
            value: Value::Text(t.into())
        }),
        (
            text,
            prop::sample::select(vec![Op::Eq, Op::Ne, Op::Contains])
        )
            .prop_map(|(s, op)| {
                Rule::Cmp {
                    field: "industry".into(),
                    op,
                    value: Value::Text(s),
                }
            }),
        ("[a-zA-Zđ_][a-zA-Z0-9_.đ]{0,6}", any::<bool>()).prop_map(|(k, b)| Rule::Cmp {
            field: format!("attributes.{k}"),
            op: Op::Eq,
            value: Value::Bool(b)
        }),
        any::<bool>().prop_map(|b| Rule::Cmp {
            field: "lost".into(),
            op: Op::Eq,
            value: Value::Bool(b)
        }),
        (0i64..3650).prop_map(|d| Rule::WithinDays {
            field: "last_order_at".into(),
            days: d
        }),
        (0i32..3_652_000).prop_map(|d| Rule::Cmp {
            field: "created_at".into(),
            op: Op::Gte,
            value: Value::Date(NaiveDate::from_num_days_from_ce_opt(1 + d).expect("date"))
        }),
        prop::sample::select(fields::ROLES).prop_map(|r| Rule::HasRole(r.into())),
        Just(Rule::Exists {
            field: "region".into()
        }),
    ]
}

fn rule() -> impl Strategy<Value = Rule> {
    leaf().prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Rule::All),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Rule::Any),
            inner.clone().prop_map(|r| Rule::Not(Box::new(r))),
            inner.prop_map(|r| Rule::Not(Box::new(Rule::Not(Box::new(r))))),
        ]
    })
}

proptest! {
    /// Canonical trees print to text that parses back to the same tree, in both forms.
    #[test]
    fn text_and_json_round_trip(r in rule()) {
        let r = r.normalize();
        let text = r.to_text();
        prop_assert_eq!(Rule::parse_text(&text), Ok(r.clone()), "text: {}", text);
        prop_assert_eq!(Rule::from_json(&r.to_json()), Ok(r.clone()));
        // Printing is stable.
        prop_assert_eq!(Rule::parse_text(&text).map(|p| p.to_text()), Ok(text));
    }

    /// An unknown field anywhere is reported at its own column.
    #[test]
    fn unknown_field_position_is_exact(r in rule(), name in "zz[a-z]{1,5}") {
        let r = r.normalize();
        let prefix = format!("{} and ", match &r {
            Rule::Any(p) if p.len() > 1 => format!("({})", r.to_text()),
            _ => r.to_text(),
        });
        let text = format!("{prefix}{name} = 1");
        let e = Rule::parse_text(&text).expect_err("unknown field");
        prop_assert_eq!(e.location, Location::Text {
            column: prefix.chars().count() + 1,
            offset: prefix.len(),
        }, "{}", text);
    }

    /// Evaluation agrees with the meaning of all/any/not, whatever the facts.
    #[test]
    fn combinators_mean_what_they_say(parts in prop::collection::vec(rule(), 0..4)) {
        let f = facts();
        let each: Vec<bool> = parts.iter().map(|p| p.matches(&f)).collect();
        prop_assert_eq!(Rule::All(parts.clone()).matches(&f), each.iter().all(|b| *b));
        prop_assert_eq!(Rule::Any(parts.clone()).matches(&f), each.iter().any(|b| *b));
        for (p, b) in parts.iter().zip(&each) {
            prop_assert_eq!(Rule::Not(Box::new(p.clone())).matches(&f), !b);
            prop_assert_eq!(p.clone().normalize().matches(&f), *b);
        }
    }
}
