"""`make chaos`: the crash run. See `bench.chaos.harness`."""
