"""GraphiQL works without internet, and the two documented commands never sudo on their own.

The GraphiQL page used to load React and GraphiQL from unpkg.com (offline: "Loading..." forever);
now every script and style comes from this server, pinned, and ships in the package. `make run`
used to run `sudo apt-get install ffmpeg` mid-run; now it only warns.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support import Api, make_settings, running_app
from watchparty.gql.graphiql import CONTENT_SECURITY_POLICY

ROOT = Path(__file__).resolve().parents[1]
HTML = {"accept": "text/html"}
JS = "text/javascript; charset=utf-8"
CSS = "text/css; charset=utf-8"

# The npm builds, byte for byte: the same sha384 as the unpkg URLs in Strawberry's template.
PINNED = {
    "react.production.min.js": (  # react@18.2.0
        JS,
        "sha384-tMH8h3BGESGckSAVGZ82T9n90ztNXxvdwvdM6UoR56cYcf+0iGXBliJ29D+wZ/x8",
    ),
    "react-dom.production.min.js": (  # react-dom@18.2.0
        JS,
        "sha384-bm7MnzvK++ykSwVJ2tynSE5TRdN+xL418osEVF2DE/L/gfWHj91J2Sphe582B1Bh",
    ),
    "graphiql.min.js": (  # graphiql@3.8.3
        JS,
        "sha384-HbRVEFG0JGJZeAHCJ9Xm2+tpknBQ7QZmNlO/DgZtkZ0aJSypT96YYGRNod99l9Ie",
    ),
    "graphiql.min.css": (
        CSS,
        "sha384-Mq3vbRBY71jfjQAt/DcjxUIYY33ksal4cgdRt9U/hNPvHBCaT2JfJ/PTRiPKf0aM",
    ),
    "plugin-explorer.umd.js": (  # @graphiql/plugin-explorer@1.0.2
        JS,
        "sha384-2oonKe47vfHIZnmB6ZZ10vl7T0Y+qrHQF2cmNTaFDuPshpKqpUMGMc9jgj9MLDZ9",
    ),
    "plugin-explorer.css": (
        CSS,
        "sha384-5DFJlDPW2tSATRbM8kzoP1j194jexLswuNmClWoRr2Q0x7R68JIQzPHZ02Faktwi",
    ),
}
OURS = {"watchparty-graphiql.js": JS, "watchparty-graphiql.css": CSS}


class _Page(HTMLParser):
    """The page's scripts, stylesheets and every URL-bearing attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str]] = []
        self.styles: list[dict[str, str]] = []
        self.urls: list[str] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.urls += [values[name] for name in ("src", "href") if name in values]
        if tag == "script":
            self._in_script = "src" not in values
            self.scripts.append(values)
        if tag == "link" and values.get("rel") == "stylesheet":
            self.styles.append(values)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1


