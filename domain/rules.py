"""The manual's numbers, in one place, so every view and check uses the same ones."""

from __future__ import annotations

from datetime import timedelta, timezone

REQUEST_RESPONSE_WINDOW = timedelta(hours=24)  # a request gets a response within 24 hours
COMPLAINT_RESOLUTION_WINDOW = timedelta(hours=72)  # a complaint is handled within 72 hours
SLA_WARNING_FRACTION = 0.75  # warn when 75% of a window has passed
POOL_PROTECTION_PERIOD = timedelta(days=15)  # untouched this long, a customer returns to the public pool
HANDOVER_RETURN_VISIT_AFTER = timedelta(days=7)  # the after-sales return visit is due this long after handover
SATISFACTION_TARGET = 0.90  # share of satisfied survey answers
SATISFIED_SCORES = frozenset({4, 5})
SCORE_MIN, SCORE_MAX = 1, 5
RECEPTION_NORM_MINUTES = (15, 30)  # a reception normally lasts 15-30 minutes
MAX_FUTURE_SKEW = timedelta(minutes=5)  # business time may run this far ahead of the clock
MAX_RECEPTION = timedelta(hours=12)  # longer than a working day is a data-entry mistake

SURVEY_DIMENSIONS = ("overall", "attitude", "professionalism", "responsiveness", "accuracy")

# Service files (ch. 7)
ARCHIVE_TIME_ZONE = timezone(timedelta(hours=8), "CST")  # the year of an archive number is China Standard Time's
MAX_READ_PURPOSE = 200  # a document read says why in at most this many characters
MAX_DOCUMENT_SIZE = 2**31  # bytes: a scan or PDF, never more than 2 GiB
