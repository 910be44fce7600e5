//! Segment groups of common message structures, read without a full schema.
//!
//! A group is a run of consecutive segments that opens with a *head* segment and continues with
//! segments of a *body* set: an ORU_R01 ORDER_OBSERVATION is `[ORC] OBR` followed by NTE, OBX,
//! SPM, ...; the next ORC or OBR opens the next one, and a segment in neither set ends it. Groups
//! borrow the [`Message`] and hold two segment positions: no allocation.
//!
//! Ready-made: [`order_observations`] (ORU_R01 ORDER_OBSERVATION, with its
//! [`observations`](OrderObservation::observations) and
//! [`specimens`](OrderObservation::specimens)), [`patient_results`] (ORU_R01 PATIENT_RESULT),
//! [`insurances`] (ADT IN1/IN2/IN3 runs) and [`orders`] (ORM/OML ORC + order detail). Your own
//! structures: a [`GroupSpec`] and [`groups`] (or [`Group::groups`] inside a group).
//!
//! ```
//! use ehrkit_hl7v2::Message;
//! use ehrkit_hl7v2::groups;
//!
//! let input = b"MSH|^~\\&|LAB|H|EHR|H|20240101||ORU^R01^ORU_R01|1|P|2.5.1\r\
//! PID|1||42^^^H^MR\r\
//! OBR|1||A1|GLU^Glucose\r\
//! OBX|1|NM|GLU||5.4|mmol/L\r\
//! NTE|1||fasting\r\
//! OBR|2||A2|K^Potassium\r\
//! OBX|1|NM|K||4.1|mmol/L\r";
//! let msg = Message::parse(input)?;
//! let orders: Vec<_> = groups::order_observations(&msg).collect();
//! assert_eq!(orders.len(), 2);
//! let first = &orders[0];
//! assert_eq!(first.obr().unwrap().get("3").as_deref(), Some("A1"));
//! let obs: Vec<_> = first.observations().collect();
//! assert_eq!(obs[0].obx().get("5").as_deref(), Some("5.4"));
//! assert_eq!(obs[0].notes().count(), 1);
//! # Ok::<(), ehrkit_hl7v2::Error>(())
//! ```

use std::ops::Range;

use crate::{Message, Segment};

/// Does segment ID `name` match `pattern`? A pattern is an ID (`OBX`), a prefix ending in `*`
/// (`Z*`, `*` for any) or several of those separated by `|` (`OBR|RXO`).
/// (Exclusions with `!` are handled by [`GroupSpec`].)
fn matches(pattern: &str, name: &str) -> bool {
    pattern.split('|').any(|p| match p.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => p == name,
    })
}

/// Which segments make a group: see the [module documentation](self).
///
/// ```
/// use ehrkit_hl7v2::Message;
/// use ehrkit_hl7v2::groups::{groups, GroupSpec};
///
/// // A "visit" group of my own: PV1 with an optional PV2 and any Z-segments after it.
/// const VISIT: GroupSpec<'static> = GroupSpec { head: &["PV1"], body: &["PV2", "Z*"] };
/// let msg = Message::parse(b"MSH|^~\\&|A|B\rPID|1\rPV1|1|I\rPV2|||X\rZPV|1\rAL1|1\r")?;
/// let visits: Vec<_> = groups(&msg, &VISIT).collect();
/// assert_eq!(visits.len(), 1);
/// assert_eq!(visits[0].segments().map(|s| s.name()).collect::<Vec<_>>(), ["PV1", "PV2", "ZPV"]);
/// # Ok::<(), ehrkit_hl7v2::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GroupSpec<'s> {
    /// Patterns of the segments that open a group, in the order they may stand at its head.
    /// A segment matching `head[r]` opens a new group unless the current group has so far seen
    /// only head segments of lower rank (`["ORC", "OBR"]`: an ORC opens a group, the OBR after it
    /// joins it, a second OBR opens the next group).
    pub head: &'s [&'s str],
    /// Patterns of the segments that may follow inside the group, in any order and number. Any
    /// other segment ends the group. A pattern starting with `!` excludes (`["!DSC", "*"]`: any
    /// segment but DSC).
    pub body: &'s [&'s str],
}

impl GroupSpec<'_> {
    fn head_rank(&self, name: &str) -> Option<usize> {
        self.head.iter().position(|p| matches(p, name))
    }

    fn in_body(&self, name: &str) -> bool {
        let excluded = self
            .body
            .iter()
            .filter_map(|p| p.strip_prefix('!'))
            .any(|p| matches(p, name));
        !excluded
            && self
                .body
                .iter()
                .any(|p| !p.starts_with('!') && matches(p, name))
    }
}

