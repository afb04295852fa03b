"""What each SIEM stores for one raw CloudTrail record: Elastic document, Sentinel row, Splunk fields."""

from snaptrail.verify.storage.elastic import to_ecs_document
from snaptrail.verify.storage.sentinel import to_sentinel_row
from snaptrail.verify.storage.splunk import to_splunk_event

__all__ = ["to_ecs_document", "to_sentinel_row", "to_splunk_event"]
