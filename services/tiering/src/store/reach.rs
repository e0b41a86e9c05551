//! Which customers a caller may see: the authorisation condition the lists
//! and rankings add to their SQL.

/// Which customers a list may show: those the caller reaches, narrowed to
/// one manager's when asked.
#[derive(Debug, Clone, Default)]
pub struct Visibility {
    /// Only this manager's customers.
    pub manager_asked: Option<String>,
    /// The caller reaches the whole company.
    pub company: bool,
    /// Customers whose unit path holds this unit.
    pub unit: Option<String>,
    /// Customers this staff member manages.
    pub managed_by: Option<String>,
}

impl Visibility {
    /// The SQL condition on `customer_id`, reading its four values from the
    /// query parameters starting at `$first` (bound by [`bind`](Self::bind)).
    pub(super) fn condition(first: usize) -> String {
        let (asked, company, unit, managed_by) = (first, first + 1, first + 2, first + 3);
        format!(
            "(${asked}::text IS NULL OR customer_id IN
                (SELECT f.customer_id FROM customer_facts f WHERE f.account_manager = ${asked}))
             AND (${company}::boolean OR customer_id IN
                (SELECT f.customer_id FROM customer_facts f
                  WHERE f.org_unit_path @> ARRAY[${unit}::text]
                     OR (f.account_manager <> '' AND f.account_manager = ${managed_by}::text)))"
        )
    }

    pub(super) fn bind<'q, O>(
        &'q self,
        query: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
        query
            .bind(&self.manager_asked)
            .bind(self.company)
            .bind(&self.unit)
            .bind(&self.managed_by)
    }
}
