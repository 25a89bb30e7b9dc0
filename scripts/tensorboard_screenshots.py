"""Screenshots of TensorBoard's Custom Scalars, Images and HParams tabs for a sweep (docs/tensorboard.md).

    .venv/bin/python scripts/tensorboard_screenshots.py runs/sigmoid10/<time> --out docs/tensorboard

Starts TensorBoard on localhost (a free port; stopped at the end) and renders each tab
with headless Chromium (Debian: apt-get install chromium). PNGs are small enough to
commit (< 300 KB each at the default size).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from tensorboard_server import tensorboard  # noqa: E402  (shared with the TensorBoard test)

TABS = {"custom_scalars": "custom_scalars", "images": "images", "hparams": "hparams"}


def shoot(browser: str, url: str, path: Path, size: str, wait_ms: int) -> None:
    subprocess.run(
        [
            browser,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--window-size={size}",
            f"--virtual-time-budget={wait_ms}",
            f"--screenshot={path}",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("logdir", type=Path, help="a sweep (or experiment) folder of runs")
    parser.add_argument("--out", type=Path, default=Path("docs/tensorboard"), help="folder for the PNGs")
    parser.add_argument("--size", default="1400,1000", help="browser window, width,height in pixels")
    parser.add_argument("--wait-ms", type=int, default=20000, help="time the page gets to draw its charts")
    opts = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        print("error: no chromium found (Debian: apt-get install chromium)", file=sys.stderr)
        return 1
    runs = len({p.parent for p in opts.logdir.rglob("events.out.tfevents.*")})
    opts.out.mkdir(parents=True, exist_ok=True)
    with tensorboard(opts.logdir, runs) as base:
        time.sleep(3)  # images and hparams load after the scalars
        for name, tab in TABS.items():
            path = opts.out / f"{name}.png"
            shoot(browser, f"{base}/#{tab}", path, opts.size, opts.wait_ms)
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
