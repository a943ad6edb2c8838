//! Topic patterns for [`Consumer::subscribe_pattern`](crate::Consumer::subscribe_pattern):
//! the regular expressions Kafka clients subscribe with, matched against
//! whole topic names as Kafka's Java client does (`events\..*` matches
//! `events.eu`, not `old-events.eu`).
//!
//! Topic names are ASCII (`[A-Za-z0-9._-]`), so a set of characters is a
//! 128-bit mask. The pattern compiles to a Thompson automaton simulated one
//! character at a time over every live state at once: time is linear in
//! the name times the pattern, whatever the pattern (no backtracking, so
//! no pattern can make a subscription slow).

use crate::error::{Error, Result};

/// Longest pattern accepted, in bytes.
pub(crate) const MAX_PATTERN_BYTES: usize = 1024;

/// A set of ASCII characters.
type Set = u128;

/// One step of the automaton.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inst {
    /// Consume one character of the set.
    Char(Set),
    /// Continue at both.
    Split(usize, usize),
    /// Continue there.
    Jump(usize),
    /// The whole name matched.
    Match,
}

/// A compiled topic pattern.
#[derive(Debug, Clone)]
pub(crate) struct TopicPattern {
    program: Vec<Inst>,
}

impl TopicPattern {
    /// Compiles `pattern`, or fails with [`Error::InvalidArgument`] saying
    /// what is wrong or not supported.
    pub(crate) fn new(pattern: &str) -> Result<TopicPattern> {
        if pattern.len() > MAX_PATTERN_BYTES {
            let reason = format!("{} bytes exceeds the limit of {MAX_PATTERN_BYTES}", pattern.len());
            return Err(Error::invalid("pattern", reason));
        }
        let mut parser = Parser { chars: pattern.chars().collect(), at: 0, program: Vec::new() };
        parser.skip_anchor('^');
        parser.alternation()?;
        parser.skip_anchor('$');
        if let Some(c) = parser.peek() {
            return Err(parser.error(format!("unexpected {c:?}")));
        }
        parser.program.push(Inst::Match);
        Ok(TopicPattern { program: parser.program })
    }

    /// Whether the whole of `name` matches.
    pub(crate) fn matches(&self, name: &str) -> bool {
        let mut current = vec![false; self.program.len()];
        self.add(&mut current, 0);
        for byte in name.bytes() {
            let mut next = vec![false; self.program.len()];
            for (pc, live) in current.iter().enumerate() {
                if let (true, Inst::Char(set)) = (*live, self.program[pc]) {
                    if byte < 128 && set & (1 << byte) != 0 {
                        self.add(&mut next, pc + 1);
                    }
                }
            }
            current = next;
        }
        current.iter().zip(&self.program).any(|(live, inst)| *live && *inst == Inst::Match)
    }

    /// Adds state `pc` and every state it reaches without a character.
    fn add(&self, states: &mut [bool], pc: usize) {
        let mut stack = vec![pc];
        while let Some(pc) = stack.pop() {
            if std::mem::replace(&mut states[pc], true) {
                continue;
            }
            match self.program[pc] {
                Inst::Split(a, b) => stack.extend([b, a]),
                Inst::Jump(to) => stack.push(to),
                Inst::Char(_) | Inst::Match => {}
            }
        }
    }
}

