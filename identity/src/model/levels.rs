//! Comparison levels of a pair of feature cells: the scoring hot path.

use super::config::Level;
use crate::compare::{
    count_lower_bound, jaro_winkler, jaro_winkler_upper, levenshtein_bounded, osa_bounded,
};
use crate::features::{Cell, FeatureStore};
use crate::rules::NULL_LEVEL;

const EDIT_UNKNOWN: u8 = u8::MAX;
const EDIT_FAR: u8 = u8::MAX - 1;

#[inline]
fn level_single(levels: &[Level], sa: &FeatureStore, a: &Cell, sb: &FeatureStore, b: &Cell) -> u8 {
    let ta = sa.text(a);
    let tb = sb.text(b);
    let mut jw: f64 = -1.0;
    let mut jw_ub: f64 = -1.0;
    let mut osa_d = EDIT_UNKNOWN;
    let mut lev_d = EDIT_UNKNOWN;
    for (i, lvl) in levels.iter().enumerate() {
        let hit = match *lvl {
            Level::Exact => a.hash == b.hash && ta == tb,
            Level::Nickname => {
                a.nick[0] != u16::MAX && a.nick.iter().any(|g| *g != u16::MAX && b.nick.contains(g))
            }
            Level::Phonetic => {
                a.ph1 != 0
                    && b.ph1 != 0
                    && (a.ph1 == b.ph1 || a.ph1 == b.ph2 || (a.ph2 != 0 && a.ph2 == b.ph1))
            }
            Level::JaroWinkler { min } => {
                let min = f64::from(min);
                if jw < 0.0 {
                    if jw_ub < 0.0 {
                        jw_ub = jaro_winkler_upper(ta, tb, a.mask, b.mask);
                    }
                    if jw_ub + 1e-9 < min {
                        false
                    } else {
                        jw = jaro_winkler(ta, tb);
                        jw + 1e-9 >= min
                    }
                } else {
                    jw + 1e-9 >= min
                }
            }
            Level::Levenshtein { max } | Level::Damerau { max } => {
                let osa = matches!(lvl, Level::Damerau { .. });
                let cache = if osa { &mut osa_d } else { &mut lev_d };
                if *cache == EDIT_UNKNOWN {
                    // One bounded computation serves every later level of the same kind.
                    let bound = levels[i..]
                        .iter()
                        .filter_map(|l| match (l, osa) {
                            (Level::Damerau { max }, true)
                            | (Level::Levenshtein { max }, false) => Some(usize::from(*max)),
                            _ => None,
                        })
                        .max()
                        .unwrap_or(0);
                    let only_a = (a.mask & !b.mask).count_ones() as usize;
                    let only_b = (b.mask & !a.mask).count_ones() as usize;
                    *cache = if only_a.max(only_b) > bound
                        || ta.len().abs_diff(tb.len()) > bound
                        || count_lower_bound(ta, tb) > bound
                    {
                        EDIT_FAR
                    } else {
                        let d = if osa {
                            osa_bounded(ta, tb, bound)
                        } else {
                            levenshtein_bounded(ta, tb, bound)
                        };
                        d.map_or(EDIT_FAR, |d| d as u8)
                    };
                }
                *cache <= max
            }
            Level::DateTransposed => {
                let (x, y) = (a.num, b.num);
                let (ya, ma, da) = (x / 10_000, (x / 100) % 100, x % 100);
                let (yb, mb, db) = (y / 10_000, (y / 100) % 100, y % 100);
                ya == yb && ma != da && ma == db && da == mb && ma != 0 && da != 0
            }
            Level::DateWithinDays { days } => {
                a.days != i32::MIN && b.days != i32::MIN && a.days.abs_diff(b.days) <= days
            }
            Level::Initial => {
                (ta.len() == 1 || tb.len() == 1)
                    && !ta.is_empty()
                    && !tb.is_empty()
                    && ta[0] == tb[0]
            }
        };
        if hit {
            return i as u8;
        }
    }
    levels.len() as u8
}

