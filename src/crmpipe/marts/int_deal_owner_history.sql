-- Who owned each deal when: one row per owner change (user_id in deal_changes), valid from its
-- change_time up to (not including) the next one. A change at the same second as another event
-- is already in force for it.
-- layer: intermediate
-- requires: deal_changes
SELECT
    deal_id,
    trim(new_value) AS owner_id,
    change_time AS valid_from,
    lead(change_time) OVER (
        PARTITION BY deal_id ORDER BY change_time, trim(new_value)
    ) AS valid_to
FROM core.deal_changes
WHERE lower(trim(changed_field_key)) = 'user_id'
  AND change_time IS NOT NULL
