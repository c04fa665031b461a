-- The option labels of the CRM's enum fields (stage_id, lost_reason, ...), decoded from the JSON
-- list of {"id", "label"} that fields.value_options holds. One row per (field_key, option_id).
-- layer: intermediate
-- uses: fields
WITH decoded AS (
    SELECT
        lower(trim(field_key)) AS field_key,
        from_json(value_options, '[{"id": "VARCHAR", "label": "VARCHAR"}]') AS options
    FROM core.fields
    WHERE field_key IS NOT NULL
      AND json_valid(value_options)
      AND json_type(value_options) = 'ARRAY'
),
options AS (
    SELECT field_key, unnest(options) AS o FROM decoded
)
SELECT
    field_key,
    trim(o.id) AS option_id,
    trim(o.label) AS label
FROM options
WHERE o.id IS NOT NULL
-- A field listed twice keeps one label per option (the first by label, for determinism).
QUALIFY row_number() OVER (PARTITION BY field_key, trim(o.id) ORDER BY trim(o.label)) = 1
