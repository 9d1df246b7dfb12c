//! Why a record was rejected, and where in it the parser stopped when it was the parser.

/// A reject's reason: what went wrong, and the line and column within the record the JSON
/// parser stopped at, when it was the parser (counted from the record's start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reason {
    /// What went wrong, without a position.
    pub text: String,
    /// The line (from 1) and column within the record.
    pub at: Option<(u64, u64)>,
}

impl Reason {
    /// The reason as a reject tells it, for a record that starts at line `first_line` of
    /// its input: the line made absolute, and dropped when the record is one line.
    pub fn placed(self, first_line: u64) -> String {
        match self.at {
            None => self.text,
            Some((1, column)) => format!("{} at column {column}", self.text),
            Some((line, column)) => {
                format!(
                    "{} at line {} column {column}",
                    self.text,
                    first_line + line - 1
                )
            }
        }
    }
}

/// The reason as the record's own: its position counted from the record's start.
impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.clone().placed(1))
    }
}

impl From<String> for Reason {
    fn from(text: String) -> Self {
        Self { text, at: None }
    }
}

impl From<&str> for Reason {
    fn from(text: &str) -> Self {
        text.to_owned().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_made_absolute_and_dropped_on_one_line_records() {
        let at = |line, column| Reason {
            text: "invalid JSON: x".into(),
            at: Some((line, column)),
        };
        assert_eq!(at(1, 9).placed(40), "invalid JSON: x at column 9");
        assert_eq!(at(3, 2).placed(40), "invalid JSON: x at line 42 column 2");
        assert_eq!(Reason::from("no account id").placed(40), "no account id");
    }
}