/// ORU_R01 ORDER_OBSERVATION: `[ORC] OBR` and what follows it.
pub const ORDER_OBSERVATION: GroupSpec<'static> = GroupSpec {
    head: &["ORC", "OBR"],
    body: &[
        "NTE", "TQ1", "TQ2", "CTD", "OBX", "FT1", "CTI", "SPM", "PRT", "TCD", "SID", "Z*",
    ],
};

/// ORU_R01 OBSERVATION: one OBX and its notes.
pub const OBSERVATION: GroupSpec<'static> = GroupSpec {
    head: &["OBX"],
    body: &["NTE", "PRT", "TCD", "SID", "Z*"],
};

/// ORU_R01 SPECIMEN: one SPM and its OBXs.
pub const SPECIMEN: GroupSpec<'static> = GroupSpec {
    head: &["SPM"],
    body: &["OBX", "NTE", "PRT"],
};

/// ORU_R01 PATIENT_RESULT: PID with every segment up to the next PID (or a DSC).
pub const PATIENT_RESULT: GroupSpec<'static> = GroupSpec {
    head: &["PID"],
    body: &["!DSC", "*"],
};

/// ADT INSURANCE: IN1 with its IN2, IN3s and ROLs.
pub const INSURANCE: GroupSpec<'static> = GroupSpec {
    head: &["IN1"],
    body: &["IN2", "IN3", "ROL", "AUT", "RF1"],
};

/// ORM_O01 / OML_O21 ORDER: ORC and its order detail (OBR, RXO, ...) with what follows.
pub const ORDER: GroupSpec<'static> = GroupSpec {
    head: &["ORC", "OBR|RXO|RXE|RQD|RQ1|ODS|ODT"],
    body: &[
        "NTE", "CTD", "DG1", "OBX", "FT1", "CTI", "BLG", "TQ1", "TQ2", "TCD", "SPM", "SAC", "PRT",
        "RXR", "RXC", "AL1", "Z*",
    ],
};

/// A run of consecutive segments of one message.
#[derive(Clone, Copy, Debug)]
pub struct Group<'m> {
    msg: &'m Message<'m>,
    start: usize,
    end: usize,
}

impl<'m> Group<'m> {
    /// The group of segments at positions `range` (0-based, MSH is 0) of `msg`, `None` when the
    /// range is empty or beyond the message.
    pub fn new(msg: &'m Message<'m>, range: Range<usize>) -> Option<Self> {
        (range.start < range.end && range.end <= msg.segment_count()).then_some(Group {
            msg,
            start: range.start,
            end: range.end,
        })
    }

    /// The message the group belongs to.
    pub fn message(&self) -> &'m Message<'m> {
        self.msg
    }

    /// Positions of the group's segments in the message.
    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }

    /// Number of segments (at least 1).
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Always false: a group has at least its head segment.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    fn at(&self, i: usize) -> Segment<'m> {
        let msg: &'m Message<'m> = self.msg;
        msg.segment_at(i)
            .expect("group ranges lie inside the message")
    }

    /// The segment that opened the group.
    pub fn head(&self) -> Segment<'m> {
        self.at(self.start)
    }

    /// The group's segments in order.
    pub fn segments(&self) -> impl Iterator<Item = Segment<'m>> + 'm {
        let msg: &'m Message<'m> = self.msg;
        (self.start..self.end).filter_map(move |i| msg.segment_at(i))
    }

    /// The first segment matching `pattern` (`"OBR"`, `"Z*"`, `"PV1|PV2"`).
    pub fn first(&self, pattern: &str) -> Option<Segment<'m>> {
        self.segments().find(|s| matches(pattern, s.name()))
    }

    /// Every segment matching `pattern`, in order.
    pub fn all<'p>(&self, pattern: &'p str) -> impl Iterator<Item = Segment<'m>> + 'p
    where
        'm: 'p,
    {
        self.segments().filter(move |s| matches(pattern, s.name()))
    }

    /// The groups of `spec` inside this group (sub-groups such as the OBSERVATIONs of an order).
    pub fn groups<'s>(&self, spec: &'s GroupSpec<'s>) -> Groups<'m, 's> {
        Groups {
            msg: self.msg,
            spec,
            pos: self.start,
            end: self.end,
        }
    }

    /// The same group cut to the segments from position `from` (absolute) on.
    fn starting_at(&self, from: usize) -> Group<'m> {
        Group {
            msg: self.msg,
            start: from.clamp(self.start, self.end),
            end: self.end,
        }
    }

    /// The same group cut to the segments before position `to` (absolute).
    fn ending_at(&self, to: usize) -> Group<'m> {
        Group {
            msg: self.msg,
            start: self.start,
            end: to.clamp(self.start, self.end),
        }
    }

    /// Position of the first segment matching `pattern`, or the end.
    fn position(&self, pattern: &str) -> usize {
        self.first(pattern).map_or(self.end, |s| s.index())
    }
}

