-- Each deal's first entry into each funnel step. Stage steps: the earliest stage_id change to a
-- stage whose label is the step's. Sales calls: the earliest done activity of the step's type,
-- by due_to. Activities come from core.activities, where an activity_id repeated within one
-- export has already been de-duplicated (the repeats are in quarantine.activities).
-- layer: intermediate
-- requires: deal_changes, activities
-- uses: stages, fields
WITH steps AS (
    SELECT * FROM marts.int_funnel_steps
),
stage_entries AS (
    SELECT dc.deal_id, st.funnel_step, min(dc.change_time) AS entered_at
    FROM core.deal_changes AS dc
    JOIN marts.int_stages AS s ON s.stage_id = trim(dc.new_value)
    JOIN steps AS st
        ON st.step_source = 'stage'
       AND lower(trim(st.match_value)) = lower(trim(s.stage_name))
    WHERE lower(trim(dc.changed_field_key)) = 'stage_id'
      AND dc.change_time IS NOT NULL
      AND dc.deal_id IS NOT NULL
    GROUP BY dc.deal_id, st.funnel_step
),
activity_entries AS (
    SELECT a.deal_id, st.funnel_step, min(a.due_to) AS entered_at
    FROM core.activities AS a
    JOIN steps AS st
        ON st.step_source = 'activity'
       AND lower(trim(st.match_value)) = lower(trim(a.type))
    WHERE a.done
      AND a.due_to IS NOT NULL
      AND a.deal_id IS NOT NULL
    GROUP BY a.deal_id, st.funnel_step
),
entries AS (
    SELECT *, 'stage' AS entry_source FROM stage_entries
    UNION ALL
    SELECT *, 'activity' AS entry_source FROM activity_entries
)
SELECT
    e.deal_id,
    st.step_order,
    e.funnel_step,
    st.kpi_name,
    e.entered_at,
    date_trunc('month', e.entered_at)::DATE AS month,
    e.entry_source
FROM entries AS e
JOIN steps AS st ON st.funnel_step = e.funnel_step