def sri(content: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode()


async def test_graphiql_page_loads_only_assets_served_by_the_api(api_embedded: Api) -> None:
    response = await api_embedded.client.get("/graphql", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY
    assert "unpkg.com" not in response.text

    page = _Page()
    page.feed(response.text)
    assert page.inline_scripts == 0  # the CSP allows no inline script
    for url in page.urls:  # same origin, or the inline favicon: nothing from elsewhere
        assert url.startswith(("/graphiql-assets/", "data:image/svg+xml,")), url
    referenced = [(urlsplit(tag["src"]).path, tag["integrity"]) for tag in page.scripts] + [
        (urlsplit(tag["href"]).path, tag["integrity"]) for tag in page.styles
    ]
    names = [path.removeprefix("/graphiql-assets/") for path, _ in referenced]
    assert names == [
        "react.production.min.js",
        "react-dom.production.min.js",
        "graphiql.min.js",
        "plugin-explorer.umd.js",
        "watchparty-graphiql.js",
        "graphiql.min.css",
        "plugin-explorer.css",
        "watchparty-graphiql.css",
    ]

    total = 0
    for (path, integrity), name in zip(referenced, names, strict=True):
        asset = await api_embedded.client.get(path)
        assert asset.status_code == 200, path
        media_type = PINNED[name][0] if name in PINNED else OURS[name]
        assert asset.headers["content-type"] == media_type
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert sri(asset.content) == integrity  # what the page's SRI attribute says
        if name in PINNED:
            assert integrity == PINNED[name][1], f"{name} is not the pinned npm build"
        total += len(asset.content)
    assert total < 5_000_000  # about 4.1 MB, mostly graphiql.min.js


async def test_only_the_page_assets_are_served(api_embedded: Api) -> None:
    for path in (
        "/graphiql-assets/README.md",
        "/graphiql-assets/LICENSE-graphiql",
        "/graphiql-assets/../graphiql.py",
        "/graphiql-assets/%2e%2e/%2e%2e/config.py",
        "/graphiql-assets/",
    ):
        response = await api_embedded.client.get(path)
        assert response.status_code == 404, path


@pytest.fixture(scope="module")
async def api_without_ide(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    settings = make_settings(
        "embedded", database_url="", tmp=tmp_path_factory.mktemp("no-ide"), graphql_ide=False
    )
    async with running_app(settings) as client:
        yield client


async def test_without_the_ide_neither_page_nor_assets_are_served(api_without_ide: Api) -> None:
    page = await api_without_ide.client.get("/graphql", headers=HTML)
    assert page.status_code == 404
    asset = await api_without_ide.client.get("/graphiql-assets/graphiql.min.js")
    assert asset.status_code == 404


def test_the_assets_ship_in_the_package(tmp_path: Path) -> None:
    """setuptools' own build step (what a wheel is made of) copies the vendored files."""
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copy(ROOT / "README.md", source)
    shutil.copytree(
        ROOT / "watchparty", source / "watchparty", ignore=shutil.ignore_patterns("__pycache__")
    )
    build = tmp_path / "build"
    setup_py = "from setuptools import setup; setup()"
    subprocess.run(
        [sys.executable, "-c", setup_py, "-q", "build_py", "--build-lib", str(build)],
        cwd=source,
        check=True,
        capture_output=True,
    )
    shipped = {path.name for path in (build / "watchparty" / "static" / "graphiql").iterdir()}
    assert shipped >= {*PINNED, *OURS, "LICENSE-graphiql", "LICENSE-react", "README.md"}


# --- The two commands install nothing behind the developer's back --------------------------


def _fake_path(tmp: Path, *, uid: int) -> tuple[dict[str, str], Path]:
    """A PATH with no ffmpeg, where `sudo` and `apt-get` only record that they were called
    (apt-get "installs" ffmpeg), and `id -u` answers `uid`."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    calls = tmp / "calls"
    scripts = {
        "sudo": f'echo "sudo $*" >> {calls}\n',
        "apt-get": (
            f'echo "apt-get $*" >> {calls}\n'
            f'case "$*" in *install*) for c in ffmpeg ffprobe; do printf "#!/bin/sh\\n" '
            f"> {bin_dir}/$c; /bin/chmod +x {bin_dir}/$c; done;; esac\n"
        ),
        "id": f"echo {uid}\n",
    }
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/bash\n{body}")
        path.chmod(0o755)
    env = {"PATH": str(bin_dir), "HOME": str(tmp)}
    return env, calls


def _ensure_ffmpeg(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", str(ROOT / ".ci" / "ensure-ffmpeg"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_make_run_only_warns_about_a_missing_ffmpeg(tmp_path: Path) -> None:
    env, calls = _fake_path(tmp_path, uid=1000)
    result = _ensure_ffmpeg(env, "--check")
    assert result.returncode == 1
    assert "uploaded videos cannot be processed" in result.stderr
    assert "To install: sudo apt-get install ffmpeg" in result.stderr
    assert not calls.exists()  # neither sudo nor apt-get ran

    makefile = (ROOT / "Makefile").read_text()
    run_recipe = re.search(r"^run:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert run_recipe is not None
    assert "@bash .ci/ensure-ffmpeg --check || true" in run_recipe.group(1)
    # sudo appears only inside messages, never as a command a recipe runs.
    assert not re.search(r"(^\t[@-]*|[;&|{]\s*)sudo\b", makefile, re.MULTILINE)


def test_make_test_as_a_user_names_the_command_instead_of_sudo(tmp_path: Path) -> None:
    env, calls = _fake_path(tmp_path, uid=1000)
    result = _ensure_ffmpeg(env)
    assert result.returncode == 1
    assert "Run: sudo apt-get install ffmpeg" in result.stderr
    assert not calls.exists()


def test_make_test_as_root_installs_ffmpeg_with_apt_get(tmp_path: Path) -> None:
    """CI (.ci/run) runs as root and relies on this."""
    env, calls = _fake_path(tmp_path, uid=0)
    result = _ensure_ffmpeg(env)
    assert result.returncode == 0, result.stderr
    assert calls.read_text().splitlines() == [
        "apt-get update -qq",
        "apt-get install -y -qq --no-install-recommends ffmpeg",
    ]
    assert os.access(Path(env["PATH"]) / "ffprobe", os.X_OK)