/// A recursive-descent compiler: alternation of sequences of quantified
/// atoms, each emitted into `program` as it is parsed.
struct Parser {
    chars: Vec<char>,
    at: usize,
    program: Vec<Inst>,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.at += usize::from(c.is_some());
        c
    }

    fn error(&self, reason: String) -> Error {
        Error::invalid("pattern", format!("{reason} at character {}", self.at))
    }

    /// `^` at the start or `$` at the end: every match is of the whole
    /// name anyway.
    fn skip_anchor(&mut self, anchor: char) {
        if self.peek() == Some(anchor) {
            self.at += 1;
        }
    }

    /// `a|b|c`, each branch a sequence.
    fn alternation(&mut self) -> Result<()> {
        let start = self.program.len();
        self.sequence()?;
        if self.peek() != Some('|') {
            return Ok(());
        }
        self.at += 1;
        // Make room for the split before the first branch.
        self.program.insert(start, Inst::Split(start + 1, 0));
        shift_targets(&mut self.program[start + 1..], start);
        let jump = self.program.len();
        self.program.push(Inst::Jump(0));
        let second = self.program.len();
        self.alternation()?;
        let end = self.program.len();
        self.program[start] = Inst::Split(start + 1, second);
        self.program[jump] = Inst::Jump(end);
        Ok(())
    }

    /// Quantified atoms until `|`, `)` or the end (`$` only at the end).
    fn sequence(&mut self) -> Result<()> {
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' || (c == '$' && self.at + 1 == self.chars.len()) {
                return Ok(());
            }
            let start = self.program.len();
            self.atom()?;
            self.quantifier(start)?;
        }
        Ok(())
    }

    /// `*`, `+` or `?` after the atom compiled from `start`.
    fn quantifier(&mut self, start: usize) -> Result<()> {
        match self.peek() {
            Some('*') => {
                self.at += 1;
                self.program.insert(start, Inst::Split(start + 1, 0));
                shift_targets(&mut self.program[start + 1..], start);
                self.program.push(Inst::Jump(start));
                let end = self.program.len();
                self.program[start] = Inst::Split(start + 1, end);
            }
            Some('+') => {
                self.at += 1;
                let end = self.program.len() + 1;
                self.program.push(Inst::Split(start, end));
            }
            Some('?') => {
                self.at += 1;
                self.program.insert(start, Inst::Split(start + 1, 0));
                shift_targets(&mut self.program[start + 1..], start);
                let end = self.program.len();
                self.program[start] = Inst::Split(start + 1, end);
            }
            Some('{') => return Err(self.error("counted repetition {m,n} is not supported".into())),
            _ => return Ok(()),
        }
        // A lazy quantifier matches the same names: whole names are matched.
        self.at += usize::from(self.peek() == Some('?'));
        match self.peek() {
            Some('*' | '+' | '?') => Err(self.error("a quantifier follows a quantifier".into())),
            _ => Ok(()),
        }
    }

    /// A character, `.`, an escape, a class or a group.
    fn atom(&mut self) -> Result<()> {
        let Some(c) = self.next() else { return Err(self.error("pattern ends early".into())) };
        let set = match c {
            '(' => return self.group(),
            '[' => self.class()?,
            '.' => ALL,
            '\\' => self.escape()?,
            '*' | '+' | '?' => return Err(self.error(format!("{c:?} has nothing to repeat"))),
            '{' | '}' | '^' | '$' => return Err(self.error(format!("{c:?} is not supported here"))),
            c => one(c),
        };
        self.program.push(Inst::Char(set));
        Ok(())
    }

    /// `( ... )`, after the `(`.
    fn group(&mut self) -> Result<()> {
        if self.peek() == Some('?') {
            return Err(self.error("group flags and look-around (?...) are not supported".into()));
        }
        self.alternation()?;
        match self.next() {
            Some(')') => Ok(()),
            _ => Err(self.error("unclosed group".into())),
        }
    }

    /// `[...]`, after the `[`: characters, ranges `a-z`, escapes, and a
    /// leading `^` for the complement.
    fn class(&mut self) -> Result<Set> {
        let negated = self.peek() == Some('^');
        self.at += usize::from(negated);
        let mut set: Set = 0;
        let mut first = true;
        loop {
            let c = self.next().ok_or_else(|| self.error("unclosed character class".into()))?;
            if c == ']' && !first {
                break;
            }
            first = false;
            let (low, low_char) = self.class_member(c)?;
            if self.peek() == Some('-') && self.chars.get(self.at + 1).is_some_and(|&n| n != ']') {
                self.at += 1;
                let high = self.next().ok_or_else(|| self.error("unclosed character class".into()))?;
                let (_, high_char) = self.class_member(high)?;
                match (low_char, high_char) {
                    (Some(low), Some(high)) => set |= self.range(low, high)?,
                    _ => return Err(self.error("a class such as \\d cannot bound a range".into())),
                }
            } else {
                set |= low;
            }
        }
        Ok(if negated { !set } else { set })
    }

    /// One member of a class, `c` just read: its set, and the character it
    /// stands for if it is one (an escaped `\.` stands for `.`, so it can
    /// bound a range; `\d` and `\w` stand for none).
    fn class_member(&mut self, c: char) -> Result<(Set, Option<char>)> {
        if c != '\\' {
            return Ok((one(c), Some(c)));
        }
        let escaped = self.peek().filter(|e| !matches!(e, 'd' | 'w'));
        Ok((self.escape()?, escaped))
    }

    fn range(&self, low: char, high: char) -> Result<Set> {
        if !low.is_ascii() || !high.is_ascii() || low > high {
            return Err(self.error(format!("bad range {low:?}-{high:?}")));
        }
        Ok((low as u8..=high as u8).fold(0, |set, c| set | 1 << c))
    }

    /// After a `\`: `\d`, `\w`, or the character itself.
    fn escape(&mut self) -> Result<Set> {
        match self.next() {
            Some('d') => Ok(DIGITS),
            Some('w') => Ok(DIGITS | LETTERS | one('_')),
            Some(c) if c.is_ascii_alphanumeric() => Err(self.error(format!("escape \\{c} is not supported"))),
            Some(c) => Ok(one(c)),
            None => Err(self.error("pattern ends with \\".into())),
        }
    }
}

