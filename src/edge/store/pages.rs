//! `queryUsers` in SQL: the planner's candidates as an index range read, keyset pages past a
//! cursor's boundary, and the ordered reader the core filters.

use super::*;

/// A value bound to the plan's SQL.
pub(super) enum Bind {
    Text(String),
    Int(i64),
}

/// The SQL that reads a plan's candidates, with its bindings; past `seek` (a cursor's
/// boundary, `core::query::cursor`) and in reverse order for a backward one.
pub(super) fn plan_sql(plan: &Plan, seek: Option<&Seek>) -> (String, Vec<Bind>) {
    let mut sql = String::from("SELECT id, record FROM users u WHERE u.deleted = 0");
    if !plan.include_deactivated {
        sql.push_str(" AND u.deactivated = 0");
    }
    let mut args = Vec::new();
    candidates_sql(&plan.candidates, &mut sql, &mut args);
    if let (Some(order), Some(seek)) = (&plan.order, seek) {
        keyset_sql(order, seek, &mut sql, &mut args);
    }
    sql.push_str(&order_sql(plan.order.as_deref(), seek.is_some_and(|s| s.backward)));
    (sql, args)
}

/// The condition that narrows the rows to a plan's candidates (`Candidates::All`: none).
fn candidates_sql(candidates: &Candidates, sql: &mut String, args: &mut Vec<Bind>) {
    match candidates {
        Candidates::All => {}
        Candidates::Ids(ids) => {
            sql.push_str(" AND u.id IN (SELECT value FROM json_each(?))");
            args.push(Bind::Text(json_list(ids)));
        }
        Candidates::Teams(teams) => {
            sql.push_str(" AND u.id IN (SELECT id FROM user_teams WHERE team IN (SELECT value FROM json_each(?)))");
            args.push(Bind::Text(json_list(teams)));
        }
        Candidates::Roles(roles) => {
            sql.push_str(" AND u.role IN (SELECT value FROM json_each(?))");
            args.push(Bind::Text(json_list(roles)));
        }
        Candidates::NameNorm(norm) => {
            sql.push_str(" AND u.name_norm = ?");
            args.push(Bind::Text(norm.clone()));
        }
        Candidates::NamePrefix(word) => {
            sql.push_str(
                " AND u.id IN (SELECT id FROM name_words WHERE word >= ? AND word < ? \
                 UNION SELECT id FROM users WHERE name_overflow = 1)",
            );
            args.push(Bind::Text(word.clone()));
            args.push(Bind::Text(row::prefix_end(word)));
        }
        Candidates::CustomEq { field, value } => {
            // An array is a candidate too: `$eq` matches an array that contains the value.
            sql.push_str(" AND (json_extract(u.record, ?) = ? OR json_type(u.record, ?) = 'array')");
            let path = format!("$.\"{field}\"");
            args.push(Bind::Text(path.clone()));
            args.push(match value {
                CustomValue::Text(t) => Bind::Text(t.clone()),
                CustomValue::Int(i) => Bind::Int(*i),
            });
            args.push(Bind::Text(path));
        }
        Candidates::Range { column, lower, upper } => {
            for (bound, strict, loose) in [(lower, ">", ">="), (upper, "<", "<=")] {
                if let Some(b) = bound {
                    let op = if b.inclusive { loose } else { strict };
                    sql.push_str(&format!(" AND u.{} {op} ?", column.name()));
                    args.push(Bind::Text(b.value.clone()));
                }
            }
        }
    }
}

/// `ORDER BY` for a plan's order (by id when it has none), reversed when reading backward.
fn order_sql(order: Option<&[(index::Column, bool)]>, backward: bool) -> String {
    match order {
        None => " ORDER BY u.id".to_string(),
        Some(order) => {
            let terms: Vec<String> = order
                .iter()
                .map(|(c, desc)| {
                    let dir = if *desc != backward { "DESC" } else { "ASC" };
                    // Absent values sort last whatever the direction, as in the core (first
                    // when reading backward).
                    let last = if backward { " DESC" } else { "" };
                    let nulls = if c.nullable() { format!("(u.{} IS NULL){last}, ", c.name()) } else { String::new() };
                    format!("{nulls}u.{} {dir}", c.name())
                })
                .collect();
            format!(" ORDER BY {}", terms.join(", "))
        }
    }
}

