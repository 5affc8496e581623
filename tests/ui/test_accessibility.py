"""What the console promises a reader, checked in Chromium: every phase badge and the body
text keep a WCAG AA contrast (4.5:1) in light and in dark mode, every form control has a
label, and the README shows only pictures the browser tests take."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from service.api import ControlApi
from tests.service.processes import ROOT

CONTRAST = """() => {
  const phases = ["accepted", "submitting", "submitted", "waiting", "pending", "running",
    "failed", "retry_wait", "cancelling", "succeeded", "cancelled", "dead"];
  const rgb = (text) => text.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const out = {};
  for (const phase of phases) {
    const el = document.createElement("span");
    el.className = `badge ph-${phase}`;
    el.textContent = phase;
    document.body.append(el);
    const style = getComputedStyle(el);
    out[phase] = ratio(rgb(style.color), rgb(style.backgroundColor));
  }
  const body = getComputedStyle(document.body);
  out.body = ratio(rgb(body.color), rgb(body.backgroundColor));
  const muted = document.querySelector(".muted");
  out.muted = ratio(rgb(getComputedStyle(muted).color), rgb(body.backgroundColor));
  return out;
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_phases_and_text_keep_their_contrast(browser: Any, scheme: str) -> None:
    control = ControlApi()  # not booted: the page loads, its data answers 503
    runner, url = await control.start("127.0.0.1", 0)
    try:
        context = await browser.new_context(color_scheme=scheme)
        page = await context.new_page()
        await page.goto(url + "/ui/")
        ratios = await page.evaluate(CONTRAST)
        low = {name: round(r, 2) for name, r in ratios.items() if r < 4.5}
        assert not low, f"under 4.5:1 in {scheme} mode: {low}"
        unlabelled = await page.evaluate(
            """() => [...document.querySelectorAll("input, select")]
                .filter((el) => !el.labels || !el.labels.length).map((el) => el.name)"""
        )
        assert unlabelled == []
        await context.close()
    finally:
        await runner.cleanup()


def test_the_readme_shows_only_pictures_the_tests_take() -> None:
    shown = re.findall(r"docs/screenshots/([\w-]+\.png)", (ROOT / "README.md").read_text())
    assert shown
    taken = "".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    assert [name for name in shown if f'"{name}"' not in taken] == []
