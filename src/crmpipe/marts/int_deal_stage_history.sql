-- Each stage transition of each deal (the issue's `deal_stage_history`): the stage entered, the
-- stage it left and how long the deal had been in that previous stage. `seconds_in_stage` is the
-- time until the next transition (NULL while the deal is still in the stage).
-- layer: intermediate
-- requires: deal_changes
-- uses: stages, fields
WITH changes AS (
    SELECT
        deal_id,
        change_time AS entered_at,
        trim(new_value) AS stage_id,
        row_number() OVER (
            PARTITION BY deal_id ORDER BY change_time, trim(new_value)
        ) AS transition_number
    FROM core.deal_changes
    WHERE lower(trim(changed_field_key)) = 'stage_id'
      AND change_time IS NOT NULL
      AND new_value IS NOT NULL
),
sequenced AS (
    SELECT
        *,
        lag(stage_id) OVER w AS previous_stage_id,
        lag(entered_at) OVER w AS previous_entered_at,
        lead(entered_at) OVER w AS left_at
    FROM changes
    WINDOW w AS (PARTITION BY deal_id ORDER BY transition_number)
)
SELECT
    q.deal_id,
    q.transition_number,
    q.stage_id,
    s.stage_name,
    q.entered_at,
    q.left_at,
    q.previous_stage_id,
    ps.stage_name AS previous_stage_name,
    q.previous_entered_at,
    date_diff('second', q.previous_entered_at, q.entered_at) AS seconds_in_previous_stage,
    round(date_diff('second', q.previous_entered_at, q.entered_at) / 86400.0, 3)
        AS days_in_previous_stage,
    date_diff('second', q.entered_at, q.left_at) AS seconds_in_stage
FROM sequenced AS q
LEFT JOIN marts.int_stages AS s ON s.stage_id = q.stage_id
LEFT JOIN marts.int_stages AS ps ON ps.stage_id = q.previous_stage_id
