"""Progress display for the demo: numbered stages with their run time."""
import time


class StageProgress:
    """Prints `[k/N] title` when a stage starts and its duration when it ends."""

    def __init__(self, titles):
        self.titles = list(titles)
        self.start = time.monotonic()
        self.index = 0

    def run(self, title, fn, *args, **kwargs):
        self.index += 1
        number = self.titles.index(title) + 1 if title in self.titles else self.index
        print(f"\n[{number}/{len(self.titles)}] {title} ...", flush=True)
        began = time.monotonic()
        result = fn(*args, **kwargs)
        took = time.monotonic() - began
        total = time.monotonic() - self.start
        print(f"[{number}/{len(self.titles)}] {title}: done in {took:.0f} s (total {total / 60:.1f} min)", flush=True)
        return result
