//! Comparators, rules and scores on authored cases (generic prior model, default rules).

use ehrkit_identity::{
    Address, BlockKey, BlockingRule, Comparison, Condition, DeterministicRule, Field, FsModel,
    Level, MatchConfig, NameType, PatientRecord, PersonName, Verdict,
};

fn addr(line: &str, city: &str, post: &str) -> Address {
    Address {
        lines: vec![line.to_string()],
        city: city.into(),
        state: "MA".into(),
        postcode: post.into(),
        ..Address::default()
    }
}

fn person(key: &str, family: &str, given: &str, dob: &str, ssn: &str) -> PatientRecord {
    PatientRecord::builder(key)
        .name(family, given)
        .birth_date_str(dob)
        .ssn(ssn)
        .address(addr("12 Elm Street", "Springfield", "01101"))
        .build()
}

/// Explains `a` vs `b` under `cfg` and returns (explanation, level label per field).
fn explain(cfg: MatchConfig, a: &PatientRecord, b: &PatientRecord) -> ehrkit_identity::Explanation {
    let model = FsModel::untrained(cfg);
    let fa = model.features(std::slice::from_ref(a));
    let fb = model.features(std::slice::from_ref(b));
    model.explain(&fa, 0, &fb, 0)
}

fn level(e: &ehrkit_identity::Explanation, f: Field) -> String {
    e.fields
        .iter()
        .find(|c| c.field == f)
        .map(|c| c.level.clone())
        .unwrap()
}

#[test]
fn identical_records_match_with_positive_weights() {
    let a = person("a", "Smith", "Robert", "1970-03-14", "123-45-6789");
    let e = explain(MatchConfig::default(), &a, &a.clone());
    assert_eq!(e.score.verdict, Verdict::Match);
    for f in [
        Field::GivenName,
        Field::FamilyName,
        Field::BirthDate,
        Field::Ssn,
        Field::Postcode,
    ] {
        assert_eq!(level(&e, f), "exact");
    }
    assert_eq!(level(&e, Field::Phone), "null");
    assert!(e
        .fields
        .iter()
        .filter(|c| c.level == "exact")
        .all(|c| c.weight > 0.0));
    // The explanation adds up.
    let sum: f32 = e.prior_weight
        + e.fields
            .iter()
            .map(|c| c.weight + c.tf_adjustment)
            .sum::<f32>();
    assert!((sum - e.score.weight).abs() < 1e-3);
    assert!(e.to_string().contains("given_name"));
}

#[test]
fn nickname_is_its_own_level_and_matches() {
    let a = person("a", "Smith", "Robert", "1970-03-14", "123456789");
    let b = person("b", "SMITH", "Bob", "1970-03-14", "123456789");
    let e = explain(MatchConfig::default(), &a, &b);
    assert_eq!(level(&e, Field::GivenName), "nickname");
    assert_eq!(e.score.verdict, Verdict::Match);
    let g = e
        .fields
        .iter()
        .find(|c| c.field == Field::GivenName)
        .unwrap();
    assert!(g.weight > 0.0, "nickname agreement is evidence for a match");
}

#[test]
fn transposed_birth_date_is_detected() {
    let a = person("a", "Jones", "Maria", "1980-03-04", "222334444");
    let b = person("b", "Jones", "Maria", "1980-04-03", "222334444");
    let e = explain(MatchConfig::default(), &a, &b);
    assert_eq!(level(&e, Field::BirthDate), "day_month_transposed");
    assert_eq!(e.score.verdict, Verdict::Match);
    // A day/month transposition weighs more than an unrelated date.
    let c = person("c", "Jones", "Maria", "1961-11-20", "222334444");
    let e2 = explain(MatchConfig::default(), &a, &c);
    assert_eq!(level(&e2, Field::BirthDate), "else");
    assert!(e.score.weight > e2.score.weight + 5.0);
}

#[test]
fn married_name_change_matches_through_the_maiden_name() {
    let old = person("old", "Smith", "Jennifer", "1985-07-01", "");
    let new = PatientRecord::builder("new")
        .name("Johnson", "Jennifer")
        .person_name(PersonName::new("Smith", "Jennifer").name_type(NameType::Maiden))
        .birth_date_str("1985-07-01")
        .address(addr("12 Elm Street", "Springfield", "01101"))
        .build();
    let e = explain(MatchConfig::default(), &old, &new);
    assert_eq!(level(&e, Field::FamilyName), "exact");
    assert_eq!(e.score.verdict, Verdict::Match);
    // Without the maiden name the family names disagree and the score drops.
    let bare = person("bare", "Johnson", "Jennifer", "1985-07-01", "");
    let e2 = explain(MatchConfig::default(), &old, &bare);
    assert_eq!(level(&e2, Field::FamilyName), "else");
    assert!(e2.score.weight < e.score.weight);
}

