-- The monthly sales funnel: per calendar month and funnel step, the deals whose first entry into
-- that step fell in that month. Every step has a row for every month from the first to the last
-- month with any entry (0 when none).
-- layer: mart
-- requires: deal_changes, activities
WITH bounds AS (
    SELECT min(month) AS first_month, max(month) AS last_month
    FROM marts.int_deal_funnel_entries
),
months AS (
    SELECT unnest(generate_series(first_month, last_month, INTERVAL 1 MONTH))::DATE AS month
    FROM bounds
    WHERE first_month IS NOT NULL
),
grid AS (
    SELECT m.month, s.step_order, s.funnel_step, s.kpi_name
    FROM months AS m
    CROSS JOIN marts.int_funnel_steps AS s
)
SELECT
    g.month,
    g.kpi_name,
    g.funnel_step,
    count(e.deal_id)::BIGINT AS deals_count
FROM grid AS g
LEFT JOIN marts.int_deal_funnel_entries AS e
    ON e.month = g.month AND e.funnel_step = g.funnel_step
GROUP BY g.month, g.step_order, g.funnel_step, g.kpi_name
ORDER BY g.month, g.step_order