/// Level of a pair of cells, with alternates: the best (lowest) level over all combinations.
#[inline]
pub(super) fn level_of(
    levels: &[Level],
    sa: &FeatureStore,
    a: &Cell,
    sb: &FeatureStore,
    b: &Cell,
) -> u8 {
    if a.null || b.null {
        return NULL_LEVEL;
    }
    let mut l = level_single(levels, sa, a, sb, b);
    if l != 0 && (a.alt_len != 0 || b.alt_len != 0) {
        let aa = std::iter::once(a).chain(sa.alts_of(a));
        for x in aa {
            for y in std::iter::once(b).chain(sb.alts_of(b)) {
                if std::ptr::eq(x, a) && std::ptr::eq(y, b) {
                    continue;
                }
                l = l.min(level_single(levels, sa, x, sb, y));
                if l == 0 {
                    return 0;
                }
            }
        }
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::Field;
    use crate::{NameType, PatientRecord, PersonName};

    fn store(field: Field, records: &[PatientRecord]) -> FeatureStore {
        FeatureStore::from_records(vec![field], records)
    }

    fn level(levels: &[Level], field: Field, a: &PatientRecord, b: &PatientRecord) -> u8 {
        let s = store(field, &[a.clone(), b.clone()]);
        level_of(levels, &s, s.cell(0, 0), &s, s.cell(1, 0))
    }

    fn person(family: &str, given: &str, dob: &str) -> PatientRecord {
        PatientRecord::builder("k")
            .name(family, given)
            .birth_date_str(dob)
            .build()
    }

    #[test]
    fn first_level_that_holds_else_or_null() {
        let levels = [
            Level::Exact,
            Level::Nickname,
            Level::JaroWinkler { min: 0.9 },
            Level::Phonetic,
        ];
        let g = Field::GivenName;
        let robert = person("Smith", "Robert", "");
        assert_eq!(level(&levels, g, &robert, &person("", "ROBERT", "")), 0);
        assert_eq!(level(&levels, g, &robert, &person("", "Bob", "")), 1);
        assert_eq!(level(&levels, g, &robert, &person("", "Roberta", "")), 2);
        assert_eq!(level(&levels, g, &robert, &person("", "Zelda", "")), 4);
        assert_eq!(
            level(&levels, g, &robert, &person("Smith", "", "")),
            NULL_LEVEL
        );
    }

    #[test]
    fn date_levels() {
        let levels = [
            Level::Exact,
            Level::DateTransposed,
            Level::Damerau { max: 1 },
            Level::DateWithinDays { days: 31 },
        ];
        let d = Field::BirthDate;
        let a = person("", "", "1980-03-04");
        assert_eq!(level(&levels, d, &a, &person("", "", "1980-04-03")), 1);
        assert_eq!(level(&levels, d, &a, &person("", "", "1980-03-05")), 2);
        assert_eq!(level(&levels, d, &a, &person("", "", "1980-02-20")), 3);
        assert_eq!(level(&levels, d, &a, &person("", "", "1990-07-20")), 4);
    }

    #[test]
    fn alternates_give_the_best_level() {
        // A maiden name is an alternate family name: the pair takes the best level over both.
        let mut married = person("Jones", "Ann", "");
        married
            .names
            .push(PersonName::new("Smith", "Ann").name_type(NameType::Maiden));
        let maiden = person("Smith", "Ann", "");
        let levels = [Level::Exact, Level::Levenshtein { max: 2 }];
        assert_eq!(level(&levels, Field::FamilyName, &married, &maiden), 0);
        assert_eq!(level(&levels, Field::FamilyName, &maiden, &married), 0);
        assert_eq!(
            level(
                &levels,
                Field::FamilyName,
                &maiden,
                &person("Smyth", "", "")
            ),
            1
        );
    }
}