#[test]
fn twins_are_not_linked() {
    let a = person("a", "Garcia", "Sofia", "2001-05-05", "111223333");
    let b = person("b", "Garcia", "Lucas", "2001-05-05", "555667777");
    let e = explain(MatchConfig::default(), &a, &b);
    assert_eq!(level(&e, Field::GivenName), "else");
    assert_eq!(e.rule.as_deref(), Some("twin-guard"));
    assert_eq!(e.score.verdict, Verdict::NoMatch);
    // Twins with consecutive SSNs: the optional review rule sends them to a human.
    let c = person("c", "Garcia", "Lucas", "2001-05-05", "111223334");
    let mut cfg = MatchConfig::default();
    cfg.rules.push(DeterministicRule::twin_review());
    let e = explain(cfg, &a, &c);
    assert_eq!(e.rule.as_deref(), Some("twin-review"));
    assert_eq!(e.score.verdict, Verdict::PossibleMatch);
}

#[test]
fn same_name_different_birth_date() {
    // Father and son at one address with different SSNs.
    let a = person("a", "Brown", "James", "1950-02-11", "123450000");
    let b = person("b", "Brown", "James", "1983-09-30", "987650000");
    let e = explain(MatchConfig::default(), &a, &b);
    assert_eq!(level(&e, Field::BirthDate), "else");
    assert_eq!(e.rule.as_deref(), Some("generation-guard"));
    assert_eq!(e.score.verdict, Verdict::NoMatch);
    // Without SSNs no rule fires; the date disagreement costs weight against the same pair
    // with equal dates.
    let a2 = person("a2", "Brown", "James", "1950-02-11", "");
    let b2 = person("b2", "Brown", "James", "1983-09-30", "");
    let b3 = person("b3", "Brown", "James", "1950-02-11", "");
    let diff = explain(MatchConfig::default(), &a2, &b2);
    let same = explain(MatchConfig::default(), &a2, &b3);
    assert_eq!(diff.rule, None);
    assert!(same.score.weight - diff.score.weight > 10.0);
}

#[test]
fn missing_ssn_is_neutral() {
    let a = person("a", "Nguyen", "Linh", "1992-12-01", "444556666");
    let b = person("b", "Nguyen", "Linh", "1992-12-01", "");
    let e = explain(MatchConfig::default(), &a, &b);
    let s = e.fields.iter().find(|c| c.field == Field::Ssn).unwrap();
    assert_eq!(s.level, "null");
    assert_eq!(s.weight, 0.0);
    assert_eq!(e.score.verdict, Verdict::Match);
}

#[test]
fn ssn_typo_levels() {
    let a = person("a", "Lee", "Ann", "1990-01-01", "123456789");
    let b = person("b", "Lee", "Ann", "1990-01-01", "123456798");
    assert_eq!(
        level(&explain(MatchConfig::default(), &a, &b), Field::Ssn),
        "damerau<=1"
    );
    let c = person("c", "Lee", "Ann", "1990-01-01", "123450089");
    assert_eq!(
        level(&explain(MatchConfig::default(), &a, &c), Field::Ssn),
        "damerau<=2"
    );
}

/// One comparison of one field under `levels`; returns the level label.
fn compare_with(field: Field, levels: Vec<Level>, a: &PatientRecord, b: &PatientRecord) -> String {
    let cfg = MatchConfig {
        comparisons: vec![Comparison::new(field, levels)],
        blocking: vec![BlockingRule::new("x", vec![BlockKey::exact(field)])],
        ..MatchConfig::default()
    };
    level(&explain(cfg, a, b), field)
}

