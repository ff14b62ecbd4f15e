"""`make bench`: every benchmark, each writing its figures into benchmarks/RESULTS.md."""

import sys

from benchmarks import aggregates, client, exports, records_api, release_build, speed

if __name__ == "__main__":
    # The release build first: it measures generation and build from scratch when the data is new.
    results = [module.main() for module in (release_build, speed, records_api, client, exports, aggregates)]
    sys.exit(max(results))
