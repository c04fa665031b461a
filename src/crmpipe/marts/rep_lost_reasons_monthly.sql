-- Deals lost per calendar month, owner (in force when the deal was lost) and reason, the reason
-- decoded from fields.csv's lost_reason options: the long form of the performance mart's
-- lost_reasons column, for charts and pivots.
-- layer: mart
-- requires: deal_changes
-- uses: users, fields
SELECT
    date_trunc('month', l.lost_at)::DATE AS month,
    l.owner_id,
    u.name AS owner_name,
    l.lost_reason_id,
    l.lost_reason,
    count(DISTINCT l.deal_id)::BIGINT AS deals_lost
FROM marts.int_deal_lost AS l
LEFT JOIN core.users AS u ON u.user_id = l.owner_id
GROUP BY ALL
ORDER BY month, owner_id, deals_lost DESC, lost_reason_id
