//! Segment groups over the messages under `tests/data/dt_*`, and structural checks of the groups
//! (and typed header fields) over the shared corpus.

use ehrkit_hl7v2::datatypes::{Cx, Dtm, FromRaw, Msg};
use ehrkit_hl7v2::groups::{self, Group, GroupSpec};
use ehrkit_hl7v2::{Message, Segment};

fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn names<'m>(segs: impl Iterator<Item = Segment<'m>>) -> Vec<&'m str> {
    segs.map(|s| s.name()).collect()
}

fn field(seg: Segment<'_>, rel: &str) -> String {
    seg.get(rel).map(|v| v.into_owned()).unwrap_or_default()
}

#[test]
fn oru_patient_results_and_order_observations() {
    let input = data("dt_oru_r01_two_patients.hl7");
    let msg = Message::parse(&input).unwrap();

    let patients: Vec<_> = groups::patient_results(&msg).collect();
    assert_eq!(patients.len(), 2);

    let p1 = &patients[0];
    assert_eq!(field(p1.pid().unwrap(), "3.1"), "E4567890");
    assert_eq!(field(p1.pv1().unwrap(), "2"), "O");
    assert!(p1.pv2().is_none());
    assert_eq!(p1.notes().count(), 0);
    let orders: Vec<_> = p1.order_observations().collect();
    assert_eq!(orders.len(), 2);

    let cmp = &orders[0];
    assert_eq!(field(cmp.orc().unwrap(), "1"), "RE");
    assert_eq!(
        field(cmp.obr().unwrap(), "4.2"),
        "Comprehensive metabolic panel"
    );
    assert_eq!(names(cmp.notes()), ["NTE"]);
    assert_eq!(
        field(cmp.notes().next().unwrap(), "3"),
        "Specimen slightly hemolyzed."
    );
    let obs: Vec<_> = cmp.observations().collect();
    assert_eq!(
        obs.len(),
        3,
        "the specimen's OBX is not an observation of the order"
    );
    assert_eq!(field(obs[0].obx(), "3.1"), "2345-7");
    assert_eq!(names(obs[0].notes()), ["NTE"]);
    assert_eq!(
        field(obs[0].notes().next().unwrap(), "3"),
        "Patient was not fasting."
    );
    assert_eq!(obs[1].notes().count(), 0);
    assert_eq!(field(obs[2].obx(), "2"), "FT");
    let specimens: Vec<_> = cmp.specimens().collect();
    assert_eq!(specimens.len(), 1);
    assert_eq!(names(specimens[0].segments()), ["SPM", "OBX"]);
    assert_eq!(
        field(specimens[0].all("OBX").next().unwrap(), "3.1"),
        "33882-2"
    );

    let cbc = &orders[1];
    assert!(cbc.orc().is_none(), "OBR without ORC");
    assert_eq!(field(cbc.obr().unwrap(), "2.1"), "ORD1002");
    assert_eq!(cbc.observations().count(), 1);
    assert_eq!(cbc.specimens().count(), 0);

    let p2 = &patients[1];
    assert_eq!(field(p2.pid().unwrap(), "5.1"), "JONES");
    assert!(p2.pv1().is_none());
    let orders: Vec<_> = p2.order_observations().collect();
    assert_eq!(orders.len(), 1);
    let obs: Vec<_> = orders[0].observations().collect();
    assert_eq!(obs.len(), 2);
    assert_eq!(names(obs[1].notes()), ["NTE", "NTE"]);
    assert_eq!(field(obs[1].notes().nth(1).unwrap(), "3"), "Call patient.");

    // Across patients: all ORDER_OBSERVATIONs of the message.
    let all: Vec<_> = groups::order_observations(&msg).collect();
    assert_eq!(all.len(), 3);
    assert_eq!(
        all.iter().map(|o| o.group().len()).collect::<Vec<_>>(),
        [9, 2, 6]
    );
}

#[test]
fn oru_without_pid_has_one_patientless_result() {
    let msg = Message::parse(
        b"MSH|^~\\&|LAB|H|EHR|H|20240101||ORU^R01|1|P|2.5.1\rOBR|1||A1\rOBX|1|NM|X||1\rOBR|2||A2\rOBX|1|NM|Y||2\r",
    )
    .unwrap();
    let patients: Vec<_> = groups::patient_results(&msg).collect();
    assert_eq!(patients.len(), 1);
    assert!(patients[0].pid().is_none());
    assert_eq!(patients[0].order_observations().count(), 2);
    assert_eq!(patients[0].group().range(), 1..5);
}

