//! String and value comparators used by the matcher, written for short ASCII byte strings
//! (normalized names, digits) with no allocation.

/// Jaro similarity of two byte strings (1.0 = identical, 0.0 = nothing in common).
///
/// Two empty strings are identical (1.0); one empty string gives 0.0.
pub fn jaro(a: &[u8], b: &[u8]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    if a == b {
        return 1.0;
    }
    let (a, b) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let window = (b.len() / 2).saturating_sub(1);
    if b.len() <= 64 {
        // Bit-parallel search: positions of each byte class (low 6 bits) in b, then for each char of
        // a the first unused position inside the window, verified for the exact byte.
        let mut pm = [0u64; 64];
        for (j, &cb) in b.iter().enumerate() {
            pm[usize::from(cb & 63)] |= 1u64 << j;
        }
        let mut b_used: u64 = 0;
        let mut a_used: u64 = 0;
        let mut matches = 0usize;
        for (i, &ca) in a.iter().enumerate() {
            let lo = i.saturating_sub(window);
            let hi = (i + window + 1).min(b.len());
            if lo >= hi {
                continue;
            }
            let win = (u64::MAX >> (64 - (hi - lo))) << lo;
            let mut cand = pm[usize::from(ca & 63)] & win & !b_used;
            while cand != 0 {
                let j = cand.trailing_zeros() as usize;
                if b[j] == ca {
                    b_used |= 1u64 << j;
                    a_used |= 1u64 << i;
                    matches += 1;
                    break;
                }
                cand &= cand - 1;
            }
        }
        if matches == 0 {
            return 0.0;
        }
        // Count transpositions: walk matched chars of a and b in order.
        let mut trans = 0usize;
        let mut bu = b_used;
        let mut au = a_used;
        while au != 0 {
            let i = au.trailing_zeros() as usize;
            let j = bu.trailing_zeros() as usize;
            if a[i] != b[j] {
                trans += 1;
            }
            au &= au - 1;
            bu &= bu - 1;
        }
        return jaro_from(matches, trans, a.len(), b.len());
    }
    let mut b_used = vec![false; b.len()];
    let mut a_match = Vec::with_capacity(a.len());
    for (i, &ca) in a.iter().enumerate() {
        let lo = i.saturating_sub(window);
        let hi = (i + window + 1).min(b.len());
        for j in lo..hi {
            if !b_used[j] && b[j] == ca {
                b_used[j] = true;
                a_match.push(ca);
                break;
            }
        }
    }
    if a_match.is_empty() {
        return 0.0;
    }
    let b_match = b.iter().zip(&b_used).filter(|(_, u)| **u).map(|(c, _)| *c);
    let trans = a_match
        .iter()
        .zip(b_match)
        .filter(|(x, y)| **x != *y)
        .count();
    jaro_from(a_match.len(), trans, a.len(), b.len())
}

fn jaro_from(matches: usize, trans: usize, la: usize, lb: usize) -> f64 {
    let m = matches as f64;
    let t = (trans / 2) as f64;
    (m / la as f64 + m / lb as f64 + (m - t) / m) / 3.0
}

/// Length of the common prefix, capped at 4 (the Winkler prefix).
fn prefix4(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take(4).take_while(|(x, y)| x == y).count()
}

/// Jaro-Winkler similarity with the standard prefix scale 0.1 over at most 4 characters.
pub fn jaro_winkler(a: &[u8], b: &[u8]) -> f64 {
    let j = jaro(a, b);
    let l = prefix4(a, b) as f64;
    j + l * 0.1 * (1.0 - j)
}

/// Upper bound of [`jaro_winkler`] from lengths and character-set masks (see [`char_mask`]);
/// cheap to evaluate, used to skip the exact computation when a threshold cannot be reached.
pub fn jaro_winkler_upper(a: &[u8], b: &[u8], mask_a: u64, mask_b: u64) -> f64 {
    if a.is_empty() || b.is_empty() {
        return if a.len() == b.len() { 1.0 } else { 0.0 };
    }
    let only_a = (mask_a & !mask_b).count_ones() as usize;
    let only_b = (mask_b & !mask_a).count_ones() as usize;
    let m = (a.len() - only_a.min(a.len())).min(b.len() - only_b.min(b.len()));
    if m == 0 {
        return 0.0;
    }
    let mf = m as f64;
    let j = (mf / a.len() as f64 + mf / b.len() as f64 + 1.0) / 3.0;
    j + prefix4(a, b) as f64 * 0.1 * (1.0 - j)
}