#[test]
fn every_level_kind() {
    let r = |g: &str, f: &str, dob: &str| person("k", f, g, dob, "");
    let name_levels = vec![
        Level::Exact,
        Level::Nickname,
        Level::JaroWinkler { min: 0.92 },
        Level::Phonetic,
        Level::Levenshtein { max: 2 },
        Level::Initial,
    ];
    let cmp = |x: &str, y: &str| {
        compare_with(
            Field::GivenName,
            name_levels.clone(),
            &r(x, "A", ""),
            &r(y, "A", ""),
        )
    };
    assert_eq!(cmp("José", "jose"), "exact");
    assert_eq!(cmp("William", "Bill"), "nickname");
    assert_eq!(cmp("Jonathon", "Jonathan"), "jaro_winkler>=0.92");
    assert_eq!(cmp("Katherine", "Cathryn"), "phonetic");
    assert_eq!(cmp("Abc", "Xbz"), "levenshtein<=2");
    assert_eq!(cmp("J", "Jxxxxxx"), "initial");
    assert_eq!(cmp("Zed", "Paul"), "else");
    assert_eq!(cmp("", "Paul"), "null");
    let date_levels = vec![
        Level::Exact,
        Level::DateTransposed,
        Level::Damerau { max: 1 },
        Level::DateWithinDays { days: 30 },
    ];
    let d = |x: &str, y: &str| {
        compare_with(
            Field::BirthDate,
            date_levels.clone(),
            &r("a", "b", x),
            &r("a", "b", y),
        )
    };
    assert_eq!(d("2000-01-02", "2000-01-02"), "exact");
    assert_eq!(d("2000-01-02", "2000-02-01"), "day_month_transposed");
    assert_eq!(d("2000-01-02", "2000-01-03"), "damerau<=1");
    assert_eq!(d("2000-01-25", "2000-02-03"), "within_30_days");
    assert_eq!(d("2000-01-25", "1990-07-03"), "else");
    assert_eq!(d("2000-01-25", ""), "null");
}

fn with_ids(key: &str, family: &str, given: &str, ids: &[(&str, &str)]) -> PatientRecord {
    let mut b = PatientRecord::builder(key)
        .name(family, given)
        .birth_date_str("1970-01-01");
    for (auth, v) in ids {
        b = b.identifier(auth, "MR", v);
    }
    b.build()
}

#[test]
fn identifier_rules() {
    // Same MRN in the same authority: MATCH even with different demographics.
    let a = with_ids("a", "Smith", "Ann", &[("EPIC", "100")]);
    let b = with_ids("b", "Jones", "Zed", &[("epic", "100")]);
    let e = explain(MatchConfig::default(), &a, &b);
    assert_eq!(e.rule.as_deref(), Some("same-identifier"));
    assert_eq!(e.score.verdict, Verdict::Match);
    // Conflicting MRNs within one authority: NO MATCH even with identical demographics.
    let c = with_ids("c", "Smith", "Ann", &[("EPIC", "200")]);
    let e = explain(MatchConfig::default(), &a, &c);
    assert_eq!(e.rule.as_deref(), Some("identifier-conflict"));
    assert_eq!(e.score.verdict, Verdict::NoMatch);
    // Different authorities do not conflict: demographics decide.
    let d = with_ids("d", "Smith", "Ann", &[("CERNER", "200")]);
    let e = explain(MatchConfig::default(), &a, &d);
    assert_eq!(e.rule, None);
    // A record holding both the shared MRN and another in a second authority still matches.
    let f = with_ids("f", "Smith", "Ann", &[("EPIC", "100"), ("CERNER", "9")]);
    assert_eq!(
        explain(MatchConfig::default(), &a, &f).score.verdict,
        Verdict::Match
    );
}

#[test]
fn rules_and_config_are_data() {
    let json = r#"{
        "name": "ssn-and-dob",
        "when": {"kind": "all", "of": [
            {"kind": "fields_exact", "fields": ["Ssn", "BirthDate"]},
            {"kind": "not", "of": {"kind": "conflicting_identifier", "authority": "EPIC"}}
        ]},
        "verdict": "match"
    }"#;
    let rule: DeterministicRule = serde_json::from_str(json).unwrap();
    assert!(matches!(rule.when, Condition::All { .. }));
    let cfg = MatchConfig {
        rules: vec![rule],
        ..MatchConfig::default()
    };
    cfg.validate().unwrap();
    let text = serde_json::to_string(&cfg).unwrap();
    let back: MatchConfig = serde_json::from_str(&text).unwrap();
    assert_eq!(back, cfg);
    // The rule decides: different names, same SSN and DOB.
    let a = person("a", "Smith", "Ann", "1970-01-01", "123456789");
    let b = person("b", "Jones", "Zed", "1970-01-01", "123456789");
    let e = explain(cfg, &a, &b);
    assert_eq!(e.rule.as_deref(), Some("ssn-and-dob"));
    assert_eq!(e.score.verdict, Verdict::Match);
    // Invalid configurations are reported.
    let mut bad = MatchConfig::default();
    bad.thresholds.possible_probability = 0.99;
    bad.thresholds.match_probability = 0.5;
    assert!(bad.validate().is_err());
}