#[test]
fn adt_insurance_runs() {
    let input = data("dt_epic_adt_a01.hl7");
    let msg = Message::parse(&input).unwrap();
    let ins: Vec<_> = groups::insurances(&msg).collect();
    assert_eq!(ins.len(), 3);

    assert_eq!(field(ins[0].in1(), "2.2"), "Blue Cross PPO");
    assert_eq!(field(ins[0].in2().unwrap(), "3"), "ACME CORP");
    let certs: Vec<_> = ins[0].in3().map(|s| field(s, "2")).collect();
    assert_eq!(certs, ["CERT001", "CERT002"]);
    assert_eq!(ins[0].rol().count(), 0);

    assert_eq!(field(ins[1].in1(), "4"), "CENTERS FOR MEDICARE");
    assert!(ins[1].in2().is_none());
    assert_eq!(ins[1].in3().count(), 0);

    assert_eq!(field(ins[2].in1(), "2.1"), "SELF");
    assert_eq!(names(ins[2].group().segments()), ["IN1", "IN2"]);
    // The Z-segment after the last insurance is not part of it.
    assert_eq!(ins[2].group().range().end, msg.segment_count() - 1);
    let company: Cx<'_> = Cx::from_raw(ins[1].in1().raw("3").unwrap(), msg.delimiters()).unwrap();
    assert_eq!(company.assigning_authority().unwrap().raw(), b"CMS");
}

#[test]
fn orm_orders() {
    let input = data("dt_orm_o01.hl7");
    let msg = Message::parse(&input).unwrap();
    let orders: Vec<_> = groups::orders(&msg).collect();
    assert_eq!(orders.len(), 3);

    let o1 = &orders[0];
    assert_eq!(field(o1.orc().unwrap(), "2.1"), "ORD3001");
    assert_eq!(field(o1.obr().unwrap(), "4.1"), "80053");
    assert_eq!(
        field(o1.notes().next().unwrap(), "3"),
        "Fasting specimen requested."
    );
    assert_eq!(field(o1.diagnoses().next().unwrap(), "3.1"), "E11.9");
    assert_eq!(o1.observations().count(), 0);

    let o2 = &orders[1];
    assert_eq!(o2.detail().unwrap().name(), "OBR");
    let obs: Vec<_> = o2.observations().collect();
    assert_eq!(obs.len(), 1);
    assert_eq!(field(obs[0].obx(), "5"), "72.5");

    let cancel = &orders[2];
    assert_eq!(field(cancel.orc().unwrap(), "1"), "CA");
    assert!(cancel.detail().is_none());
    assert_eq!(cancel.group().len(), 1);
}

#[test]
fn pharmacy_order_detail_and_custom_groups() {
    let msg = Message::parse(
        b"MSH|^~\\&|A|B|C|D|20240101||ORM^O01|1|P|2.3\rPID|1||9\rORC|NW|RX1\rRXO|RX^Amoxicillin\rRXR|PO\rNTE|1||with food\rORC|NW|RX2\rRXO|RX^Ibuprofen\rZRX|1\r",
    )
    .unwrap();
    let orders: Vec<_> = groups::orders(&msg).collect();
    assert_eq!(orders.len(), 2);
    assert_eq!(orders[0].detail().unwrap().name(), "RXO");
    assert!(orders[0].obr().is_none());
    assert_eq!(
        names(orders[0].group().segments()),
        ["ORC", "RXO", "RXR", "NTE"]
    );
    assert_eq!(names(orders[1].group().segments()), ["ORC", "RXO", "ZRX"]);

    // A structure of my own: each PID with the Z-segments that follow it.
    let spec = GroupSpec {
        head: &["PID"],
        body: &["Z*", "ORC|RXO|RXR|NTE"],
    };
    let mine: Vec<Group<'_>> = groups::groups(&msg, &spec).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].len(), 8);
    assert_eq!(mine[0].first("Z*").unwrap().name(), "ZRX");
    // Nested: the RXO groups inside it.
    let inner = GroupSpec {
        head: &["RXO"],
        body: &["RXR", "NTE"],
    };
    let rx: Vec<_> = mine[0].groups(&inner).map(|g| g.len()).collect();
    assert_eq!(rx, [3, 1]);
}