/// The keyset condition of a walk (`core::query::cursor`): users strictly past the boundary `seek`
/// in `order`, with absent values (nullable columns) last as `ORDER BY` puts them; strictly
/// before it for a backward seek. `c0 past v0 OR (c0 = v0 AND (c1 past v1 OR (…)))`, led by
/// `c0 >= v0` (or `<=`) so that an index on the first column serves the range.
pub(super) fn keyset_sql(order: &[(index::Column, bool)], seek: &Seek, sql: &mut String, args: &mut Vec<Bind>) {
    let n = order.len().min(seek.key.len());
    if n == 0 {
        return;
    }
    let (mut terms, mut values) = (String::new(), Vec::new());
    for (i, ((column, desc), value)) in order.iter().zip(&seek.key).enumerate() {
        let on = |s: &mut String, op: &str| {
            s.push_str("u.");
            s.push_str(column.name());
            s.push_str(op);
        };
        let ahead = *desc != seek.backward;
        terms.push_str("((");
        match value {
            Some(v) => {
                if i == 0 && !column.nullable() {
                    sql.push_str(" AND ");
                    on(sql, if ahead { " <= ?" } else { " >= ?" });
                    args.push(Bind::Text(v.clone()));
                }
                on(&mut terms, if ahead { " < ?" } else { " > ?" });
                values.push(v.clone());
                // Absent values lie past every present one going forward, before them backward.
                if column.nullable() && !seek.backward {
                    terms.push_str(" OR ");
                    on(&mut terms, " IS NULL");
                }
            }
            None if seek.backward => on(&mut terms, " IS NOT NULL"),
            None => terms.push('0'),
        }
        terms.push(')');
        if i + 1 < n {
            terms.push_str(" OR (");
            match value {
                Some(v) => {
                    on(&mut terms, " = ?");
                    values.push(v.clone());
                }
                None => on(&mut terms, " IS NULL"),
            }
            terms.push_str(" AND ");
        }
    }
    // Each column opened `(` and, but the last, ` OR (`.
    terms.push_str(&")".repeat(2 * n - 1));
    sql.push_str(" AND ");
    sql.push_str(&terms);
    args.extend(values.into_iter().map(Bind::Text));
}

pub(super) fn binds(args: &[Bind]) -> Vec<Arg<'_>> {
    args.iter()
        .map(|a| match a {
            Bind::Text(t) => Arg::Text(t),
            Bind::Int(i) => Arg::Int(*i),
        })
        .collect()
}

/// A page of `q` from SQL: the plan's candidates, then the filter in the core. A walk
/// (`core::query::cursor`: an indexed sort) reads in the plan's order past its cursor, each read
/// stopping once it has what it needs; otherwise every candidate is read and the core sorts
/// and pages them.
pub fn query_page(db: &Db, q: &UserQuery, walk: Option<&Walk>) -> Result<Page, ApiError> {
    let plan = index::plan(q);
    match walk {
        Some(walk) => walk.page(|seek, skip, take| {
            let mut page = InOrder::window(q, skip, take);
            if take > 0 {
                candidates(db, &plan, seek, |u| page.offer(u))?;
            }
            Ok(page.page())
        }),
        None => {
            let mut users = Vec::new();
            candidates(db, &plan, None, |u| {
                users.push(u);
                true
            })?;
            Ok(Page { users: order::run(q, &users).into_iter().cloned().collect(), ..Page::default() })
        }
    }
}

/// Reads a plan's candidates (past `seek`) in storage order, handing each to `each` until it
/// answers `false`.
pub(super) fn candidates(
    db: &Db,
    plan: &Plan,
    seek: Option<&Seek>,
    mut each: impl FnMut(User) -> bool,
) -> Result<(), ApiError> {
    let (sql, args) = plan_sql(plan, seek);
    for row in db.rows(&sql, &binds(&args))? {
        let row = row?;
        let (Some(id), Some(text)) = (row.text(0), row.text(1)) else { continue };
        if !each(parse_user(&id, &text)?) {
            break;
        }
    }
    Ok(())
}
