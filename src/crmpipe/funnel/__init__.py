"""The sales funnel: the monthly funnel query over the marts, and its chart."""
