"""A very small Chrome DevTools Protocol client for headless Chromium (Debian's `/usr/bin/chromium`).

Enough for a page test: navigate and wait for the load event, evaluate JavaScript, type into inputs, put
files into a file input, click, and take a screenshot. Uses the `websockets` package's synchronous client;
Chromium is started with its own temporary profile and stopped (its process group) on exit.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class BrowserError(RuntimeError):
    """Chromium did not start, or a page command failed."""


class Browser:
    """`with Browser() as browser: browser.goto(url); browser.text("h1")`."""

    def __init__(self, width: int = 1280, height: int = 1000, timeout: float = 60.0) -> None:
        self.width, self.height, self.timeout = width, height, timeout
        self.profile = Path(tempfile.mkdtemp(prefix="hazy-chromium-"))
        self.process: Optional[subprocess.Popen] = None
        self.socket: Any = None
        self._next_id = 0
        self.events: List[Dict[str, Any]] = []

    # ---- lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> Browser:
        if CHROMIUM is None:
            raise BrowserError("chromium is not installed")
        argv = [
            CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--no-default-browser-check", "--remote-debugging-port=0",
            "--remote-allow-origins=*", f"--user-data-dir={self.profile}", f"--window-size={self.width},{self.height}",
            "about:blank",
        ]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                raise BrowserError("chromium did not open its DevTools port")
            time.sleep(0.2)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            pages = [target for target in json.loads(response.read()) if target["type"] == "page"]
        from websockets.sync.client import connect

        self._connection = connect(pages[0]["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024, open_timeout=20)
        self.socket = self._connection.__enter__()
        self.command("Page.enable")
        self.command("Runtime.enable")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self.socket is not None:
            self._connection.__exit__(None, None, None)
            self.socket = None
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.process.wait(timeout=10)
            self.process = None
        shutil.rmtree(self.profile, ignore_errors=True)

    # ---- protocol ----------------------------------------------------------------------------------
    def command(self, method: str, **params: Any) -> Dict[str, Any]:
        """Send one command and return its result (events that arrive meanwhile are kept)."""
        self._next_id += 1
        ident = self._next_id
        self.socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        while True:
            message = json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == ident:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for_event(self, method: str) -> Dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            for index, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(index)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserError(f"timed out waiting for {method}")
            self.events.append(json.loads(self.socket.recv(timeout=remaining)))

    # ---- page --------------------------------------------------------------------------------------
    def goto(self, url: str) -> None:
        """Navigate and wait for the load event."""
        self.events.clear()
        self.command("Page.navigate", url=url)
        self.wait_for_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (awaited when it is a promise)."""
        result = self.command("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait_until(self, expression: str, timeout: Optional[float] = None) -> Any:
        """Poll a JavaScript expression until it is truthy; return its value (true for an element)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            probe = f"(() => {{ const value = ({expression}); return value?.nodeType ? true : value; }})()"
            value = self.evaluate(probe)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for {expression} (url {self.url()})")
            time.sleep(0.25)

    def url(self) -> str:
        return self.evaluate("location.href")

    def text(self, selector: str) -> str:
        return self.evaluate(f"document.querySelector({json.dumps(selector)})?.innerText ?? ''")

    def type(self, selector: str, value: str) -> None:
        """Set an input's value the way a user would (React-controlled inputs see an input event)."""
        self.evaluate(
            f"""(() => {{ const input = document.querySelector({json.dumps(selector)});
            const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
            input.focus(); setter.call(input, {json.dumps(value)});
            input.dispatchEvent(new Event('input', {{bubbles: true}}));
            input.dispatchEvent(new Event('change', {{bubbles: true}})); return true; }})()"""
        )

    def set_files(self, selector: str, paths: List[str]) -> None:
        """Choose files in a file input."""
        root = self.command("DOM.getDocument", depth=-1)["root"]["nodeId"]
        node = self.command("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        if not node:
            raise BrowserError(f"no element {selector}")
        self.command("DOM.setFileInputFiles", nodeId=node, files=[str(path) for path in paths])

    def click(self, selector: str, navigates: bool = True) -> None:
        """Click an element; wait for the page it loads when `navigates`."""
        self.events.clear()
        self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")
        if navigates:
            self.wait_for_event("Page.loadEventFired")

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        """A PNG of the page (the whole page when `full_page`)."""
        params: Dict[str, Any] = {"format": "png"}
        if full_page:
            metrics = self.command("Page.getLayoutMetrics")["cssContentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": metrics["width"], "height": metrics["height"], "scale": 1}
            params["captureBeyondViewport"] = True
        data = self.command("Page.captureScreenshot", **params)["data"]
        path.write_bytes(base64.b64decode(data))
        return path