/// Iterator over the groups of a [`GroupSpec`] in a message or a group.
#[derive(Clone, Debug)]
pub struct Groups<'m, 's> {
    msg: &'m Message<'m>,
    spec: &'s GroupSpec<'s>,
    pos: usize,
    end: usize,
}

impl<'m> Iterator for Groups<'m, '_> {
    type Item = Group<'m>;

    fn next(&mut self) -> Option<Group<'m>> {
        let msg: &'m Message<'m> = self.msg;
        let name = |i: usize| msg.segment_at(i).map_or("", |s| s.name());
        // Find the next head.
        let mut rank = loop {
            if self.pos >= self.end {
                return None;
            }
            if let Some(r) = self.spec.head_rank(name(self.pos)) {
                break r;
            }
            self.pos += 1;
        };
        let start = self.pos;
        self.pos += 1;
        while self.pos < self.end {
            let n = name(self.pos);
            match self.spec.head_rank(n) {
                Some(r) if r > rank => rank = r,
                Some(_) => break,
                None if self.spec.in_body(n) => {}
                None => break,
            }
            self.pos += 1;
        }
        Some(Group {
            msg,
            start,
            end: self.pos,
        })
    }
}

/// The groups of `spec` in the whole message.
pub fn groups<'m, 's>(msg: &'m Message<'m>, spec: &'s GroupSpec<'s>) -> Groups<'m, 's> {
    Groups {
        msg,
        spec,
        pos: 0,
        end: msg.segment_count(),
    }
}

/// An ORU_R01 ORDER_OBSERVATION: `[ORC] OBR [NTE...] [TQ1...] [CTD] [OBSERVATION...] [FT1...]
/// [CTI...] [SPECIMEN...]`.
#[derive(Clone, Copy, Debug)]
pub struct OrderObservation<'m> {
    group: Group<'m>,
}

impl<'m> OrderObservation<'m> {
    /// The group as a plain run of segments.
    pub fn group(&self) -> Group<'m> {
        self.group
    }

    /// The common order segment, when the group has one.
    pub fn orc(&self) -> Option<Segment<'m>> {
        Some(self.group.head()).filter(|s| s.name() == "ORC")
    }

    /// The observation request (`None` for an ORC without OBR).
    pub fn obr(&self) -> Option<Segment<'m>> {
        self.group.first("OBR")
    }

    /// Notes on the order: the NTEs after the OBR and before the first OBX or SPM.
    pub fn notes(&self) -> impl Iterator<Item = Segment<'m>> + 'm {
        let obr = self.obr().map_or(self.group.end, |s| s.index());
        let g = self.group.starting_at(obr);
        let g = g.ending_at(g.position("OBX|SPM"));
        g.segments().filter(|s| s.name() == "NTE")
    }

    /// The OBSERVATION groups (OBX + NTEs) of the order, those of its specimens excluded.
    pub fn observations(&self) -> impl Iterator<Item = Observation<'m>> + 'm {
        let g = self.group.ending_at(self.group.position("SPM"));
        Groups {
            msg: g.msg,
            spec: &OBSERVATION,
            pos: g.start,
            end: g.end,
        }
        .map(|group| Observation { group })
    }

    /// The SPECIMEN groups (SPM + its OBXs).
    pub fn specimens(&self) -> impl Iterator<Item = Group<'m>> + 'm {
        let g = self.group.starting_at(self.group.position("SPM"));
        Groups {
            msg: g.msg,
            spec: &SPECIMEN,
            pos: g.start,
            end: g.end,
        }
    }
}

/// An OBSERVATION: one OBX and the NTEs (and PRT, TCD, Z-segments) after it.
#[derive(Clone, Copy, Debug)]
pub struct Observation<'m> {
    group: Group<'m>,
}

