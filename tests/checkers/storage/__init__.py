"""What each SIEM stores for one raw CloudTrail record: Elastic document, Sentinel row, Splunk fields."""

from checkers.storage.elastic import to_ecs_document
from checkers.storage.sentinel import to_sentinel_row
from checkers.storage.splunk import to_splunk_event

__all__ = ["to_ecs_document", "to_sentinel_row", "to_splunk_event"]
