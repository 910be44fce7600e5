//! A configuration outside the limits is refused where it enters: building a `Linker` or a
//! `PatientIndex`, or loading an index. It used to be accepted and to panic in the first score.

use ehrkit_identity::{
    BatchOptions, Comparison, Error, Field, FsModel, Level, Linker, MatchConfig, PatientIndex,
    PatientRecord,
};

fn person(key: &str, given: &str) -> PatientRecord {
    PatientRecord::builder(key)
        .name("Smith", given)
        .birth_date_str("1970-03-14")
        .ssn("123-45-6789")
        .build()
}

/// 17 comparisons (the limit is 16).
fn too_many_comparisons() -> MatchConfig {
    let mut cfg = MatchConfig::default();
    for _ in 0..4 {
        cfg.comparisons.push(Comparison::exact(Field::Sex));
    }
    cfg
}

/// A comparison of 15 levels (the limit is 14).
fn too_many_levels() -> MatchConfig {
    let mut cfg = MatchConfig::default();
    cfg.comparisons[0].levels = (0..15)
        .map(|i| Level::JaroWinkler {
            min: 0.99 - 0.01 * i as f32,
        })
        .collect();
    cfg
}

#[test]
fn linker_refuses_a_config_over_the_limits() {
    // Before: `Linker::new` accepted these and `link` panicked (index out of bounds).
    assert!(matches!(
        Linker::new(too_many_comparisons()),
        Err(Error::ComparisonCount { count: 17 })
    ));
    assert!(matches!(
        Linker::new(too_many_levels()),
        Err(Error::LevelCount {
            index: 0,
            field: Field::GivenName,
            levels: 15
        })
    ));
    // A model edited by hand is checked too.
    let mut model = FsModel::untrained(MatchConfig::default());
    model.config = too_many_comparisons();
    assert!(matches!(
        Linker::with_model(model),
        Err(Error::ComparisonCount { count: 17 })
    ));
    let mut model = FsModel::untrained(MatchConfig::default());
    model.u[2].pop();
    assert!(matches!(
        Linker::with_model(model),
        Err(Error::ModelShape {
            table: "u",
            index: 2
        })
    ));
    // A valid one links (two records are too few to train on: score with the untrained model).
    let a = [person("a", "Robert")];
    let b = [person("b", "Bob")];
    let res = Linker::new(MatchConfig::default())
        .unwrap()
        .options(BatchOptions {
            skip_training: true,
            ..BatchOptions::default()
        })
        .link(&a, &b);
    assert_eq!(res.matches().count(), 1);
}

#[test]
fn index_refuses_a_model_over_the_limits() {
    // Before: `PatientIndex::new` accepted these and the second upsert panicked.
    assert!(matches!(
        PatientIndex::new(FsModel::untrained(too_many_comparisons())),
        Err(Error::ComparisonCount { count: 17 })
    ));
    assert!(matches!(
        PatientIndex::new(FsModel::untrained(too_many_levels())),
        Err(Error::LevelCount { levels: 15, .. })
    ));
    let mut model = FsModel::untrained(MatchConfig::default());
    model.m.pop();
    assert!(matches!(
        PatientIndex::new(model),
        Err(Error::ModelShape { table: "m", .. })
    ));
    let idx = PatientIndex::new(FsModel::untrained(MatchConfig::default())).unwrap();
    let first = idx.upsert(person("a", "Robert")).unwrap();
    let second = idx.upsert(person("b", "Bob")).unwrap();
    assert_eq!(first.enterprise_id, second.enterprise_id);
}

/// A valid index's JSON with its model edited by `edit`.
fn edited_index_json(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let idx = PatientIndex::new(FsModel::untrained(MatchConfig::default())).unwrap();
    idx.upsert(person("a", "Robert")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&idx.to_json().unwrap()).unwrap();
    edit(&mut v["model"]);
    v.to_string()
}

#[test]
fn from_json_reports_the_typed_config_error() {
    // Before: each of these came out as `SnapshotJson { category: Data, .. }`.
    let json = edited_index_json(|model| {
        let extra = serde_json::to_value(Comparison::exact(Field::Sex)).unwrap();
        let cmps = model["config"]["comparisons"].as_array_mut().unwrap();
        for _ in 0..4 {
            cmps.push(extra.clone());
        }
    });
    let e = PatientIndex::from_json(&json).unwrap_err();
    assert!(matches!(e, Error::ComparisonCount { count: 17 }), "{e:?}");

    let json = edited_index_json(|model| {
        model["config"]["thresholds"]["possible_probability"] = 0.99.into();
        model["config"]["thresholds"]["match_probability"] = 0.5.into();
    });
    let e = PatientIndex::from_json(&json).unwrap_err();
    assert!(matches!(e, Error::Thresholds { .. }), "{e:?}");

    let json = edited_index_json(|model| {
        model["m"].as_array_mut().unwrap().pop();
    });
    let e = PatientIndex::from_json(&json).unwrap_err();
    assert!(
        matches!(
            e,
            Error::ModelShape {
                table: "m",
                index: 12
            }
        ),
        "{e:?}"
    );

    // Malformed JSON is still `SnapshotJson`, located; an unedited snapshot loads.
    let json = edited_index_json(|_| {});
    let e = PatientIndex::from_json(&json[..json.len() - 1]).unwrap_err();
    assert!(matches!(e, Error::SnapshotJson { line: 1, .. }), "{e:?}");
    let back = PatientIndex::from_json(&json).unwrap();
    assert_eq!(back.len(), 1);
}
