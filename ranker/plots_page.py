"""The page `dvc plots show` and `dvc plots diff` fill, with Vega inlined: it opens offline.

DVC's own page loads vega, vega-lite and vega-embed from a CDN, so offline or behind a
proxy it renders blank (`vegaEmbed is not defined`). `.dvc/config` points DVC at this page
instead (`plots.html_template`). Make writes it when it installs the environment, from
vl-convert's bundle of the three libraries (the Vega project's own build, about 0.9 MB), so
nothing is fetched when the page opens, and nothing generated is committed.

    python -m ranker.plots_page .dvc/plots.html
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ranker.files import atomic_path

# DVC's specs are Vega-Lite 5 (their "$schema"); compile them with the 5.x line.
VEGA_LITE = "5.21"

# DVC replaces {plot_divs} with one <div> and vegaEmbed() call per plot, and
# {refresh_tag} for `--open` auto-refresh; without a {scripts} placeholder it adds no
# <script src=...> of its own.
PAGE = """<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {refresh_tag}
    <title>DVC plots</title>
    <script>
%s
    </script>
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def page() -> str:
    import vl_convert

    bundle = vl_convert.javascript_bundle(vl_version=VEGA_LITE)
    # A literal "</script" inside the code would end the element early.
    bundle = bundle.replace("</script", "<\\/script")
    return PAGE % bundle


def write_page(path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(page(), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="where to write the page (.dvc/plots.html)")
    args = parser.parse_args(argv)
    write_page(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