/// Every ASCII character.
const ALL: Set = u128::MAX;
const DIGITS: Set = ((1u128 << 10) - 1) << b'0';
const LETTERS: Set = (((1u128 << 26) - 1) << b'A') | (((1u128 << 26) - 1) << b'a');

/// The set of `c` alone; empty for a character no topic name holds.
fn one(c: char) -> Set {
    if c.is_ascii() {
        1 << (c as u8)
    } else {
        0
    }
}

/// Moves the targets of `program`'s jumps and splits at or after `from`
/// one step later: an instruction was inserted at `from`.
fn shift_targets(program: &mut [Inst], from: usize) {
    let shift = |target: &mut usize| {
        if *target >= from {
            *target += 1;
        }
    };
    for inst in program {
        match inst {
            Inst::Split(a, b) => {
                shift(a);
                shift(b);
            }
            Inst::Jump(to) => shift(to),
            Inst::Char(_) | Inst::Match => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, name: &str) -> bool {
        TopicPattern::new(pattern).unwrap().matches(name)
    }

    #[test]
    fn whole_names_match() {
        assert!(matches("events", "events"));
        assert!(!matches("events", "events2"));
        assert!(!matches("events", "old-events"));
        assert!(matches("events.*", "events"));
        assert!(matches("events.*", "events-eu.1"));
        assert!(matches("^events\\..+$", "events.eu"));
        assert!(!matches("events\\..+", "events-eu"));
        assert!(!matches("events\\..+", "events."));
        assert!(matches("(orders|payments)-v[0-9]+", "payments-v12"));
        assert!(!matches("(orders|payments)-v[0-9]+", "payments-v"));
        assert!(matches("a|b|c", "c"));
        assert!(matches("[^x]?y", "y"));
        assert!(matches("[^x]?y", "zy"));
        assert!(!matches("[^x]?y", "xy"));
        assert!(matches("[a-c_-]*", "a_-cb"));
        assert!(matches("\\w+\\.\\d", "log_2.7"));
        assert!(matches("(ab)*", ""));
        assert!(matches("(ab)*", "abab"));
        assert!(!matches("(ab)*", "aba"));
        assert!(matches("((a|)*)*b", "aaab"));
        assert!(matches("x(a|b)+?", "xab"));
    }

    #[test]
    fn a_pathological_pattern_stays_linear() {
        let pattern = format!("{}{}", "(a?)".repeat(100), "a".repeat(100));
        let name = "a".repeat(100);
        assert!(matches(&pattern, &name));
        assert!(!matches("(a*)*b", &"a".repeat(249)));
    }

    #[test]
    fn bad_patterns_are_refused_by_name() {
        for bad in
            ["(", "(a", "a)", "[a", "*a", "a**", "a+?+", "a{2}", "(?i)a", "\\1", "[z-a]", "a\\", &"a".repeat(1025)]
        {
            let error = TopicPattern::new(bad).unwrap_err();
            assert!(matches!(error, Error::InvalidArgument { name: "pattern", .. }), "{bad:?}: {error}");
        }
    }
}