#[test]
fn model_round_trips_through_json() {
    let model = FsModel::untrained(MatchConfig::default());
    let text = serde_json::to_string(&model).unwrap();
    let back: FsModel = serde_json::from_str(&text).unwrap();
    let a = person("a", "Smith", "Robert", "1970-03-14", "123456789");
    let b = person("b", "Smith", "Bob", "1970-03-14", "");
    let (fa, fb) = (
        model.features(std::slice::from_ref(&a)),
        model.features(std::slice::from_ref(&b)),
    );
    let (ga, gb) = (
        back.features(std::slice::from_ref(&a)),
        back.features(std::slice::from_ref(&b)),
    );
    assert_eq!(model.score(&fa, 0, &fb, 0), back.score(&ga, 0, &gb, 0));
}

mod props {
    use ehrkit_identity::compare::{jaro_winkler, levenshtein, osa_bounded};
    use ehrkit_identity::csv::read_records;
    use ehrkit_identity::normalize::{fold, parse_date, DayMonthOrder, PartialDate};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn date_round_trip(y in 1000u16..2999, m in 1u8..=12, d in 1u8..=31) {
            if let Some(date) = PartialDate::ymd(y, m, d) {
                let iso = date.to_string();
                prop_assert_eq!(parse_date(&iso, DayMonthOrder::DayFirst).unwrap().date, date);
                let compact = format!("{}", date.packed());
                prop_assert_eq!(parse_date(&compact, DayMonthOrder::DayFirst).unwrap().date, date);
                let us = format!("{m:02}/{d:02}/{y}");
                let p = parse_date(&us, DayMonthOrder::MonthFirst).unwrap();
                prop_assert_eq!(p.date, date);
                prop_assert_eq!(p.transposed.is_some(), d <= 12 && d != m);
            }
        }

        #[test]
        fn parse_date_never_panics(s in ".{0,20}") {
            let _ = parse_date(&s, DayMonthOrder::MonthFirst);
        }

        #[test]
        fn fold_is_idempotent_ascii(s in "\\PC{0,30}") {
            let f = fold(&s);
            prop_assert_eq!(fold(&f), f.clone());
            prop_assert!(!f.starts_with(' ') && !f.ends_with(' '));
        }

        #[test]
        fn comparators_are_symmetric_and_bounded(a in "[a-e]{0,12}", b in "[a-e]{0,12}") {
            let (x, y) = (a.as_bytes(), b.as_bytes());
            let j = jaro_winkler(x, y);
            prop_assert!((0.0..=1.0 + 1e-12).contains(&j));
            prop_assert!((j - jaro_winkler(y, x)).abs() < 1e-9 || x.first() != y.first());
            let l = levenshtein(x, y);
            prop_assert_eq!(l, levenshtein(y, x));
            prop_assert_eq!(l, strsim::levenshtein(&a, &b));
            prop_assert_eq!(osa_bounded(x, y, 20), Some(strsim::osa_distance(&a, &b)));
        }

        #[test]
        fn csv_round_trip(rows in proptest::collection::vec(("[a-z]{0,8}", "[a-z ,\"]{0,8}", "[0-9]{0,8}"), 0..8)) {
            let mut text = String::from("rec_id,given_name,surname,date_of_birth\n");
            for (i, (g, s, d)) in rows.iter().enumerate() {
                text.push_str(&format!("r{i},{g},\"{}\",{d}\n", s.replace('"', "\"\"")));
            }
            let recs = read_records(&text).unwrap();
            prop_assert_eq!(recs.len(), rows.len());
            for (r, (g, s, _)) in recs.iter().zip(&rows) {
                prop_assert_eq!(&r.names[0].given, g.trim());
                prop_assert_eq!(&r.names[0].family, s.trim());
            }
        }
    }
}
