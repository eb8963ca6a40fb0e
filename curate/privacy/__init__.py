"""Personal data in pairs: find it (`detect`), replace it with placeholders (`placeholders`), scan
the store for it and show pairs redacted (`scan`), redact pairs and purge the original text on
request (`redact`); `check` plants made-up values in real text to measure the detector."""
from curate.privacy.detect import DEFAULT_THRESHOLD, PATTERN_ENTITIES, PLACEHOLDER, Detector
from curate.privacy.placeholders import redact_payload
from curate.privacy.redact import redact
from curate.privacy.scan import as_displayed, counts_by_entity, display_redacted, scan, set_display

__all__ = ["DEFAULT_THRESHOLD", "PATTERN_ENTITIES", "PLACEHOLDER", "Detector", "as_displayed", "counts_by_entity",
           "display_redacted", "redact", "redact_payload", "scan", "set_display"]
