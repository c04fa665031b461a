-- Sales-rep performance per owner and calendar month. Deal events (stage changes, lost reasons)
-- are credited to the deal's owner in force at the time (user_id in deal_changes); a done
-- activity to the user it is assigned to (else the deal's owner when it was due). Only months
-- in which a rep had something to show get a row. owner_name is masked like every user name.
--   deals_assigned        deals that became the rep's that month
--   deals_worked          distinct deals with a stage change, a lost reason or a done activity
--   stage_changes         stage transitions made on the rep's deals
--   activities_completed  done activities, by due_to
--   deals_lost            distinct deals lost, with the reasons decoded from fields.csv
-- layer: mart
-- requires: deal_changes
-- uses: activities, users, fields
WITH owner AS (
    SELECT * FROM marts.int_deal_owner_history
),
deal_events AS (
    SELECT
        dc.deal_id,
        date_trunc('month', dc.change_time)::DATE AS month,
        lower(trim(dc.changed_field_key)) AS field_key,
        oh.owner_id
    FROM core.deal_changes AS dc
    LEFT JOIN owner AS oh
        ON oh.deal_id = dc.deal_id
       AND oh.valid_from <= dc.change_time
       AND (oh.valid_to IS NULL OR dc.change_time < oh.valid_to)
    WHERE lower(trim(dc.changed_field_key)) IN ('stage_id', 'lost_reason')
      AND dc.change_time IS NOT NULL
),
done_activities AS (
    SELECT
        a.activity_id,
        a.deal_id,
        date_trunc('month', a.due_to)::DATE AS month,
        coalesce(a.user_id, oh.owner_id) AS owner_id
    FROM core.activities AS a
    LEFT JOIN owner AS oh
        ON oh.deal_id = a.deal_id
       AND oh.valid_from <= a.due_to
       AND (oh.valid_to IS NULL OR a.due_to < oh.valid_to)
    WHERE a.done AND a.due_to IS NOT NULL
),
lost AS (
    SELECT
        deal_id,
        date_trunc('month', lost_at)::DATE AS month,
        owner_id,
        coalesce(lost_reason, 'unknown reason ' || lost_reason_id) AS reason
    FROM marts.int_deal_lost
),
assigned AS (
    SELECT date_trunc('month', valid_from)::DATE AS month, owner_id,
           count(DISTINCT deal_id) AS deals_assigned
    FROM owner
    WHERE owner_id IS NOT NULL
    GROUP BY ALL
),
worked AS (
    SELECT month, owner_id, count(DISTINCT deal_id) AS deals_worked
    FROM (
        SELECT month, owner_id, deal_id FROM deal_events
        UNION
        SELECT month, owner_id, deal_id FROM done_activities WHERE deal_id IS NOT NULL
    )
    GROUP BY ALL
),
stage_moves AS (
    SELECT month, owner_id, count(*) AS stage_changes
    FROM deal_events
    WHERE field_key = 'stage_id'
    GROUP BY ALL
),
completed AS (
    SELECT month, owner_id, count(*) AS activities_completed
    FROM done_activities
    GROUP BY ALL
),
lost_by_reason AS (
    SELECT month, owner_id, reason, count(DISTINCT deal_id) AS deals
    FROM lost
    GROUP BY ALL
),
lost_summary AS (
    SELECT
        l.month,
        l.owner_id,
        count(DISTINCT l.deal_id) AS deals_lost,
        any_value(r.lost_reasons) AS lost_reasons,
        any_value(r.top_lost_reason) AS top_lost_reason
    FROM lost AS l
    JOIN (
        SELECT
            month,
            owner_id,
            string_agg(reason || ': ' || deals, ', ' ORDER BY deals DESC, reason) AS lost_reasons,
            (list(reason ORDER BY deals DESC, reason))[1] AS top_lost_reason
        FROM lost_by_reason
        GROUP BY ALL
    ) AS r ON r.month = l.month AND r.owner_id IS NOT DISTINCT FROM l.owner_id
    GROUP BY ALL
),
keys AS (
    SELECT month, owner_id FROM assigned
    UNION SELECT month, owner_id FROM worked
    UNION SELECT month, owner_id FROM completed
    UNION SELECT month, owner_id FROM lost_summary
)
SELECT
    k.month,
    k.owner_id,
    u.name AS owner_name,
    coalesce(a.deals_assigned, 0)::BIGINT AS deals_assigned,
    coalesce(w.deals_worked, 0)::BIGINT AS deals_worked,
    coalesce(m.stage_changes, 0)::BIGINT AS stage_changes,
    coalesce(c.activities_completed, 0)::BIGINT AS activities_completed,
    coalesce(l.deals_lost, 0)::BIGINT AS deals_lost,
    l.lost_reasons,
    l.top_lost_reason
FROM keys AS k
LEFT JOIN core.users AS u ON u.user_id = k.owner_id
LEFT JOIN assigned AS a ON a.month = k.month AND a.owner_id IS NOT DISTINCT FROM k.owner_id
LEFT JOIN worked AS w ON w.month = k.month AND w.owner_id IS NOT DISTINCT FROM k.owner_id
LEFT JOIN stage_moves AS m ON m.month = k.month AND m.owner_id IS NOT DISTINCT FROM k.owner_id
LEFT JOIN completed AS c ON c.month = k.month AND c.owner_id IS NOT DISTINCT FROM k.owner_id
LEFT JOIN lost_summary AS l ON l.month = k.month AND l.owner_id IS NOT DISTINCT FROM k.owner_id
ORDER BY k.month, k.owner_id
