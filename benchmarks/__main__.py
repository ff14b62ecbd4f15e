"""`make bench`: every benchmark, each writing its figures into benchmarks/RESULTS.md."""

import sys

from benchmarks import exports, records_api

if __name__ == "__main__":
    sys.exit(max(module.main() for module in (records_api, exports)))
