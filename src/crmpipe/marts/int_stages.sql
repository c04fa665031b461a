-- Every known stage with its label: the stages table first, the stage_id options of
-- fields.csv for stages it lacks (or leaves unlabelled).
-- layer: intermediate
-- uses: stages, fields
WITH field_labels AS (
    SELECT option_id AS stage_id, label
    FROM marts.int_field_options
    WHERE field_key = 'stage_id'
)
SELECT
    coalesce(s.stage_id, f.stage_id) AS stage_id,
    coalesce(s.stage_name, f.label) AS stage_name,
    f.label AS field_label
FROM core.stages AS s
FULL JOIN field_labels AS f ON f.stage_id = s.stage_id
