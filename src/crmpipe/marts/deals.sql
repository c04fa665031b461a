-- core.deals derived from the change log when no deals export is mapped: one row per deal with
-- its latest owner and stage, created_at from add_time (else its first change), and status
-- 'lost' once a lost reason was set (else 'open'). Lineage says it was derived.
-- layer: core
-- target: core.deals
-- unless_source: deals
-- requires: deal_changes
-- uses: fields
WITH dc AS (
    SELECT *, lower(trim(changed_field_key)) AS field_key, trim(new_value) AS value
    FROM core.deal_changes
    WHERE change_time IS NOT NULL AND deal_id IS NOT NULL
),
per_deal AS (
    SELECT
        deal_id,
        min(coalesce(try_cast(value AS TIMESTAMP), change_time))
            FILTER (WHERE field_key = 'add_time') AS added_at,
        arg_max(value, change_time) FILTER (WHERE field_key = 'user_id') AS owner_id,
        arg_max(value, change_time) FILTER (WHERE field_key = 'stage_id') AS stage_id,
        max(change_time) FILTER (WHERE field_key = 'stage_id') AS stage_changed_at,
        arg_max(value, change_time) FILTER (WHERE field_key = 'lost_reason') AS lost_reason_id,
        max(change_time) FILTER (WHERE field_key = 'lost_reason') AS lost_at,
        min(change_time) AS first_change,
        max(change_time) AS updated_at
    FROM dc
    GROUP BY deal_id
)
SELECT
    p.deal_id,
    p.owner_id,
    p.stage_id,
    CASE WHEN p.lost_at IS NOT NULL THEN 'lost' ELSE 'open' END AS status,
    coalesce(o.label, p.lost_reason_id) AS lost_reason,
    coalesce(p.added_at, p.first_change) AS created_at,
    p.stage_changed_at,
    p.lost_at,
    p.updated_at,
    'deal_changes' AS _source,
    NULL::VARCHAR AS _file,
    NULL::BIGINT AS _row,
    getvariable('crmpipe_run_id')::BIGINT AS _run_id,
    now()::TIMESTAMP AS _loaded_at
FROM per_deal AS p
LEFT JOIN marts.int_field_options AS o
    ON o.field_key = 'lost_reason' AND o.option_id = p.lost_reason_id
