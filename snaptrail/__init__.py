"""snaptrail: detection-as-code for cloud snapshot abuse (AWS CloudTrail)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("snaptrail")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
