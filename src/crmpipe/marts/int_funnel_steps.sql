-- The funnel's steps (docs/funnel.md). Stage steps match a stage whose label equals the step's
-- label ignoring case and surrounding blanks (the export says "Qualified lead"); the two sales
-- call steps match done activities of a type key, also ignoring case.
-- layer: intermediate
SELECT
    step_order::INTEGER AS step_order,
    funnel_step,
    kpi_name,
    step_source,
    match_value
FROM (
    VALUES
        (1, '1', 'Lead Generation', 'stage', 'Lead Generation'),
        (2, '2', 'Qualified Lead', 'stage', 'Qualified Lead'),
        (3, '2.1', 'Sales Call 1', 'activity', 'meeting'),
        (4, '3', 'Needs Assessment', 'stage', 'Needs Assessment'),
        (5, '3.1', 'Sales Call 2', 'activity', 'sc_2'),
        (6, '4', 'Proposal/Quote Preparation', 'stage', 'Proposal/Quote Preparation'),
        (7, '5', 'Negotiation', 'stage', 'Negotiation'),
        (8, '6', 'Closing', 'stage', 'Closing'),
        (9, '7', 'Implementation/Onboarding', 'stage', 'Implementation/Onboarding'),
        (10, '8', 'Follow-up/Customer Success', 'stage', 'Follow-up/Customer Success'),
        (11, '9', 'Renewal/Expansion', 'stage', 'Renewal/Expansion')
) AS steps (step_order, funnel_step, kpi_name, step_source, match_value)