// ------------------------------------------------------------------------ shared corpus checks

fn corpus_messages() -> Option<Vec<(String, Vec<u8>)>> {
    let dir = ehrkit_testkit::shared::require("corpus/hl7v2", "corpus group checks")?;
    let out = ehrkit_testkit::shared::files(&dir, &["hl7", "txt"])
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    Some(out)
}

/// Groups of a spec are disjoint, in order, open with a head segment and hold only head or body
/// segments.
fn check_partition(msg: &Message<'_>, spec: &GroupSpec<'_>, file: &str) -> usize {
    let mut last_end = 0;
    let mut n = 0;
    for g in groups::groups(msg, spec) {
        let r = g.range();
        assert!(r.start >= last_end && r.start < r.end, "{file}: {r:?}");
        assert!(
            spec.head
                .iter()
                .any(|h| h.split('|').any(|p| p == g.head().name())),
            "{file}"
        );
        last_end = r.end;
        n += 1;
    }
    n
}

#[test]
fn corpus_groups_are_consistent() {
    let Some(files) = corpus_messages() else {
        return;
    };
    let (mut messages, mut oru, mut obx_grouped, mut dtm_ok, mut dtm_valued) = (0, 0, 0, 0, 0);
    for (file, bytes) in &files {
        for msg in Message::parse_all(bytes) {
            let Ok(msg) = msg else { continue };
            messages += 1;
            let count = |id: &str| msg.segments().filter(|s| s.name() == id).count();

            // Typed header fields.
            if let Some(raw) = msg.raw("MSH-7").filter(|r| !r.is_empty()) {
                dtm_valued += 1;
                if Dtm::from_raw(raw, msg.delimiters()).is_ok() {
                    dtm_ok += 1;
                }
            }
            let kind = msg
                .raw("MSH-9")
                .map(|r| Msg::from_raw(r, msg.delimiters()).unwrap())
                .and_then(|m| m.message_code())
                .map(|c| c.decode_lossy().into_owned())
                .unwrap_or_default();

            for spec in [
                &groups::ORDER_OBSERVATION,
                &groups::PATIENT_RESULT,
                &groups::INSURANCE,
                &groups::ORDER,
            ] {
                check_partition(&msg, spec, file);
            }
            // Every IN1 opens one insurance group; every PID one patient result (when any).
            assert_eq!(groups::insurances(&msg).count(), count("IN1"), "{file}");
            if count("PID") > 0 {
                assert_eq!(
                    groups::patient_results(&msg).count(),
                    count("PID"),
                    "{file}"
                );
            }
            // Every ORC opens one order group.
            let orc_heads = groups::orders(&msg).filter(|o| o.orc().is_some()).count();
            assert_eq!(orc_heads, count("ORC"), "{file}");

            if kind == "ORU" {
                oru += 1;
                // Every OBX after the first OBR is in exactly one observation or specimen group.
                let mut seen = vec![0u8; msg.segment_count()];
                for p in groups::patient_results(&msg) {
                    for o in p.order_observations() {
                        for ob in o.observations() {
                            seen[ob.obx().index()] += 1;
                        }
                        for s in o.specimens() {
                            for x in s.all("OBX") {
                                seen[x.index()] += 1;
                            }
                        }
                    }
                }
                let first_obr = msg.segments().position(|s| s.name() == "OBR");
                for s in msg.segments().filter(|s| s.name() == "OBX") {
                    if first_obr.is_some_and(|f| s.index() > f) {
                        assert_eq!(seen[s.index()], 1, "{file}: OBX at segment {}", s.index());
                        obx_grouped += 1;
                    }
                }
            }
        }
    }
    println!(
        "corpus: {messages} messages, {oru} ORU, {obx_grouped} OBX grouped, \
         MSH-7 read as DTM in {dtm_ok} of {dtm_valued} valued"
    );
    assert!(messages >= 40 && oru >= 5 && obx_grouped >= 50);
    assert_eq!(
        dtm_ok, dtm_valued,
        "every valued MSH-7 of the corpus is a valid DTM"
    );
}