/// A 64-bit set of the characters of a string: bits 0-25 letters, 26-35 digits, 36 other.
pub fn char_mask(s: &[u8]) -> u64 {
    s.iter().fold(0u64, |m, &c| {
        m | 1u64
            << match c {
                b'a'..=b'z' => c - b'a',
                b'A'..=b'Z' => c - b'A',
                b'0'..=b'9' => 26 + c - b'0',
                _ => 36,
            }
    })
}

/// A lower bound of the Levenshtein and OSA distances from character counts: every edit changes
/// at most one character count up and one down, and a transposition changes none. Characters are
/// bucketed by their low 4 bits (exact for digits; merging only lowers the bound).
#[inline]
pub fn count_lower_bound(a: &[u8], b: &[u8]) -> usize {
    let mut c = [0i32; 16];
    for &x in a {
        c[usize::from(x & 15)] += 1;
    }
    for &y in b {
        c[usize::from(y & 15)] -= 1;
    }
    let (mut pos, mut neg) = (0i32, 0i32);
    for v in c {
        pos += v.max(0);
        neg += (-v).max(0);
    }
    pos.max(neg) as usize
}

/// Levenshtein edit distance (insert, delete, substitute), or `None` when it exceeds `max`.
///
/// Runs in O(len·(2·max+1)) on the diagonal band; strings up to any length.
pub fn levenshtein_bounded(a: &[u8], b: &[u8], max: usize) -> Option<usize> {
    edit_distance(a, b, max, false)
}

/// Optimal-string-alignment distance (Levenshtein plus adjacent transposition as one edit), or
/// `None` when it exceeds `max`. `"19560409"` vs `"19650409"` is 1.
pub fn osa_bounded(a: &[u8], b: &[u8], max: usize) -> Option<usize> {
    edit_distance(a, b, max, true)
}

/// Unbounded Levenshtein distance.
pub fn levenshtein(a: &[u8], b: &[u8]) -> usize {
    edit_distance(a, b, a.len().max(b.len()), false).unwrap_or(usize::MAX)
}

fn edit_distance(a: &[u8], b: &[u8], max: usize, transpose: bool) -> Option<usize> {
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    if a == b {
        return Some(0);
    }
    // Strip common prefix and suffix.
    let p = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[p..], &b[p..]);
    let s = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (a, b) = (&a[..a.len() - s], &b[..b.len() - s]);
    if a.is_empty() || b.is_empty() {
        let d = a.len().max(b.len());
        return (d <= max).then_some(d);
    }
    if b.len() <= SMALL {
        return edit_small(a, b, max, transpose);
    }
    let n = b.len();
    let mut rows: Vec<Vec<usize>> = vec![(0..=n).collect(), vec![0; n + 1], vec![0; n + 1]];
    for i in 1..=a.len() {
        // Row i lives in rows[i % 3].
        let (p2, p1, cur) = ((i + 1) % 3, (i + 2) % 3, i % 3);
        rows[cur][0] = i;
        let mut row_min = i;
        for j in 1..=n {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (rows[p1][j] + 1)
                .min(rows[cur][j - 1] + 1)
                .min(rows[p1][j - 1] + cost);
            if transpose && i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(rows[p2][j - 2] + 1);
            }
            rows[cur][j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return None;
        }
    }
    let d = rows[a.len() % 3][n];
    (d <= max).then_some(d)
}

const SMALL: usize = 32;

