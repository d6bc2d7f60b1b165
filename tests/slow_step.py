"""A test-only step that sleeps per batch, so a run lasts long enough to be killed.

Tests register it with ``assay.steps.registered(SleepStep)``; run as a script (the CLI in
a child process that a test kills), it registers itself for that process only."""
import time

import pyarrow as pa

from assay.steps import Step, StepParams, register


class SleepParams(StepParams):
    seconds: float = 0.05


class SleepStep(Step):
    name = "_test_sleep"
    Params = SleepParams

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        time.sleep(self.params.seconds)
        return batch


if __name__ == "__main__":
    from assay.cli import main

    register(SleepStep)
    main()