impl<'m> Observation<'m> {
    /// The group as a plain run of segments.
    pub fn group(&self) -> Group<'m> {
        self.group
    }

    /// The OBX segment.
    pub fn obx(&self) -> Segment<'m> {
        self.group.head()
    }

    /// The notes on this observation.
    pub fn notes(&self) -> impl Iterator<Item = Segment<'m>> + 'm {
        self.group.segments().filter(|s| s.name() == "NTE")
    }
}

/// The ORDER_OBSERVATION groups of a whole ORU_R01 message (across patients).
pub fn order_observations<'m>(
    msg: &'m Message<'m>,
) -> impl Iterator<Item = OrderObservation<'m>> + 'm {
    groups(msg, &ORDER_OBSERVATION).map(|group| OrderObservation { group })
}

/// An ORU_R01 PATIENT_RESULT: the patient (PID, PD1, NTE, NK1, visit PV1/PV2) and the
/// ORDER_OBSERVATIONs that follow.
#[derive(Clone, Copy, Debug)]
pub struct PatientResult<'m> {
    group: Group<'m>,
}

impl<'m> PatientResult<'m> {
    /// The group as a plain run of segments.
    pub fn group(&self) -> Group<'m> {
        self.group
    }

    /// Segments of the PATIENT part: up to the first ORC or OBR.
    fn patient(&self) -> Group<'m> {
        self.group.ending_at(self.group.position("ORC|OBR"))
    }

    /// The PID (`None` for results sent without a patient).
    pub fn pid(&self) -> Option<Segment<'m>> {
        self.patient().first("PID")
    }

    /// The PD1 of the patient.
    pub fn pd1(&self) -> Option<Segment<'m>> {
        self.patient().first("PD1")
    }

    /// The next of kin of the patient.
    pub fn nk1(&self) -> impl Iterator<Item = Segment<'m>> + 'm {
        self.patient().segments().filter(|s| s.name() == "NK1")
    }

    /// The notes on the patient (NTEs before the visit and the orders).
    pub fn notes(&self) -> impl Iterator<Item = Segment<'m>> + 'm {
        let p = self.patient();
        p.ending_at(p.position("PV1"))
            .segments()
            .filter(|s| s.name() == "NTE")
    }

    /// The visit's PV1.
    pub fn pv1(&self) -> Option<Segment<'m>> {
        self.patient().first("PV1")
    }

    /// The visit's PV2.
    pub fn pv2(&self) -> Option<Segment<'m>> {
        self.patient().first("PV2")
    }

    /// The ORDER_OBSERVATION groups of this patient.
    pub fn order_observations(&self) -> impl Iterator<Item = OrderObservation<'m>> + 'm {
        let g = self.group;
        Groups {
            msg: g.msg,
            spec: &ORDER_OBSERVATION,
            pos: g.start,
            end: g.end,
        }
        .map(|group| OrderObservation { group })
    }
}

/// The PATIENT_RESULT groups of an ORU_R01. A message whose results carry no PID gives one
/// group holding its orders (with [`PatientResult::pid`] `None`).
pub fn patient_results<'m>(msg: &'m Message<'m>) -> impl Iterator<Item = PatientResult<'m>> + 'm {
    let has_pid = msg.segments().any(|s| s.name() == "PID");
    let patientless = if has_pid {
        None
    } else {
        // One PATIENT_RESULT without PATIENT: the run of order segments from the first ORC/OBR.
        groups(msg, &ORDER_OBSERVATION).next().map(|first| {
            let start = first.start;
            let mut end = start;
            while end < msg.segment_count()
                && msg
                    .segment_at(end)
                    .is_some_and(|s| PATIENT_RESULT.in_body(s.name()))
            {
                end += 1;
            }
            Group { msg, start, end }
        })
    };
    let with_pid = has_pid.then(|| groups(msg, &PATIENT_RESULT));
    patientless
        .into_iter()
        .chain(with_pid.into_iter().flatten())
        .map(|group| PatientResult { group })
}

/// An ADT INSURANCE group: IN1 with its optional IN2, IN3s and ROLs.
#[derive(Clone, Copy, Debug)]
pub struct Insurance<'m> {
    group: Group<'m>,
}

impl<'m> Insurance<'m> {
    /// The group as a plain run of segments.
    pub fn group(&self) -> Group<'m> {
        self.group
    }

    /// The IN1 (insurance) segment.
    pub fn in1(&self) -> Segment<'m> {
        self.group.head()
    }

    /// The IN2 (insurance additional information), if any.
    pub fn in2(&self) -> Option<Segment<'m>> {
        self.group.first("IN2")
    }

    /// The IN3s (certification), in order.
    pub fn in3(&self) -> impl Iterator<Item = Segment<'m>> + 'm {
        self.group.segments().filter(|s| s.name() == "IN3")
    }

    /// The ROLs (roles) of the insurance, in order.
    pub fn rol(&self) -> impl Iterator<Item = Segment<'m>> + 'm {
        self.group.segments().filter(|s| s.name() == "ROL")
    }
}