/// Edit distance for `b.len() <= SMALL`: three rolling `u8` rows on the stack, no allocation.
#[inline]
fn edit_small(a: &[u8], b: &[u8], max: usize, transpose: bool) -> Option<usize> {
    let n = b.len();
    let mut r0 = [0u8; SMALL + 1]; // two rows back
    let mut r1 = [0u8; SMALL + 1]; // previous
    let mut r2 = [0u8; SMALL + 1]; // current
    for (j, v) in r1.iter_mut().enumerate().take(n + 1) {
        *v = j as u8;
    }
    let cap = u8::MAX - 2;
    for i in 1..=a.len() {
        r2[0] = i.min(usize::from(cap)) as u8;
        let mut row_min = r2[0];
        let ai = a[i - 1];
        for j in 1..=n {
            let cost = u8::from(ai != b[j - 1]);
            let mut v = (r1[j] + 1).min(r2[j - 1] + 1).min(r1[j - 1] + cost);
            if transpose && i > 1 && j > 1 && ai == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(r0[j - 2] + 1);
            }
            let v = v.min(cap);
            r2[j] = v;
            row_min = row_min.min(v);
        }
        if usize::from(row_min) > max {
            return None;
        }
        if transpose {
            r0 = r1;
        }
        std::mem::swap(&mut r1, &mut r2);
    }
    let d = usize::from(r1[n]);
    (d <= max).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn jaro_winkler_known_values() {
        // Classic textbook values.
        assert!(close(jaro(b"martha", b"marhta"), 0.944_444_444_444_444_4));
        assert!((jaro_winkler(b"martha", b"marhta") - 0.961_111_111).abs() < 1e-6);
        assert!((jaro_winkler(b"dwayne", b"duane") - 0.84).abs() < 1e-6);
        assert!((jaro_winkler(b"dixon", b"dicksonx") - 0.813_333_333).abs() < 1e-6);
        assert!(close(jaro_winkler(b"", b""), 1.0));
        assert!(close(jaro_winkler(b"abc", b""), 0.0));
        assert!(close(jaro_winkler(b"abc", b"xyz"), 0.0));
        assert!(close(jaro_winkler(b"same", b"same"), 1.0));
    }

    #[test]
    fn jaro_winkler_agrees_with_strsim_and_bound_holds() {
        let names: [&[u8]; 12] = [
            b"mitchell",
            b"michell",
            b"green",
            b"greene",
            b"catherine",
            b"kathryn",
            b"jon",
            b"john",
            b"elizabeth",
            b"elisabeth",
            b"x",
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
        ];
        for a in names {
            for b in names {
                let ours = jaro_winkler(a, b);
                let theirs = strsim::jaro_winkler(
                    std::str::from_utf8(a).unwrap(),
                    std::str::from_utf8(b).unwrap(),
                );
                assert!((ours - theirs).abs() < 1e-9, "{a:?} {b:?} {ours} {theirs}");
                let ub = jaro_winkler_upper(a, b, char_mask(a), char_mask(b));
                assert!(ub + 1e-9 >= ours, "bound {ub} < {ours}");
            }
        }
    }

    #[test]
    fn edit_distances() {
        assert_eq!(levenshtein(b"kitten", b"sitting"), 3);
        assert_eq!(levenshtein_bounded(b"kitten", b"sitting", 2), None);
        assert_eq!(levenshtein_bounded(b"4223", b"4232", 2), Some(2));
        assert_eq!(osa_bounded(b"4223", b"4232", 2), Some(1));
        assert_eq!(osa_bounded(b"19560409", b"19650409", 1), Some(1));
        assert_eq!(levenshtein_bounded(b"", b"ab", 2), Some(2));
        assert_eq!(levenshtein_bounded(b"abc", b"abc", 0), Some(0));
        let long_a = vec![b'a'; 100];
        let mut long_b = long_a.clone();
        long_b[50] = b'b';
        assert_eq!(levenshtein_bounded(&long_a, &long_b, 1), Some(1));
        assert_eq!(
            strsim::levenshtein("saturday", "sunday"),
            levenshtein(b"saturday", b"sunday")
        );
    }

    #[test]
    fn count_bound_is_a_lower_bound() {
        let words: [&[u8]; 8] = [
            b"19560409",
            b"19650409",
            b"4223",
            b"4232",
            b"kitten",
            b"sitting",
            b"",
            b"1234567",
        ];
        for a in words {
            for b in words {
                assert!(count_lower_bound(a, b) <= levenshtein(a, b));
                let osa = osa_bounded(a, b, 20).unwrap();
                assert!(count_lower_bound(a, b) <= osa, "{a:?} {b:?}");
            }
        }
        assert_eq!(count_lower_bound(b"1234", b"5678"), 4);
        assert_eq!(count_lower_bound(b"1234", b"2143"), 0);
    }
}
