-- Every "deal lost" event: when, the reason decoded from fields.csv's lost_reason options, and
-- the owner in force at that moment.
-- layer: intermediate
-- requires: deal_changes
-- uses: fields
SELECT
    dc.deal_id,
    dc.change_time AS lost_at,
    trim(dc.new_value) AS lost_reason_id,
    o.label AS lost_reason,
    oh.owner_id
FROM core.deal_changes AS dc
LEFT JOIN marts.int_field_options AS o
    ON o.field_key = 'lost_reason' AND o.option_id = trim(dc.new_value)
LEFT JOIN marts.int_deal_owner_history AS oh
    ON oh.deal_id = dc.deal_id
   AND oh.valid_from <= dc.change_time
   AND (oh.valid_to IS NULL OR dc.change_time < oh.valid_to)
WHERE lower(trim(dc.changed_field_key)) = 'lost_reason'
  AND dc.change_time IS NOT NULL
  AND dc.new_value IS NOT NULL