/// The INSURANCE groups of an ADT message (A01, A04, A08, ...).
pub fn insurances<'m>(msg: &'m Message<'m>) -> impl Iterator<Item = Insurance<'m>> + 'm {
    groups(msg, &INSURANCE).map(|group| Insurance { group })
}

/// An ORM_O01 / OML_O21 ORDER: ORC and its order detail (OBR, RXO, RXE, RQD, RQ1, ODS, ODT) with
/// notes, diagnoses and observations.
#[derive(Clone, Copy, Debug)]
pub struct Order<'m> {
    group: Group<'m>,
}

impl<'m> Order<'m> {
    /// The group as a plain run of segments.
    pub fn group(&self) -> Group<'m> {
        self.group
    }

    /// The ORC (`None` for an order detail sent without one).
    pub fn orc(&self) -> Option<Segment<'m>> {
        Some(self.group.head()).filter(|s| s.name() == "ORC")
    }

    /// The order detail segment: OBR, RXO, RXE, RQD, RQ1, ODS or ODT.
    pub fn detail(&self) -> Option<Segment<'m>> {
        self.group.first(ORDER.head[1])
    }

    /// The OBR, when the order detail is one.
    pub fn obr(&self) -> Option<Segment<'m>> {
        self.detail().filter(|s| s.name() == "OBR")
    }

    /// The notes on the order: NTEs before the first OBX.
    pub fn notes(&self) -> impl Iterator<Item = Segment<'m>> + 'm {
        let g = self.group.ending_at(self.group.position("OBX|SPM"));
        g.segments().filter(|s| s.name() == "NTE")
    }

    /// The DG1 (diagnosis) segments of the order.
    pub fn diagnoses(&self) -> impl Iterator<Item = Segment<'m>> + 'm {
        self.group.segments().filter(|s| s.name() == "DG1")
    }

    /// The OBSERVATION groups (OBX + NTEs) of the order, before any specimen.
    pub fn observations(&self) -> impl Iterator<Item = Observation<'m>> + 'm {
        OrderObservation { group: self.group }.observations()
    }
}

/// The ORDER groups of an ORM_O01 or OML_O21 message.
pub fn orders<'m>(msg: &'m Message<'m>) -> impl Iterator<Item = Order<'m>> + 'm {
    groups(msg, &ORDER).map(|group| Order { group })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches("OBX", "OBX"));
        assert!(!matches("OBX", "OBR"));
        assert!(matches("Z*", "ZPD"));
        assert!(!matches("Z*", "PID"));
        assert!(matches("*", "PID"));
        assert!(matches("OBR|RXO", "RXO"));
        let spec = GroupSpec {
            head: &["PID"],
            body: &["!DSC", "*"],
        };
        assert!(spec.in_body("ZZZ"));
        assert!(spec.in_body("OBX"));
        assert!(!spec.in_body("DSC"));
    }

    fn names(g: &Group<'_>) -> String {
        g.segments().map(|s| s.name()).collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn head_rank_rules() {
        let msg = Message::parse(
            b"MSH|^~\\&|A\rORC|1\rTQ1|1\rOBR|1\rOBX|1\rOBR|2\rOBX|1\rORC|2\rORC|3\rOBR|3\rPID|1\rOBR|4\r",
        )
        .unwrap();
        let spec = GroupSpec {
            head: &["ORC", "OBR"],
            body: &["TQ1", "OBX"],
        };
        let got: Vec<_> = groups(&msg, &spec).map(|g| names(&g)).collect();
        assert_eq!(got, ["ORC TQ1 OBR OBX", "OBR OBX", "ORC", "ORC OBR", "OBR"]);
    }

    #[test]
    fn group_bounds() {
        let msg = Message::parse(b"MSH|^~\\&|A\rPID|1\r").unwrap();
        assert!(Group::new(&msg, 0..3).is_none());
        assert!(Group::new(&msg, 1..1).is_none());
        let g = Group::new(&msg, 1..2).unwrap();
        assert_eq!(g.head().name(), "PID");
        assert_eq!(g.len(), 1);
        assert!(!g.is_empty());
    }
}
