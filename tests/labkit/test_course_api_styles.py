"""`lk.course()` lists module 13 (API styles) as ready, under the notebook's exact name."""

from __future__ import annotations

import labkit as lk


def test_module_13_is_api_styles_and_its_notebook_is_present() -> None:
    module = next(m for m in lk.course().modules if m.number == "13")
    assert module.slug == "api_styles"
    assert module.path.name == "13_api_styles.ipynb"
    assert module.available, f"{module.path} is missing"
