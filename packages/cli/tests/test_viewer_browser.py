"""``relnet explain --html`` in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``) driven by selenium. The page loads without console errors; clicking
detection K highlights exactly the library's top related RoIs of K; switching the module or the
relation changes them to that module's or relation's. ``nox -s viewer`` runs it (marker
``browser``); without Chromium it is skipped, unless ``RELNET_BROWSER_REQUIRED=1`` (the nox
session) makes that a failure.

``RELNET_VIEWER_RUN=RUN`` explains that run instead of the session's 1-epoch one, on the first
four val images of ``RELNET_VIEWER_DATA`` (default: the test's data), showing the detections
with a score of at least ``RELNET_VIEWER_MIN_SCORE`` (default 0: every one), and
``RELNET_VIEWER_SCREENSHOT=PNG`` keeps the screenshot (the README's picture).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import invoke
from PIL import Image
from typer.testing import CliRunner

pytestmark = pytest.mark.browser

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
TOP = 4
# the machine's network is closed: no background connections, no first-run pages
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1500,900",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = [p for p in (CHROMIUM, DRIVER) if not Path(p).is_file()]
    webdriver = None
    try:
        from selenium import webdriver  # type: ignore[no-redef]
    except ImportError:
        missing.append("selenium")
    if missing:
        if os.environ.get("RELNET_BROWSER_REQUIRED") == "1":
            pytest.fail(f"the browser test needs {', '.join(missing)}")
        pytest.skip(f"no {', '.join(missing)}")
    assert webdriver is not None
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def page(run: Path, data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The page of the run's (or ``RELNET_VIEWER_RUN``'s) four first val images, every
    detection shown, and the library's relation weights of its first image."""
    run = Path(os.environ.get("RELNET_VIEWER_RUN", run))
    data = Path(os.environ.get("RELNET_VIEWER_DATA", data))
    images = sorted((data / "images" / "val").glob("*.png"))[:4]
    html = tmp_path_factory.mktemp("viewer") / "relations.html"
    min_score = os.environ.get("RELNET_VIEWER_MIN_SCORE", "0")
    args = ["--html", html, "--top", TOP, "--min-score", min_score, "--device", "cpu"]
    result = invoke(CliRunner(), "explain", run, *images, *args)
    assert result.exit_code == 0, result.output
    from relnet_detector import load_detector
    from relnet_detector.modeling.explain import relation_weights

    model = load_detector(run / "checkpoint.pt").model.eval()
    pixels = torch.from_numpy(np.array(Image.open(images[0]).convert("RGB"))).permute(2, 0, 1)
    with torch.inference_mode():
        found = relation_weights(model, pixels.float() / 255)
    return {"html": html, "found": found, "images": images}


def highlighted(driver: Any) -> list[int]:
    """The RoIs drawn as related objects in the first image, in the page's order."""
    rects = driver.find_elements("css selector", "#svg-0 .relations rect.related")
    return [int(r.get_attribute("data-roi")) for r in rects]


def click_detection(driver: Any, k: int) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    rect = driver.find_element("css selector", f'#svg-0 rect.det[data-k="{k}"]')
    # a rectangle's edge: its inside may lie under a smaller detection drawn later
    ActionChains(driver).move_to_element_with_offset(rect, 0, 0).click().perform()
    active = driver.find_element("css selector", "#svg-0 rect.det.reference")
    if active.get_attribute("data-k") != str(k):  # the edge was covered: click it directly
        driver.execute_script("arguments[0].dispatchEvent(new MouseEvent('click'))", rect)


def choose(driver: Any, select: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", select)).select_by_value(value)


def library_top(found: Any, k: int, module: int, relation: int | None) -> list[int]:
    from relnet_detector.modeling.explain import top_related

    return top_related(found, k, module, relation, TOP)[0].tolist()


def test_the_page_shows_the_librarys_relations(browser: Any, page: dict[str, Any]) -> None:
    driver, found = browser, page["found"]
    driver.get(page["html"].as_uri())
    assert driver.title == "relnet: relation weights"
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []
    assert len(driver.find_elements("css selector", "svg image")) == len(page["images"])
    count = len(driver.find_elements("css selector", "#svg-0 rect.det"))
    min_score = float(os.environ.get("RELNET_VIEWER_MIN_SCORE", "0"))
    assert count == int((found.detections["scores"] >= min_score).sum())
    assert count >= 2, "the first image needs two detections to click between"
    last = count - 1
    for k in (last, 1):  # the last first: the page starts on detection 0
        click_detection(driver, k)
        assert highlighted(driver) == library_top(found, k, 0, None)
        info = driver.find_element("id", "info-0").text
        assert f"detection {k}" in info
        assert f"RoI {int(found.roi_index[k])}" in info
    before = highlighted(driver)
    choose(driver, "module", "1")
    assert highlighted(driver) == library_top(found, 1, 1, None)
    assert highlighted(driver) != before
    choose(driver, "relation", "2")
    assert highlighted(driver) == library_top(found, 1, 1, 2)
    shown = [float(t.text) for t in driver.find_elements("css selector", "#svg-0 text.weight")]
    row = found.weights[1][2, int(found.roi_index[1])]  # [N]: one relation's row, a softmax
    assert shown == pytest.approx([float(row[i]) for i in library_top(found, 1, 1, 2)], abs=5e-4)
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    shot = page["html"].with_suffix(".png")
    choose(driver, "relation", "sum")
    driver.save_screenshot(str(shot))
    with Image.open(shot) as picture:
        assert picture.size[0] > 600
    keep = os.environ.get("RELNET_VIEWER_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)


def test_the_page_needs_no_network(page: dict[str, Any]) -> None:
    """Self-contained: no URL but the embedded data URIs and the SVG namespace."""
    import re

    text = page["html"].read_text(encoding="utf-8")
    urls = set(re.findall(r"(?:https?|ftp)://[^\s\"'<>)]+", text))
    assert urls <= {"http://www.w3.org/2000/svg"}
    assert not re.search(r"<(?:script|link|img)[^>]+(?:src|href)=\"(?!data:)", text)
