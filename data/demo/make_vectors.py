"""Write the demo's recorded vectors: all-MiniLM-L6-v2's vector of every text the demo build embeds.

The build (`bankcore.demo.build`) embeds each lesson twice (what it is for, and the whole lesson) and each task a
memory-on run retrieved for: ~400 texts, ~30 s of MiniLM on two cores, most of what `make run` waited for. This script
builds the demo once with nothing recorded, computing every vector with the packaged model, and writes the texts and
vectors to recording/vectors.npz; later builds replay them and embed only what the file lacks (the build's last lines
say how many). tests/test_recorded_vectors.py checks the file against the live model.

Run:  python data/demo/make_vectors.py   (after make_recording.py: new lesson texts need new vectors)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
from bankcore import demo  # noqa: E402
from bankcore.search.recorded_vectors import RecordedEmbedder  # noqa: E402


def main() -> None:
    embedder = RecordedEmbedder()  # no recording: every vector computed by the model
    with tempfile.TemporaryDirectory() as folder:
        demo.build(Path(folder) / "demo.duckdb", corpus=HERE, embedder=embedder)
    written = embedder.save(HERE / demo.VECTORS)
    print(f"{written} texts and their vectors -> {HERE / demo.VECTORS}")


if __name__ == "__main__":
    main()
