//! FT1-6 (transaction type) other than a charge (issue 12, DFT_P03; *Nothing silently lost*).
//!
//! Only `CG` has a ChargeItem status (`billable`). A credit, payment or adjustment becomes a
//! ChargeItem with status `unknown` and its amount: without the type, a credit of 75.50 reads
//! as a charge of 75.50. The type must at least be reported.

use ehrkit_hl7v2::Message;
use ehrkit_mapping::v2_to_fhir::{Converter, Options};
use ehrkit_mapping::Profile;

fn report(er7: &str) -> Vec<String> {
    let msg = Message::parse(er7.as_bytes()).expect("message parses");
    Converter::new(Profile::generic(), Options::default())
        .convert(&msg)
        .expect("message converts")
        .report
        .entries()
        .iter()
        .map(|e| e.to_string())
        .collect()
}

const HEAD: &str = concat!(
    "MSH|^~\\&|BILL|HOSP|RCV|FAC|20260301123000+0000||DFT^P03^DFT_P03|M52|P|2.5\r",
    "EVN|P03|20260301123000+0000\r",
    "PID|1||123^^^HOSP^MR||DOE^JANE\r",
    "PV1|1|O|||||||||||||||||V1\r",
);

#[test]
fn a_credit_payment_or_adjustment_type_is_reported() {
    for kind in ["CR", "PA", "AJ"] {
        let lines = report(&format!(
            "{HEAD}FT1|1|TX2||20260301|20260301|{kind}|99213^Visit^C4|||1|75.50&USD\r"
        ));
        assert!(
            lines.iter().any(|l| l == "FT1[1]-6: field not mapped"),
            "{kind}: {}",
            lines.join("\n")
        );
    }
}

#[test]
fn a_charge_type_is_the_status_and_not_reported() {
    let lines = report(&format!(
        "{HEAD}FT1|1|TX1||20260301|20260301|CG|71045^Xray chest^C4|||2|100.00&USD\r"
    ));
    assert!(
        !lines.iter().any(|l| l.starts_with("FT1[1]-6")),
        "{}",
        lines.join("\n")
    );
}
