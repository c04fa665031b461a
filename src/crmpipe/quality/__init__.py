"""Data quality: check and SLA specs, the check engine, SLAs, scores, quarantine and alerts."""
