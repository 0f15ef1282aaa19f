"""A real headless browser (Debian's chromium) to open what the collection writes for people."""
import os
import shutil
import subprocess


def chromium():
    found = shutil.which("chromium")
    assert found, "chromium is not installed: run make setup"
    return found


def _run(url, *flags):
    # As root, chromium needs --no-sandbox; nothing else is loaded than the page itself.
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--window-size=1280,1600"] + list(flags) + [url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def rendered_dom(path):
    """The page's DOM after chromium rendered it."""
    result = _run("file://" + os.path.abspath(path), "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def screenshot(path, png_path):
    """A screenshot of the page, kept as a test artifact; returns its size in bytes."""
    os.makedirs(os.path.dirname(png_path), exist_ok=True)
    result = _run("file://" + os.path.abspath(path), "--screenshot=" + png_path)
    assert result.returncode == 0 and os.path.exists(png_path), result.stderr[-2000:]
    return os.path.getsize(png_path)
