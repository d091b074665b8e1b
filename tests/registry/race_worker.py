"""One of two processes racing on one registry: `python race_worker.py URL STORE MODEL ROUNDS START_AT`.

Each round uploads the model into a new draft version and activates it; rounds start together at the
wall-clock time START_AT so both processes hit the database at once. Prints the versions it activated.
"""

import sys
import time

from airflow_provider_hazy.registry import Registry


def main() -> None:
    url, store, model, rounds, start_at = sys.argv[1:6]
    registry = Registry(url, store)
    time.sleep(max(0.0, float(start_at) - time.time()))
    activated = []
    for _ in range(int(rounds)):
        version = registry.upload("race", model).version
        registry.activate("race", version)
        activated.append(version)
    registry.close()
    print(" ".join(map(str, activated)))


if __name__ == "__main__":
    main()
