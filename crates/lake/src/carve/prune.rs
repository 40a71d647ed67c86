//! A carve filter as a predicate on the `packets` chunk columns, for Delta
//! partition values, file statistics and Parquet bloom filters to skip what
//! cannot match. It keeps every chunk the expression matches and possibly
//! more (each chunk read is then checked exactly with
//! [`FilterExpr::matches`]), never fewer.

use deltalake::datafusion::prelude::{Expr, col, lit};
use opensoc_net::filter::{FilterExpr, Term};

fn term(t: &Term) -> Option<Expr> {
    Some(match t {
        Term::CommunityId(id) => col("community_id").eq(lit(id.as_str())),
        Term::Host(h) => {
            let h = h.to_string();
            col("ip_lo").eq(lit(h.clone())).or(col("ip_hi").eq(lit(h)))
        }
        // Text addresses do not order like numbers: no statistics help.
        Term::Net(_) => return None,
        Term::Port(lo, hi) if lo == hi => col("port_lo").eq(lit(*lo as i32)).or(col("port_hi").eq(lit(*lo as i32))),
        Term::Port(lo, hi) => col("port_lo")
            .between(lit(*lo as i32), lit(*hi as i32))
            .or(col("port_hi").between(lit(*lo as i32), lit(*hi as i32))),
        Term::Proto(p) => col("proto").eq(lit(*p as i32)),
        Term::Sensor(s) => col("sensor_id").eq(lit(s.as_str())),
    })
}

/// The pruning predicate of `e`; `None` when nothing can be said (`not …`,
/// `net …`, an `or` with such a part).
pub fn prune_expr(e: &FilterExpr) -> Option<Expr> {
    match e {
        FilterExpr::Term(t) => term(t),
        // A negation keeps chunks whose columns are null, which a SQL `NOT`
        // would drop: no pruning.
        FilterExpr::Not(_) => None,
        FilterExpr::And(parts) => parts.iter().filter_map(prune_expr).reduce(Expr::and),
        FilterExpr::Or(parts) => parts.iter().map(prune_expr).collect::<Option<Vec<_>>>()?.into_iter().reduce(Expr::or),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_keeps_a_superset() {
        let p = |s: &str| prune_expr(&FilterExpr::parse(s).unwrap());
        assert!(p("net 10.0.0.0/8").is_none());
        assert!(p("not tcp").is_none());
        assert!(p("tcp or net 10.0.0.0/8").is_none());
        assert_eq!(p("tcp and net 10.0.0.0/8").unwrap().to_string(), "proto = Int32(6)");
        assert_eq!(
            p("port 53 or udp").unwrap().to_string(),
            "port_lo = Int32(53) OR port_hi = Int32(53) OR proto = Int32(17)"
        );
    }
}
