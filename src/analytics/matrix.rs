//! The ABC-XYZ matrix as plain data: accounts and value per cell, tallied from stored classes.
//! Both the API's matrix and the workbook's matrix sheet count with it.

/// Accounts and value per ABC (row: A, B, C) × XYZ (column: X, Y, Z) cell, and the accounts
/// without both classes. Values are summed in i128: a sum of many large (or legacy,
/// out-of-range) amounts cannot wrap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CellTotals {
    pub counts: [[u64; 3]; 3],
    pub values: [[i128; 3]; 3],
    pub unclassified: u64,
}

impl CellTotals {
    /// Counts one account with its stored classes (`"A"`…, `"X"`…) and value.
    pub fn add(&mut self, abc: Option<&str>, xyz: Option<&str>, value: i64) {
        match (abc, xyz) {
            (Some(a), Some(x)) => {
                let ai = "ABC".find(a).unwrap_or(2);
                let xi = "XYZ".find(x).unwrap_or(2);
                self.counts[ai][xi] += 1;
                self.values[ai][xi] += i128::from(value);
            }
            _ => self.unclassified += 1,
        }
    }

    /// The value of every classified account.
    pub fn total(&self) -> i128 {
        self.values.iter().flatten().sum()
    }

    /// Cell `[ai][xi]`'s share of the classified value (0 when there is none).
    pub fn share(&self, ai: usize, xi: usize) -> f64 {
        let total = self.total();
        if total > 0 {
            self.values[ai][xi] as f64 / total as f64
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CellTotals;

    #[test]
    fn classified_accounts_land_in_their_cell_and_the_rest_count_as_unclassified() {
        let mut t = CellTotals::default();
        t.add(Some("A"), Some("X"), 300);
        t.add(Some("C"), Some("Z"), 100);
        t.add(Some("B"), None, 50);
        assert_eq!(t.counts[0][0], 1);
        assert_eq!(t.counts[2][2], 1);
        assert_eq!(t.unclassified, 1);
        assert_eq!(t.total(), 400);
        assert_eq!(t.share(0, 0), 0.75);
        assert_eq!(CellTotals::default().share(0, 0), 0.0);
    }
}
