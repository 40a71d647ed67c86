//! Sigma's `condition`: selections combined with `and`, `or`, `not`,
//! parentheses, `1 of`/`all of` a name pattern or `them`, and the legacy
//! aggregation `| count([field]) [by a[, b]] > N` (also `>=`).

use super::matcher::NumOp;

/// A condition over the rule's selections (by index).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// The selection matched.
    Sel(usize),
    /// Not.
    Not(Box<Expr>),
    /// All of.
    And(Vec<Expr>),
    /// Any of.
    Or(Vec<Expr>),
}

/// `count(field) by keys > threshold`, as written.
#[derive(Debug, Clone, PartialEq)]
pub struct AggSpec {
    /// Distinct values of this field, or matching events when `None`.
    pub field: Option<String>,
    /// The fields whose values make the key.
    pub by: Vec<String>,
    /// `>` or `>=`.
    pub op: NumOp,
    /// The threshold.
    pub threshold: u64,
}

fn tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' | ')' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(c.to_string());
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

struct Parser<'a> {
    toks: Vec<String>,
    at: usize,
    names: &'a [String],
}

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.toks.get(self.at).map(String::as_str)
    }

    fn next(&mut self) -> Option<String> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.and()?];
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("or")) {
            self.at += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Expr::Or(parts) })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.not()?];
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("and")) {
            self.at += 1;
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Expr::And(parts) })
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.peek().is_some_and(|t| t.eq_ignore_ascii_case("not")) {
            self.at += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Expr, String> {
        let t = self.next().ok_or("the condition ends too early")?;
        if t == "(" {
            let e = self.or()?;
            return match self.next().as_deref() {
                Some(")") => Ok(e),
                _ => Err("a '(' is not closed".into()),
            };
        }
        let quantifier = t.to_ascii_lowercase();
        if matches!(quantifier.as_str(), "1" | "any" | "all")
            && self.peek().is_some_and(|p| p.eq_ignore_ascii_case("of"))
        {
            self.at += 1;
            let pattern = self.next().ok_or("'of' needs a name pattern or 'them'")?;
            let picked: Vec<Expr> = self
                .names
                .iter()
                .enumerate()
                .filter(|(_, n)| pattern == "them" || name_matches(&pattern, n))
                .map(|(i, _)| Expr::Sel(i))
                .collect();
            if picked.is_empty() {
                return Err(format!("'{pattern}' names no selection"));
            }
            return Ok(if quantifier == "all" { Expr::And(picked) } else { Expr::Or(picked) });
        }
        match self.names.iter().position(|n| *n == t) {
            Some(i) => Ok(Expr::Sel(i)),
            None => Err(format!("the condition names {t:?}, which is not a selection")),
        }
    }
}

/// Parse `condition` over the selections `names`.
pub fn parse(condition: &str, names: &[String]) -> Result<(Expr, Option<AggSpec>), String> {
    let (expr, agg) = match condition.split_once('|') {
        Some((e, a)) => (e, Some(a)),
        None => (condition, None),
    };
    let mut p = Parser { toks: tokens(expr), at: 0, names };
    let e = p.or()?;
    if let Some(extra) = p.peek() {
        return Err(format!("unexpected {extra:?} in the condition"));
    }
    let agg = agg.map(aggregation).transpose()?;
    Ok((e, agg))
}

fn aggregation(s: &str) -> Result<AggSpec, String> {
    let s = s.trim();
    let rest = s.strip_prefix("count(").ok_or_else(|| format!("only count() aggregations are supported, not {s:?}"))?;
    let (field, rest) = rest.split_once(')').ok_or("count( is not closed")?;
    let field = Some(field.trim()).filter(|f| !f.is_empty()).map(str::to_string);
    let rest = rest.trim();
    let (by, rest) = match rest.strip_prefix("by ") {
        Some(r) => {
            let at = r.find(['>', '<', '=']).ok_or("the aggregation has no comparison")?;
            let keys: Vec<String> =
                r[..at].split(',').map(|k| k.trim().to_string()).filter(|k| !k.is_empty()).collect();
            if keys.is_empty() {
                return Err("'by' names no field".into());
            }
            (keys, &r[at..])
        }
        None => (Vec::new(), rest),
    };
    let (op, n) = if let Some(n) = rest.strip_prefix(">=") {
        (NumOp::Gte, n)
    } else if let Some(n) = rest.strip_prefix('>') {
        (NumOp::Gt, n)
    } else {
        return Err(format!(
            "{rest:?}: only '>' and '>=' are supported (a finding is raised when the count crosses the threshold)"
        ));
    };
    let threshold = n.trim().parse::<u64>().map_err(|_| format!("{:?} is not a whole number", n.trim()))?;
    Ok(AggSpec { field, by, op, threshold })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["selection", "filter_a", "filter_b", "keywords"].iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn precedence_and_quantifiers() {
        let (e, a) = parse("selection and not 1 of filter_* or keywords", &names()).unwrap();
        assert_eq!(
            e,
            Expr::Or(vec![
                Expr::And(vec![Expr::Sel(0), Expr::Not(Box::new(Expr::Or(vec![Expr::Sel(1), Expr::Sel(2)])))]),
                Expr::Sel(3)
            ])
        );
        assert_eq!(a, None);
        let (e, _) = parse("all of them", &names()).unwrap();
        assert_eq!(e, Expr::And((0..4).map(Expr::Sel).collect()));
        let (e, _) = parse("(selection or keywords) and filter_a", &names()).unwrap();
        assert_eq!(e, Expr::And(vec![Expr::Or(vec![Expr::Sel(0), Expr::Sel(3)]), Expr::Sel(1)]));
    }

    #[test]
    fn aggregations() {
        let (_, a) = parse("selection | count(dst_port) by src_ip, dst_ip > 100", &names()).unwrap();
        assert_eq!(
            a,
            Some(AggSpec {
                field: Some("dst_port".into()),
                by: vec!["src_ip".into(), "dst_ip".into()],
                op: NumOp::Gt,
                threshold: 100
            })
        );
        let (_, a) = parse("selection | count() >= 5", &names()).unwrap();
        assert_eq!(a.unwrap().by, Vec::<String>::new());
    }

    #[test]
    fn errors_say_what_is_wrong() {
        for (c, want) in [
            ("selection and", "ends too early"),
            ("nope", "not a selection"),
            ("(selection", "not closed"),
            ("selection filter_a", "unexpected"),
            ("1 of x*", "names no selection"),
            ("selection | sum(bytes) > 5", "only count()"),
            ("selection | count() < 5", "only '>' and '>='"),
            ("selection | count() by > 5", "names no field"),
            ("selection | count() > many", "whole number"),
        ] {
            let e = parse(c, &names()).unwrap_err();
            assert!(e.contains(want), "{c}: {e}");
        }
    }
}
